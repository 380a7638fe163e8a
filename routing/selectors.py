"""Reads for the chat pages and their API: the agent's sessions with reply timer, unread count and the last
message, the buyer panel, colleagues to transfer to, product search. Nothing here writes.

Every list is one query whatever its length (the workbench must stay cheap with 50 open chats): the unread
count and the last message are correlated subqueries, not a query per chat.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice.models import AddressChange, Order, Product, Shop, StaffAccount
from routing.models import AgentState, Conversation, ConversationState, Message, SenderKind, Transfer
from routing.services import HISTORY_REPLY_WINDOW

HISTORY_LIMIT = 100
PRODUCT_SEARCH_LIMIT = 20


def _with_session_fields(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate ``last_agent_seq``, ``unread`` (buyer messages after the agent's last reply), and the last
    message's text, sender and time."""
    last_agent_seq = Subquery(
        Message.objects.filter(conversation=OuterRef("pk"), sender=SenderKind.AGENT)
        .order_by("-seq")
        .values("seq")[:1],
        output_field=IntegerField(),
    )
    unread = Subquery(
        Message.objects.filter(
            conversation=OuterRef("pk"), sender=SenderKind.BUYER, seq__gt=OuterRef("last_agent_seq")
        )
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )
    last = Message.objects.filter(conversation=OuterRef("pk")).order_by("-seq")
    return (
        qs.select_related("buyer", "agent")
        .annotate(last_agent_seq=Coalesce(last_agent_seq, Value(0)))
        .annotate(
            unread=Coalesce(unread, Value(0)),
            last_text=Subquery(last.values("text")[:1]),
            last_sender=Subquery(last.values("sender")[:1]),
            last_kind=Subquery(last.values("card__kind")[:1]),
            last_at=Subquery(last.values("created_at")[:1]),
        )
    )


def active_sessions(staff: StaffAccount) -> QuerySet[Conversation]:
    """The agent's chats in progress, in the order they were assigned (a stable list to move through), then
    the message-pool chats the account holds (the service assistant's or owner's), oldest first."""
    qs = Conversation.objects.for_shop(staff.shop).filter(
        agent=staff, state__in=[ConversationState.ACTIVE, ConversationState.POOL]
    )
    return _with_session_fields(qs).order_by(F("assigned_at").asc(nulls_last=True), "queued_at", "pk")


def history_sessions(staff: StaffAccount) -> QuerySet[Conversation]:
    """The agent's past chats of the last 72 hours, newest first: the ones they ended or that ended with
    them (still repliable), and the ones they served and transferred away (read only: a colleague's now,
    ended or not), ordered by the end, else by the agent's last transfer of it. A chat that came back to
    the agent and is in progress is a session, not history."""
    since = timezone.now() - HISTORY_REPLY_WINDOW
    my_transfers = Transfer.objects.filter(from_agent=staff)
    transferred_at = Subquery(
        my_transfers.filter(conversation=OuterRef("pk")).order_by("-created_at").values("created_at")[:1],
        output_field=DateTimeField(),
    )
    ended_with_me = Q(agent=staff, state=ConversationState.ENDED, ended_at__gte=since)
    handed_on = Q(pk__in=my_transfers.filter(created_at__gte=since).values("conversation_id")) & ~Q(
        agent=staff, state__in=[ConversationState.ACTIVE, ConversationState.POOL]
    )
    qs = (
        Conversation.objects.for_shop(staff.shop)
        .filter(ended_with_me | handed_on)
        .annotate(transferred_at=transferred_at)
    )
    return _with_session_fields(qs).order_by(Coalesce("ended_at", "transferred_at").desc(), "-pk")[
        :HISTORY_LIMIT
    ]


