"""Consultation insight (服务洞察): what buyers came about in a period, each topic linking to its sessions.

A session's topic is its intent (the robot's, or the one the buyer's entry carried), else the state of the
buyer's latest order placed before the session started, as it stood then (from the order's paid, shipped and
delivered times), else "no order". ``with_topic`` computes it in the database, so the history search filters
on the same definition (``topic=intent:退货`` / ``topic=order:shipped``).

The robot's unanswered questions are the robot app's records (``robot.models.UnansweredGroup``: the
questions it could not answer, grouped by similarity); a group's topic ``unanswered:<group id>`` lists the
sessions in which one of its questions was asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Case, CharField, Count, Exists, F, OuterRef, QuerySet, Subquery, Value, When
from django.utils.translation import gettext as _

from backoffice.errors import Invalid
from backoffice.models import Order, OrderStatus, Shop
from reports import filters, kpis
from robot.models import UnansweredQuestion
from routing.models import Conversation

TOP = 10
NO_ORDER = "none"


def with_topic(sessions: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The sessions annotated with ``order_state`` (their buyer's latest earlier order's state then)."""
    latest = Order.objects.filter(
        buyer=OuterRef("buyer_id"), created_at__lte=OuterRef("created_at")
    ).order_by("-created_at", "-pk")
    return sessions.annotate(
        o_exists=Exists(latest),
        o_paid=Subquery(latest.values("paid_at")[:1]),
        o_shipped=Subquery(latest.values("shipped_at")[:1]),
        o_delivered=Subquery(latest.values("delivered_at")[:1]),
    ).annotate(
        order_state=Case(
            When(o_exists=False, then=Value(NO_ORDER)),
            When(o_delivered__lte=F("created_at"), then=Value(OrderStatus.DELIVERED.value)),
            When(o_shipped__lte=F("created_at"), then=Value(OrderStatus.SHIPPED.value)),
            When(o_paid__lte=F("created_at"), then=Value(OrderStatus.TO_SHIP.value)),
            default=Value(OrderStatus.UNPAID.value),
            output_field=CharField(),
        )
    )


def filter_topic(sessions: QuerySet[Conversation], topic: str) -> QuerySet[Conversation]:
    kind, _sep, value = topic.partition(":")
    if kind == "intent" and value:
        return sessions.filter(intent=value)
    if kind == "unanswered":
        asked = UnansweredQuestion.objects.filter(group_id=int(value)).values("message__conversation_id")
        return sessions.filter(pk__in=asked)
    return with_topic(sessions.filter(intent="")).filter(**{"order_state": value})


def check_topic(topic: str) -> str:
    kind, _sep, value = topic.partition(":")
    states = {*OrderStatus.values, NO_ORDER}
    unanswered = kind == "unanswered" and value.isascii() and value.isdigit() and 0 < len(value) <= 18
    if topic and not (
        (kind == "intent" and 0 < len(value) <= 50) or (kind == "order" and value in states) or unanswered
    ):
        raise Invalid(_("Unknown topic."))
    return topic


@dataclass(frozen=True)
class Topic:
    topic: str  # the history search's ``topic`` value
    label: str
    sessions: int


def top_intents(shop: Shop, period: filters.Period) -> list[Topic]:
    """The most frequent topics of the sessions that started in the period (two grouped counts)."""
    start, end = kpis.day_bounds(shop, period.first, period.last)
    sessions = Conversation.objects.for_shop(shop).filter(created_at__gte=start, created_at__lt=end)
    found = [
        Topic(f"intent:{row['intent']}", row["intent"], row["n"])
        for row in sessions.exclude(intent="").values("intent").annotate(n=Count("pk")).order_by("-n")[:TOP]
    ]
    labels: dict[str, Any] = dict(OrderStatus.choices) | {NO_ORDER: _("No order")}
    states = (
        with_topic(sessions.filter(intent="")).values(*["order_state"]).annotate(n=Count("pk")).order_by("-n")
    )
    found += [
        Topic(
            f"order:{row['order_state']}",
            _("Order: %(state)s") % {"state": labels[row["order_state"]]},
            row["n"],
        )
        for row in states[:TOP]
    ]
    return sorted(found, key=lambda t: -t.sessions)[:TOP]


def unanswered_questions(shop: Shop, period: filters.Period) -> list[Topic]:
    """The robot's most frequent unanswered questions of the period: its groups of similar questions by the
    questions asked in the period (one grouped count), ``TOP`` of them, each linking to the sessions in which
    one was asked."""
    start, end = kpis.day_bounds(shop, period.first, period.last)
    rows = (
        UnansweredQuestion.objects.for_shop(shop)
        .filter(asked_at__gte=start, asked_at__lt=end)
        .values("group_id", "group__text")
        .annotate(n=Count("message__conversation_id", distinct=True))
        .order_by("-n", "group_id")[:TOP]
    )
    return [Topic(f"unanswered:{row['group_id']}", row["group__text"], row["n"]) for row in rows]
