"""The queue as buyers and agents see it: its order, a chat's position and wait estimate, and the queue
events. Reads only; the writers are in ``drain`` (serving it) and ``arrivals`` (joining it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from backoffice.models import Shop
from routing import events
from routing.models import Conversation, ConversationState, QueueOrder, RoutingSettings
from routing.services.rules import Candidate, routable
from routing.services.seats import load_agents, routing_settings

DEFAULT_HANDLE_SECONDS = 300.0
QUEUE_UPDATES = 200


def queue_in_order(shop: Shop, settings: RoutingSettings | None = None) -> QuerySet[Conversation]:
    """Queued chats of the shop in the order they are served: new buyers first, then FIFO or LIFO."""
    settings = settings or routing_settings(shop)
    order = "queued_at" if settings.queue_order == QueueOrder.FIFO else "-queued_at"
    return (
        Conversation.objects.for_shop(shop)
        .filter(state=ConversationState.QUEUED)
        .order_by("-priority", order, "pk")
    )


def pool_in_order(shop: Shop) -> QuerySet[Conversation]:
    """The shop's message-pool chats, oldest first (the order they are handed out)."""
    return (
        Conversation.objects.for_shop(shop).filter(state=ConversationState.POOL).order_by("queued_at", "pk")
    )


def wait_estimator(
    shop: Shop, agents: dict[int, Candidate] | None = None
) -> Callable[[int, int | None], int]:
    """position, group -> seconds: the chats ahead are served in parallel by the group's online agents, each
    taking the shop's average session length of the last 7 days (5 minutes until measured). ``agents``: the
    shop's agents when the caller has them already (a router)."""
    agents = agents if agents is not None else load_agents(shop.pk)
    recent = (
        Conversation.objects.for_shop(shop)
        .filter(
            state=ConversationState.ENDED,
            assigned_at__isnull=False,
            ended_at__gte=timezone.now() - timedelta(days=7),
        )
        .order_by("-ended_at")
        .values_list("assigned_at", "ended_at")[:200]
    )
    lengths = [(ended - assigned).total_seconds() for assigned, ended in recent if assigned and ended]
    handle = sum(lengths) / len(lengths) if lengths else DEFAULT_HANDLE_SECONDS

    def estimate(position: int, group_id: int | None) -> int:
        group_ids = {group_id} if group_id else None
        serving = max(1, len(routable(agents, group_ids=group_ids, include_owner=True)))
        return int(-(-position // serving) * handle)

    return estimate


def queue_position(conversation: Conversation) -> tuple[int, int]:
    """(position from 1 in its group's queue, wait estimate in seconds); (0, 0) when not queued."""
    shop = conversation.shop
    ids = list(queue_in_order(shop).filter(group_id=conversation.group_id).values_list("pk", flat=True))
    if conversation.pk not in ids:
        return 0, 0
    position = ids.index(conversation.pk) + 1
    return position, wait_estimator(shop)(position, conversation.group_id)


def queue_updates(
    shop_id: int,
    *,
    joined: set[int] | None = None,
    settings: RoutingSettings | None = None,
    agents: dict[int, Candidate] | None = None,
) -> list[tuple[str, events.Event]]:
    """Queue events: the shop's agents learn its length; buyers learn their position and estimate. When
    chats ``joined`` the queue, only they are told (the others' places are told when the queue moves); when
    it moved forward (``joined`` None), the first 200 queued buyers are told their new place (those further
    back learn theirs when they connect or move up)."""
    shop = Shop(pk=shop_id)
    queue = queue_in_order(shop, settings).values_list("pk", "buyer_id", "group_id")
    rows = list(queue if joined is not None else queue[:QUEUE_UPDATES])
    count = len(rows) if joined is not None or len(rows) < QUEUE_UPDATES else queue.count()
    sends: list[tuple[str, events.Event]] = [
        (events.shop_agents_group(shop_id), events.QueueChanged(queued=count))
    ]
    if rows:
        estimate = wait_estimator(shop, agents)
        positions: dict[int | None, int] = {}
        for pk, buyer_id, group_id in rows:
            positions[group_id] = position = positions.get(group_id, 0) + 1
            if joined is None or pk in joined:
                event = events.Queued(
                    conversation=pk, position=position, wait_seconds=estimate(position, group_id)
                )
                sends.append(events.to_buyer(buyer_id, event))
    return sends