def session_row(conv: Conversation) -> dict[str, Any]:
    """What the workbench needs of one session (the page's initial JSON and ``GET /conversations``)."""
    ended_at = conv.ended_at
    return {
        "id": conv.pk,
        "state": conv.state,
        "buyer_id": conv.buyer_id,
        "buyer_name": conv.buyer.nickname,
        "agent_id": conv.agent_id,
        "agent_name": conv.agent.display_name if conv.agent_id and conv.agent else None,
        "proactive": conv.proactive,
        "assigned_at": conv.assigned_at,
        "waiting_since": conv.waiting_since,
        "ended_at": ended_at,
        "repliable_until": ended_at + HISTORY_REPLY_WINDOW if ended_at else None,
        "last_seq": conv.last_seq,
        "unread": getattr(conv, "unread", 0),
        "last_text": getattr(conv, "last_text", None) or "",
        "last_sender": getattr(conv, "last_sender", None) or "",
        "last_kind": getattr(conv, "last_kind", None) or "",
        "last_at": getattr(conv, "last_at", None),
    }


def transcript(conv: Conversation, *, after: int = 0, limit: int = 500) -> QuerySet[Message]:
    """Messages of a conversation after ``after`` in sequence order."""
    return (
        Message.objects.filter(conversation=conv, seq__gt=after)
        .select_related("agent")
        .order_by("seq")[:limit]
    )


def colleagues(staff: StaffAccount) -> list[dict[str, Any]]:
    """Other active accounts of the shop that can chat, with their presence (transfer targets). Their
    reception limits are not shown: an agent may not see another agent's limit."""
    accounts = (
        StaffAccount.objects.for_shop(staff.shop)
        .filter(is_active=True, im_enabled=True)
        .exclude(pk=staff.pk)
        .order_by("display_name", "pk")
    )
    status = dict(AgentState.objects.filter(staff__in=accounts).values_list("staff_id", "status"))
    return [
        {"id": a.pk, "name": a.display_name, "status": status.get(a.pk, "offline")}
        for a in accounts.only("pk", "display_name")
    ]


def search_products(staff: StaffAccount, query: str) -> QuerySet[Product]:
    """The shop's products whose title, category or platform id contains ``query`` (newest first)."""
    qs = Product.objects.for_shop(staff.shop)
    query = query.strip()
    if query:
        qs = qs.filter(
            Q(title__icontains=query) | Q(category__icontains=query) | Q(platform_id__iexact=query)
        )
    return qs.order_by("-updated_at", "-pk")[:PRODUCT_SEARCH_LIMIT]


def buyer_orders(conv: Conversation) -> QuerySet[Order]:
    """All of the buyer's orders in the conversation's shop, newest first, with items and address changes."""
    return (
        Order.objects.filter(shop_id=conv.shop_id, buyer_id=conv.buyer_id)
        .select_related("late_shipment")  # the late-shipment voucher owed (backoffice/operations)
        .order_by("-created_at", "-pk")
        .prefetch_related(
            "items",
            Prefetch("address_changes", queryset=AddressChange.objects.order_by("-changed_at", "-pk")),
            "after_sales",  # the after-sale requests with their guide and actions (backoffice/operations)
        )
    )


TAG_CHOICES_LIMIT = 500

# The distinct (tag, value) pairs of a shop's buyers, read in the database: a shop has many buyers and few
# tag values. Buyer tags are a JSON object of strings (the integration API's schema).
_BUYER_TAGS_SQL = {
    "postgresql": "SELECT DISTINCT t.key, t.value FROM backoffice_buyer b "
    "CROSS JOIN LATERAL jsonb_each_text(b.tags) AS t(key, value) "
    "WHERE b.shop_id = %s AND jsonb_typeof(b.tags) = 'object' ORDER BY 1, 2 LIMIT %s",
    "sqlite": "SELECT DISTINCT t.key, t.value FROM backoffice_buyer b, json_each(b.tags) AS t "
    "WHERE b.shop_id = %s AND json_type(b.tags) = 'object' ORDER BY 1, 2 LIMIT %s",
}


def buyer_tag_values(shop: Shop, limit: int = TAG_CHOICES_LIMIT) -> dict[str, list[str]]:
    """Each tag the shop's buyers carry, with its values (sorted; at most ``limit`` pairs in all): what a
    group's crowd scope can choose from."""
    with connection.cursor() as cursor:
        cursor.execute(_BUYER_TAGS_SQL[connection.vendor], [shop.pk, limit])
        rows = cursor.fetchall()
    tags: dict[str, list[str]] = {}
    for key, value in rows:
        tags.setdefault(str(key), []).append(str(value))
    return tags
