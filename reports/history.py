"""History review (历史会话): the session search, the transcript of one session, the order panel as it was,
and quality reviews (质检).

Search: every filter is optional and they combine (AND). Words in the transcript are a substring match on
the messages' text (``icontains``); Chinese needs no word boundaries. On PostgreSQL a trigram index
(``pg_trgm``, GIN, made by ``reports`` migration 0002) serves it for words of 3 characters or more; shorter
ones and SQLite scan the shop's messages of the matching sessions: the same results either way. The buyer
filter matches a part of the nickname or an order number of the buyer exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Forbidden, Invalid
from backoffice.models import Order, OrderStatus, StaffAccount
from reports import filters, insight, kpis
from reports.access import Viewer, visible_sessions
from reports.models import QualityReview, QualityTag
from routing.models import (
    Conversation,
    Message,
    ReplyDelay,
    RoutingDecision,
    SenderKind,
    Transfer,
)

PAGE_SIZE = 20
KINDS = ("robot", "human")
ENDED_BY = ("agent", "buyer", "auto")
RATINGS = ("1", "2", "3", "4", "5", "none")
MAX_COMMENT = 500


@dataclass(frozen=True)
class Search:
    """The parsed search form (the page shows it back)."""

    period: filters.Period
    agent: StaffAccount | None
    group_id: int | None
    buyer: str
    words: str
    rating: str
    kind: str
    transferred: bool
    ended_by: str
    slow: bool
    topic: str = ""

    def query_string(self) -> str:
        params = QueryDict(mutable=True)
        params.update(
            {
                "from": self.period.first.isoformat(),
                "to": self.period.last.isoformat(),
                "agent": str(self.agent.pk) if self.agent else "",
                "group": str(self.group_id or ""),
                "buyer": self.buyer,
                "q": self.words,
                "rating": self.rating,
                "kind": self.kind,
                "transferred": "1" if self.transferred else "",
                "ended_by": self.ended_by,
                "slow": "1" if self.slow else "",
                "topic": self.topic,
            }
        )
        return params.urlencode()


def parse(params: QueryDict, viewer: Viewer) -> Search:
    group = filters.group(params, viewer)
    return Search(
        period=filters.period(params, viewer),
        agent=filters.agent(params, viewer),
        group_id=group.pk if group else None,
        buyer=filters.text(params, "buyer"),
        words=filters.text(params, "q"),
        rating=filters.choice(params, "rating", RATINGS),
        kind=filters.choice(params, "kind", KINDS),
        transferred=filters.choice(params, "transferred", ("1",)) == "1",
        ended_by=filters.choice(params, "ended_by", ENDED_BY),
        slow=filters.choice(params, "slow", ("1",)) == "1",
        topic=insight.check_topic(filters.text(params, "topic", 60)),
    )


def search(viewer: Viewer, form: Search) -> QuerySet[Conversation]:
    """The sessions matching the form, newest first, with what the result list shows (one query)."""
    start, end = kpis.day_bounds(viewer.shop, form.period.first, form.period.last)
    slow = ReplyDelay.objects.filter(conversation=OuterRef("pk"), seconds__gt=kpis.SLOW_SECONDS)
    found: QuerySet[Conversation] = (
        visible_sessions(viewer)
        .filter(created_at__gte=start, created_at__lt=end)
        .annotate(
            has_slow=Exists(slow),
            was_transferred=Exists(Transfer.objects.filter(conversation=OuterRef("pk"))),
        )
    )
    found = found.filter(_who(viewer, form), _outcome(form))
    if form.words:
        found = found.filter(
            Exists(Message.objects.filter(conversation=OuterRef("pk"), text__icontains=form.words))
        )
    if form.topic:
        found = insight.filter_topic(found, form.topic)
    return found.select_related("buyer", "agent", "group", "rating").order_by("-created_at", "-pk")


def _who(viewer: Viewer, form: Search) -> Q:
    """The agent, group and buyer filters."""
    where = Q()
    if form.agent is not None:
        where &= Q(agent=form.agent)
    if form.group_id is not None:
        where &= Q(group_id=form.group_id)
    if form.buyer:
        numbers = Order.objects.filter(shop=viewer.shop, number=form.buyer).values("buyer_id")
        where &= Q(buyer__nickname__icontains=form.buyer) | Q(buyer_id__in=numbers)
    return where


def _outcome(form: Search) -> Q:
    """The rating, robot-or-human, transfer, end and slow-answer filters."""
    where = Q()
    if form.rating == "none":
        where &= Q(rating__isnull=True)
    elif form.rating:
        where &= Q(rating__stars=int(form.rating))
    if form.kind:
        where &= Q(agent__isnull=form.kind == "robot")
    if form.transferred:
        where &= Q(was_transferred=True)
    if form.ended_by:
        where &= Q(end_reason=form.ended_by)
    if form.slow:
        where &= Q(has_slow=True)
    return where


def export_rows(sessions: QuerySet[Conversation], zone: tzinfo) -> list[list[str]]:
    """The search result as a table (header first) for CSV and XLSX; times in the shop's zone."""
    rows = [
        [
            _("Session"),
            _("Started"),
            _("Ended"),
            _("Buyer"),
            _("Agent"),
            _("Group"),
            _("How it ended"),
            _("Rating"),
            _("First response (s)"),
            _("Transferred"),
            _("Slower than 3 minutes"),
        ]
    ]
    for conv in sessions:
        rating = getattr(conv, "rating", None)
        rows.append(
            [
                str(conv.pk),
                _local(conv.created_at, zone),
                _local(conv.ended_at, zone),
                conv.buyer.nickname,
                conv.agent.display_name if conv.agent else _("Robot only"),
                conv.group.name if conv.group else "",
                conv.get_end_reason_display() if conv.end_reason else conv.get_state_display(),
                str(rating.stars) if rating else "",
                f"{conv.first_response_seconds:.0f}" if conv.first_response_seconds is not None else "",
                _("yes") if getattr(conv, "was_transferred", False) else "",
                _("yes") if getattr(conv, "has_slow", False) else "",
            ]
        )
    return rows


