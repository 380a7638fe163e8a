"""Arrivals: a buyer handed to a human (by the buyer's request, or by the robot's reception hook) is recorded
as an arrival and routed, with the shop's other waiting arrivals, in one batch (group commit); a chat whose
agent went offline comes back as an arrival; a beat task routes what a dead process left waiting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Now
from django.utils import timezone

from backoffice.models import Buyer, Order, Product, Shop
from routing.models import (
    AgentGroup,
    ArrivalReason,
    Conversation,
    ConversationState,
    DecisionOutcome,
    DecisionRule,
    OfflineMode,
    RoutingDecision,
    RoutingSettings,
)
from routing.services.batch import assign, decision, write_batch
from routing.services.drain import ROUTING_BATCH, drain_queue, pool_holder
from routing.services.rules import (
    BuyerContext,
    Candidate,
    GroupRule,
    Pick,
    decision_rule,
    pick_agent,
    pool_of,
    select_groups,
    spread_evenly,
)
from routing.services.seats import (
    load_agents,
    lock_routing_settings,
    locked_open_conversation,
    release_seats,
)

RETURNING_BUYER_WINDOW = timedelta(hours=72)
NEW_BUYER_FIRST_PAYMENT_WINDOW = timedelta(days=180)
STRANDED_AFTER = timedelta(seconds=30)  # the default of settings.ROUTING_STRANDED_SECONDS


@dataclass(frozen=True)
class Arrival:
    """A buyer handed to a human: the product page they came from (routing's product scope), their intent
    (the intent scope: the robot's reading of the whole conversation) and why."""

    buyer: Buyer
    source_product: Product | None = None
    intent: str = ""
    reason: ArrivalReason = ArrivalReason.BUYER_ASKED


# --- what routing reads about the buyers of a batch --------------------------------------------------------


def _new_buyers(buyers: list[Buyer], now: datetime) -> set[int]:
    """新客: one purchase in the last 30 days and a first payment within 180 days."""
    recent = [
        b.pk for b in buyers if b.first_paid_at and b.first_paid_at >= now - NEW_BUYER_FIRST_PAYMENT_WINDOW
    ]
    if not recent:
        return set()
    paid = (
        Order.objects.filter(buyer_id__in=recent, paid_at__gte=now - timedelta(days=30))
        .order_by()
        .values("buyer_id")
        .annotate(n=Count("pk"))
        .values_list("buyer_id", "n")
    )
    return {buyer_id for buyer_id, n in paid if n == 1}


def takes_priority_entry(buyer: Buyer) -> bool:
    """新客优先进线: the buyer is a new buyer (``_new_buyers``) and the shop turned the priority entry on.
    Such a buyer skips the robot (the robot's receiver asks this) and is served before the others."""
    if not RoutingSettings.objects.filter(shop_id=buyer.shop_id, new_buyer_priority=True).exists():
        return False
    return buyer.pk in _new_buyers([buyer], timezone.now())


def _latest_order_states(buyer_ids: list[int]) -> dict[int, str]:
    rows = Order.objects.filter(buyer_id__in=buyer_ids).order_by("buyer_id", "-created_at")
    latest: dict[int, str] = {}
    for buyer_id, status in rows.values_list("buyer_id", "status"):
        latest.setdefault(buyer_id, status)
    return latest


def _returning_agents(convs: list[Conversation], now: datetime) -> dict[int, int]:
    """Per buyer, the human agent they talked to in the last 72 h (the most recent assignment)."""
    rows = (
        Conversation.objects.filter(
            buyer_id__in=[c.buyer_id for c in convs], agent__isnull=False, assigned_at__isnull=False
        )
        .exclude(pk__in=[c.pk for c in convs])
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=now - RETURNING_BUYER_WINDOW))
        .exclude(state=ConversationState.POOL)
        .order_by("buyer_id", "-assigned_at")
        .values_list("buyer_id", "agent_id")
    )
    agents: dict[int, int] = {}
    for buyer_id, agent_id in rows:
        if agent_id is not None:
            agents.setdefault(buyer_id, agent_id)
    return agents


# --- the pipeline ------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    """What a routing batch reads once for all its conversations (agents locked, their loads counted in
    memory as the batch hands out seats)."""

    shop_id: int
    settings: RoutingSettings
    now: datetime
    agents: dict[int, Candidate]
    groups: list[AgentGroup]
    scopes: dict[int, set[int]]
    returning: dict[int, int]
    new_buyers: set[int]
    order_states: dict[int, str]
    holder_id: int | None = None

    @property
    def include_owner(self) -> bool:
        return bool(self.groups) or self.settings.owner_routes_in_simple_mode


def route_batch(shop_id: int, settings: RoutingSettings, convs: list[Conversation]) -> list[RoutingDecision]:
    """The routing pipeline for conversations locked by the caller, who also holds the settings lock.

    1 returning buyer (online agent of the last 72 h, even when full) -> 2 new-buyer priority ->
    3 group selection -> 4 agent selection (lowest load / (limit x weight)) -> 5 queue (or no-queue mode),
    also when nobody is online but some are busy -> 6 everyone offline: the offline-routing list, else the
    shop's offline mode (queue until someone comes online, or the message pool).

    The shop's agent rows are locked and their loads read once; each decision updates the loads in memory,
    so the next one in the batch sees the seats already taken, and the batch writes conversations, loads
    and traces in one statement each.
    """
    now = timezone.now()
    groups = list(AgentGroup.objects.filter(shop_id=shop_id).prefetch_related("products"))
    buyers = [c.buyer for c in convs]
    batch = _Batch(
        shop_id=shop_id,
        settings=settings,
        now=now,
        agents=load_agents(shop_id, lock=True),
        groups=groups,
        scopes={g.pk: {p.pk for p in g.products.all()} for g in groups},
        returning=_returning_agents(convs, now),
        new_buyers=_new_buyers(buyers, now) if settings.new_buyer_priority else set(),
        order_states=_latest_order_states([b.pk for b in buyers]) if groups else {},
    )
    before = {a.staff_id: a.load for a in batch.agents.values()}
    decisions = [
        _route_one(batch, conv)
        for conv in sorted(convs, key=lambda c: (c.buyer_id not in batch.new_buyers, c.pk))
    ]
    write_batch(shop_id, settings, convs, batch.agents, before, decisions)
    return decisions


def _route_one(batch: _Batch, conv: Conversation) -> RoutingDecision:
    """Steps 1-6 for one conversation: its decision, with the conversation's fields and the loads set."""
    note = ""
    back = batch.agents.get(batch.returning.get(conv.buyer_id, 0))
    if back is not None:
        if back.routable:
            back.load += 1  # even when full
            assign(conv, back.staff_id, now=batch.now)
            return decision(
                conv,
                rule=DecisionRule.RETURNING_BUYER,
                outcome=DecisionOutcome.ASSIGNED,
                winner=back.staff_id,
            )
        note = f"returning buyer's agent {back.name} is {back.status if not back.online else 'not routable'}"
    if conv.buyer_id in batch.new_buyers:
        conv.priority = True
    ctx = BuyerContext(
        tags=conv.buyer.tags or {},
        product_id=conv.source_product_id,
        intent=conv.intent,
        order_state=batch.order_states.get(conv.buyer_id, "none"),
    )
    matched, group_rule = select_groups(batch.groups, batch.scopes, ctx)
    conv.group = matched[0] if matched else None
    group_ids = {g.pk for g in matched} if matched else None
    pool, fallback = pool_of(batch.agents, group_ids=group_ids, include_owner=batch.include_owner)
    if pool:
        return _pick_or_queue(batch, conv, pool, GroupRule.ANY_ONLINE if fallback else group_rule, note)
    present, _fallback = pool_of(
        batch.agents, group_ids=group_ids, include_owner=batch.include_owner, present=True
    )
    if present:  # busy agents are at their desks: the buyer queues (seed 000), in the chat's group
        return _queue(batch, conv, DecisionRule.NONE_ONLINE, present, note)
    return _offline(batch, conv, note)