def _local(moment: datetime | None, zone: tzinfo) -> str:
    return timezone.localtime(moment, zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


# --- one session --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A transcript line: the message, and for an agent's reply that answered a round, its delay."""

    message: Message
    delay: float | None

    @property
    def slow(self) -> bool:
        return self.delay is not None and self.delay > kpis.SLOW_SECONDS


def transcript(conv: Conversation) -> list[Line]:
    """Every message in order; each stored reply delay is shown on the agent message it timed (the first
    message of that agent at or after the delay's reply time)."""
    messages = list(Message.objects.filter(conversation=conv).select_related("agent").order_by("seq"))
    delays = list(ReplyDelay.objects.filter(conversation=conv).order_by("replied_at", "pk"))
    by_message: dict[int, float] = {}
    for delay in delays:
        for message in messages:
            if (
                message.sender == SenderKind.AGENT
                and message.agent_id == delay.agent_id
                and message.pk not in by_message
                and message.created_at >= delay.replied_at
            ):
                by_message[message.pk] = delay.seconds
                break
    return [Line(message, by_message.get(message.pk)) for message in messages]


def trace(conv: Conversation) -> list[dict[str, Any]]:
    """The routing decisions (why this agent), with the candidates' names, in order."""
    decisions = list(
        RoutingDecision.objects.filter(conversation=conv).select_related("winner", "group").order_by("pk")
    )
    ids = {c[0] for d in decisions for c in d.candidates}
    names = dict(
        StaffAccount.objects.filter(shop_id=conv.shop_id, pk__in=ids).values_list("pk", "display_name")
    )
    return [{"decision": d, "candidates": d.candidate_details(names)} for d in decisions]


def transfers(conv: Conversation) -> list[Transfer]:
    return list(
        Transfer.objects.filter(conversation=conv)
        .select_related("from_agent", "to_agent", "by")
        .order_by("pk")
    )


@dataclass(frozen=True)
class OrderThen:
    """An order of the buyer as it stood when the session started: its status then, from its recorded
    times (paid, shipped, delivered), and its status now."""

    order: Order
    status_then: str


def status_at(order: Order, moment: datetime) -> str:
    if order.delivered_at and order.delivered_at <= moment:
        return str(OrderStatus.DELIVERED.label)
    if order.shipped_at and order.shipped_at <= moment:
        return str(OrderStatus.SHIPPED.label)
    if order.paid_at and order.paid_at <= moment:
        return str(OrderStatus.TO_SHIP.label)
    return str(OrderStatus.UNPAID.label)


def orders_then(conv: Conversation) -> list[OrderThen]:
    """The buyer's orders placed before the session started, newest first, as they stood then."""
    orders = Order.objects.filter(
        shop_id=conv.shop_id, buyer_id=conv.buyer_id, created_at__lte=conv.created_at
    )
    return [
        OrderThen(order, status_at(order, conv.created_at)) for order in orders.order_by("-created_at")[:10]
    ]


# --- quality reviews ----------------------------------------------------------------------------------------


def reviews(viewer: Viewer, conv: Conversation) -> list[QualityReview]:
    """The session's reviews: a supervisor sees all; the agent, those of their own session (the page
    fetched it through ``session_or_404``, so it is theirs)."""
    return list(QualityReview.objects.filter(conversation=conv).select_related("reviewer").order_by("-pk"))


def check_review(viewer: Viewer, conv: Conversation, data: QueryDict) -> tuple[int, list[str], str]:
    """Only an account with the report right reviews; a score of 1 to 100, known tags, a comment of at
    most 500 characters."""
    if not viewer.whole_shop:
        raise Forbidden(_("Only supervisors review sessions."))
    score = filters.text(data, "score", 3)
    if not score.isdigit() or not 1 <= int(score) <= 100:
        raise Invalid(_("The score is a number from 1 to 100."))
    tags = data.getlist("tags")
    if any(tag not in QualityTag.values for tag in tags) or len(tags) > len(QualityTag.values):
        raise Invalid(_("Unknown tag."))
    comment = filters.text(data, "comment", MAX_COMMENT)
    return int(score), sorted(set(tags)), comment


def save_review(*, viewer: Viewer, conversation: Conversation, data: QueryDict) -> QualityReview:
    """A supervisor's review of a session (one per reviewer: a second one replaces the first)."""
    score, tags, comment = check_review(viewer, conversation, data)
    with transaction.atomic():
        review, _created = QualityReview.objects.update_or_create(
            conversation=conversation,
            reviewer=viewer.staff,
            defaults={"score": score, "tags": tags, "comment": comment, "agent_id": conversation.agent_id},
        )
    return review