def _queue(
    batch: _Batch, conv: Conversation, rule: DecisionRule, candidates: list[Candidate], note: str
) -> RoutingDecision:
    conv.state, conv.queued_at = ConversationState.QUEUED, batch.now
    return decision(
        conv, rule=rule, outcome=DecisionOutcome.QUEUED, candidates=candidates, group=conv.group, note=note
    )


def _pick_or_queue(
    batch: _Batch, conv: Conversation, pool: list[Candidate], group_rule: GroupRule, note: str
) -> RoutingDecision:
    """4-5: the best agent with a free seat; everyone full: the best saturated one in no-queue mode, else
    the queue."""
    chosen, pick = pick_agent([c for c in pool if c.load < c.max]), Pick.IDLE_RATIO
    if chosen is None and batch.settings.no_queue:
        chosen, pick = pick_agent(pool), Pick.NO_QUEUE
    if chosen is None:
        conv.state, conv.queued_at, pick = ConversationState.QUEUED, batch.now, Pick.ALL_FULL
    made = decision(
        conv,
        rule=decision_rule(group_rule, pick),
        outcome=DecisionOutcome.ASSIGNED if chosen else DecisionOutcome.QUEUED,
        winner=chosen.staff_id if chosen else None,
        candidates=pool,
        group=conv.group,
        note=note,
    )
    if chosen is not None:
        chosen.load += 1  # after the trace: it shows the load the choice was made on
        assign(conv, chosen.staff_id, now=batch.now)
    return made


def _offline(batch: _Batch, conv: Conversation, note: str) -> RoutingDecision:
    """6. Everyone offline: spread evenly over the offline-routing list, else the shop's offline mode: the
    queue until an agent comes online (the default), or the message pool."""
    listed = [
        a for a in batch.agents.values() if batch.settings.offline_routing and a.offline_listed and a.can_chat
    ]
    if listed:
        chosen = spread_evenly(listed)
        made = decision(
            conv,
            rule=DecisionRule.OFFLINE_ROUTING,
            outcome=DecisionOutcome.ASSIGNED,
            winner=chosen.staff_id,
            candidates=listed,
            note=note,
        )
        chosen.load += 1
        assign(conv, chosen.staff_id, now=batch.now)
        return made
    if batch.settings.offline_mode == OfflineMode.QUEUE:
        return _queue(batch, conv, DecisionRule.OFFLINE_QUEUE, [], note)
    if batch.holder_id is None:
        batch.holder_id = pool_holder(batch.shop_id, batch.settings)
    conv.state = ConversationState.POOL
    conv.agent_id = batch.holder_id
    conv.queued_at = batch.now
    return decision(
        conv, rule=DecisionRule.MESSAGE_POOL, outcome=DecisionOutcome.POOL, winner=batch.holder_id, note=note
    )


def route_pending(*, shop_id: int, batch: int = ROUTING_BATCH) -> int:
    """Route the shop's arrivals that wait for routing, oldest first, in batches of up to ``batch``.

    Group commit: every arrival calls this after recording itself. Routers of a shop take turns on the
    settings row, and whoever holds it routes everything waiting, so in a burst (a live stream sending
    a thousand buyers a minute) the routing queries are paid per batch, not per buyer, and the seat
    counts are exact because each batch reads them under row locks. Returns how many this call routed."""
    routed = 0
    while True:
        with transaction.atomic():
            settings = lock_routing_settings(shop_id)
            pending = list(
                Conversation.objects.filter(shop_id=shop_id, state=ConversationState.ROUTING)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("buyer")
                .order_by("pk")[:batch]
            )
            if pending:
                route_batch(shop_id, settings, pending)
        routed += len(pending)
        if len(pending) < batch:
            return routed


def route_stranded() -> int:
    """Route arrivals left waiting (a process died between recording an arrival and routing it), and serve
    queues a missed drain left waiting (a process that died before draining). Run by beat every minute; only
    chats waiting more than 30 s by the database clock, so live routers are not raced. The chats assigned."""
    stranded = Now() - timedelta(seconds=settings.ROUTING_STRANDED_SECONDS)
    arrivals = Conversation.objects.filter(state=ConversationState.ROUTING, created_at__lt=stranded)
    shop_ids = set(arrivals.values_list("shop_id", flat=True))
    routed = sum(route_pending(shop_id=shop) for shop in sorted(shop_ids))
    queued = Conversation.objects.filter(state=ConversationState.QUEUED, queued_at__lt=stranded)
    shops = Shop.objects.filter(pk__in=set(queued.values_list("shop_id", flat=True))).order_by("pk")
    return routed + sum(drain_queue(shop=shop) for shop in shops)


# --- recording arrivals ------------------------------------------------------------------------------------


def _record_arrival(arrival: Arrival) -> tuple[Conversation, bool]:
    """In a transaction: the buyer now waits for a human (a new conversation, or the robot's one, in state
    routing); False when the conversation already has an agent or is queued (nothing to route)."""
    buyer = arrival.buyer
    conv = locked_open_conversation(buyer.pk)
    if conv is None:
        conv = Conversation.objects.create(
            shop_id=buyer.shop_id,
            buyer=buyer,
            source_product=arrival.source_product,
            intent=arrival.intent,
            handoff_reason=arrival.reason,
            state=ConversationState.ROUTING,
            last_buyer_message_at=timezone.now(),
        )
    elif conv.state == ConversationState.ROBOT:
        conv.state = ConversationState.ROUTING
        conv.source_product = arrival.source_product or conv.source_product
        conv.intent = arrival.intent or conv.intent
        conv.handoff_reason = arrival.reason
        conv.save(update_fields=["state", "source_product", "intent", "handoff_reason"])
    elif conv.state != ConversationState.ROUTING:
        return conv, False
    return conv, True


def request_human(
    *,
    buyer: Buyer,
    source_product: Product | None = None,
    intent: str = "",
    reason: ArrivalReason = ArrivalReason.BUYER_ASKED,
) -> tuple[Conversation, RoutingDecision | None]:
    """A buyer asks for a human (or the robot hands over): record the arrival (a new conversation, or the
    robot's one, now waiting for routing), then route the shop's waiting arrivals (``route_pending``).

    A conversation that already has an agent, or is already queued, is returned as it is, without a decision.
    """
    with transaction.atomic():
        conv, arrived = _record_arrival(Arrival(buyer, source_product, intent, reason))
    if not arrived:
        return conv, None
    route_pending(shop_id=buyer.shop_id)
    made = RoutingDecision.objects.filter(conversation_id=conv.pk).order_by("-pk").first()
    return Conversation.objects.select_related("shop", "buyer", "agent").get(pk=conv.pk), made


def hand_over(arrivals: Sequence[Arrival]) -> list[Exception | None]:
    """Chats handed to a human, several at once (a batch of the chat consumers): each arrival is recorded as
    ``request_human`` does, then each shop's waiting arrivals are routed once, not once a chat. Per arrival,
    the error that kept it from being recorded or routed, else None: the buyers' messages are committed
    already, so one chat's failure is not the others' (``route_stranded`` retries it)."""
    errors: list[Exception | None] = []
    routed: dict[int, list[int]] = {}  # shop id -> the arrivals it routes
    for arrival in arrivals:
        try:
            with transaction.atomic():
                _conv, arrived = _record_arrival(arrival)
        except Exception as exc:
            errors.append(exc)
            continue
        if arrived:
            routed.setdefault(arrival.buyer.shop_id, []).append(len(errors))
        errors.append(None)
    for shop_id, indexes in sorted(routed.items()):
        try:
            route_pending(shop_id=shop_id)
        except Exception as exc:
            for i in indexes:
                errors[i] = exc
    return errors


def back_to_routing(convs: list[Conversation]) -> set[int]:
    """Free the seats of these (locked) chats, agent rows in staff order like every other writer of loads,
    and mark the chats for routing again (an arrival: their agent is gone; routed after commit); the shops
    to route."""
    for conv in sorted(convs, key=lambda c: c.agent_id or 0):
        if conv.agent_id is not None:
            release_seats(conv.agent_id)
    Conversation.objects.filter(pk__in=[conv.pk for conv in convs]).update(
        state=ConversationState.ROUTING, agent=None, queued_at=None, handoff_reason=ArrivalReason.AGENT_GONE
    )
    return {conv.shop_id for conv in convs}
