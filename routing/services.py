"""Routing services: every write of the routing domain, each rule stated where it is enforced.

Concurrency design (PostgreSQL is the source of truth):
- A seat is reserved by one conditional UPDATE, ``load < max_concurrent AND status = online``, so two
  transactions can never both take the last seat; the rules that allow going over the limit (returning buyer,
  no-queue mode, forced transfer, offline routing) use an unconditional increment.
- Every state change of a conversation first locks its row (``select_for_update``), so an end racing a
  transfer, or a buyer message racing the auto-end sweep, is serialized; seats are released in the same
  transaction that ends or moves the conversation.
- Queue heads are claimed with ``select_for_update(skip_locked=True)``; pulling a specific queued chat is
  a conditional claim, so of two agents pulling the same chat exactly one wins.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from backoffice.models import Buyer, Order, Product, Role, Shop, StaffAccount
from backoffice.services import set_reception_limit as set_staff_reception_limit
from routing import events
from routing.models import (
    AgentGroup,
    AgentState,
    AgentStatus,
    Conversation,
    ConversationState,
    EndReason,
    Message,
    QueueOrder,
    Rating,
    ReplyDelay,
    RoutingDecision,
    RoutingSettings,
    SenderKind,
    Transfer,
)

RETURNING_BUYER_WINDOW = timedelta(hours=72)
AUTO_END_AFTER = timedelta(minutes=15)
HISTORY_REPLY_WINDOW = timedelta(hours=72)
RATING_WINDOW = timedelta(hours=24)  # the seeds are silent; a day covers "rate it when I'm back"
PROACTIVE_ORDER_WINDOW = timedelta(days=30)
NEW_BUYER_FIRST_PAYMENT_WINDOW = timedelta(days=180)
MAX_TEXT = 2000
DEFAULT_HANDLE_SECONDS = 300.0
ROUTING_BATCH = 500

_rng = random.SystemRandom()


# --- settings and agent state ------------------------------------------------------------------------------


def routing_settings(shop: Shop) -> RoutingSettings:
    return RoutingSettings.objects.get_or_create(shop=shop)[0]


def agent_state(staff: StaffAccount) -> AgentState:
    """The staff account's routing state, created on first use (offline, load 0, weight 1)."""
    return AgentState.objects.get_or_create(staff=staff, defaults={"shop_id": staff.shop_id})[0]


def _publish_status(staff: StaffAccount, status: str) -> None:
    """Every tab of the agent learns the status and limit, wherever they were changed."""
    events.publish([(events.agent_group(staff.pk), events.Status(status=status, limit=staff.max_concurrent))])


def set_agent_status(*, staff: StaffAccount, status: str) -> AgentState:
    """Online / busy / offline. Only online agents receive chats; coming online drains the queue."""
    if status not in AgentStatus.values:
        raise Invalid(_("Unknown status %(status)s.") % {"status": status})
    if status == AgentStatus.ONLINE and not staff.im_enabled:
        raise Forbidden(_("This account has no IM permission."))
    state = agent_state(staff)
    AgentState.objects.filter(pk=state.pk).update(status=status, status_changed_at=Now())
    _publish_status(staff, status)
    if status == AgentStatus.ONLINE:
        drain_queue(shop=staff.shop)
    state.refresh_from_db()
    return state


def set_reception_limit(*, actor: StaffAccount, staff: StaffAccount, limit: int) -> StaffAccount:
    """The agent's own limit (1 to the shop's cap); a raised limit drains the queue at once."""
    staff = set_staff_reception_limit(actor=actor, staff=staff, limit=limit)
    status = agent_state(staff).status
    _publish_status(staff, status)
    drain_queue(shop=staff.shop)
    return staff


def configure_agent(
    *, staff: StaffAccount, group: AgentGroup | None = None, weight: int = 1, routing: bool = True,
    offline_routing: bool = False,
) -> AgentState:  # fmt: skip
    """Group membership (at most one group), weight, routing participation and the offline-routing list."""
    if group is not None and group.shop_id != staff.shop_id:
        raise NotFound(_("No such group in this shop."))
    if not 1 <= weight <= 100:
        raise Invalid(_("The weight must be between 1 and 100."))
    state = agent_state(staff)
    AgentState.objects.filter(pk=state.pk).update(
        group=group, weight=weight, routing=routing, offline_routing=offline_routing
    )
    state.refresh_from_db()
    return state


# --- seats -------------------------------------------------------------------------------------------------


def _max_of() -> Subquery:
    """The agent's reception limit, read inside the seat UPDATE: check and increment are one step."""
    return Subquery(StaffAccount.objects.filter(pk=OuterRef("staff_id")).values("max_concurrent")[:1])


def _reserve_seat(staff_id: int, *, over_limit: bool = False, require_online: bool = True) -> bool:
    """Take one seat; unless ``over_limit``, only while load < max. One UPDATE: race-free."""
    qs = AgentState.objects.filter(staff_id=staff_id)
    if require_online:
        qs = qs.filter(status=AgentStatus.ONLINE)
    if not over_limit:
        qs = qs.filter(load__lt=_max_of())
    return qs.update(load=F("load") + 1) == 1


def _release_seat(staff_id: int) -> None:
    AgentState.objects.filter(staff_id=staff_id, load__gt=0).update(load=F("load") - 1)


# --- routing -----------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """An agent as routing sees it: seats, weight and whether they may take a chat now."""

    staff_id: int
    name: str
    load: int
    max: int
    weight: int
    group_id: int | None
    status: str = AgentStatus.ONLINE
    routing: bool = True
    can_chat: bool = True  # an active account with IM permission
    is_owner: bool = False
    offline_listed: bool = False

    @property
    def online(self) -> bool:
        return self.status == AgentStatus.ONLINE

    @property
    def idle_ratio(self) -> float:
        """空闲率 = (max - current) / max; negative when over the limit."""
        return (self.max - self.load) / self.max

    def trace(self) -> list[int]:
        """The compact trace entry (see ``RoutingDecision.candidates``)."""
        return [self.staff_id, self.load, self.max, self.weight]


def pick_agent(candidates: list[Candidate], rng: random.Random | None = None) -> Candidate | None:
    """Highest idle ratio wins (seed: A 10/2 = 80% vs B 30/3 = 90% -> B). Agents tied on the highest idle
    ratio are drawn at random with probability proportional to their weight: weight 3 vs 1 -> 75% / 25%.

    The idle ratio comes first because it is the platforms' documented rule; the weight decides among equally
    idle agents, which with equal limits is the common case (everyone at 0, then moving in steps of 1/max).
    """
    if not candidates:
        return None
    best = max(c.idle_ratio for c in candidates)
    top = [c for c in candidates if abs(c.idle_ratio - best) < 1e-9]
    return (rng or _rng).choices(top, weights=[c.weight for c in top], k=1)[0]


def _agents(shop_id: int, *, lock: bool = False) -> dict[int, Candidate]:
    """Every agent state of the shop by staff id. With ``lock`` the rows are locked in staff order, the
    order every write touching several agents uses (transfer, the sweep), so routers never deadlock."""
    qs = AgentState.objects.filter(shop_id=shop_id).order_by("staff_id")
    if lock:
        qs = qs.select_for_update(of=("self",))
    rows = qs.values_list(
        "staff_id", "staff__display_name", "load", "staff__max_concurrent", "weight", "group_id", "status",
        "routing", "staff__is_active", "staff__im_enabled", "staff__role", "offline_routing",
    )  # fmt: skip
    agents = {}
    for staff_id, name, load, max_, weight, group_id, status, routing, active, im, role, listed in rows:
        agents[staff_id] = Candidate(
            staff_id, name, load, max_, weight, group_id, status=status, routing=routing,
            can_chat=active and im, is_owner=role == Role.OWNER, offline_listed=listed,
        )  # fmt: skip
    return agents


def _routable(
    agents: dict[int, Candidate], *, group_ids: set[int] | None, include_owner: bool
) -> list[Candidate]:
    """Online routing agents that may chat, of the given groups (None: any group). The owner takes part in
    simple mode only when the shop keeps the default (owner_routes_in_simple_mode)."""
    return [
        a for a in agents.values()
        if a.online and a.routing and a.can_chat
        and (a.group_id in group_ids if group_ids is not None else include_owner or not a.is_owner)
    ]  # fmt: skip


def _pool(
    agents: dict[int, Candidate], *, group_ids: set[int] | None, include_owner: bool
) -> tuple[list[Candidate], bool]:
    """The routable agents of the chat's groups; when those have nobody online, any other online agent
    (Taobao: 其他任一在线客服). Also whether that fallback was taken."""
    pool = _routable(agents, group_ids=group_ids, include_owner=include_owner)
    if pool or group_ids is None:
        return pool, False
    return _routable(agents, group_ids=None, include_owner=include_owner), True


@dataclass
class BuyerContext:
    tags: dict[str, Any]
    product_id: int | None
    intent: str
    order_state: str


def _matches(group: AgentGroup, dimension: str, ctx: BuyerContext, product_scope: set[int]) -> bool:
    if dimension == "crowd":
        return bool(group.crowd) and all(
            str(ctx.tags.get(key)) in {str(v) for v in values} for key, values in group.crowd.items()
        )
    if dimension == "product":
        return ctx.product_id is not None and ctx.product_id in product_scope
    if dimension == "intent":
        return bool(ctx.intent) and ctx.intent in group.intents
    return ctx.order_state in group.order_states


SCOPE_PRIORITY = ["crowd", "product", "intent", "order_state"]


def select_groups(
    groups: list[AgentGroup], scopes: dict[int, set[int]], ctx: BuyerContext
) -> tuple[list[AgentGroup], str]:
    """Regular mode: the first scope dimension (crowd > product > intent > order state) that some group
    matches decides; without a match, groups without any scope take the chat, else all groups. ``scopes``
    holds each group's product ids."""
    if not groups:
        return [], "simple_mode"
    for dimension in SCOPE_PRIORITY:
        matching = [g for g in groups if _matches(g, dimension, ctx, scopes[g.pk])]
        if matching:
            return matching, f"group_by_{dimension}"
    unscoped = [g for g in groups if not (g.crowd or scopes[g.pk] or g.intents or g.order_states)]
    return (unscoped or groups), "group_default"


def _new_buyers(buyers: list[Buyer], now: datetime) -> set[int]:
    """新客: one purchase in the last 30 days and a first payment within 180 days."""
    recent = [
        b.pk for b in buyers if b.first_paid_at and b.first_paid_at >= now - NEW_BUYER_FIRST_PAYMENT_WINDOW
    ]
    if not recent:
        return set()
    paid = (
        Order.objects.filter(buyer_id__in=recent, paid_at__gte=now - timedelta(days=30))
        .values("buyer_id")
        .annotate(n=Count("pk"))
        .values_list("buyer_id", "n")
    )
    return {buyer_id for buyer_id, n in paid if n == 1}


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
        agents.setdefault(buyer_id, agent_id)
    return agents


def _assign(conv: Conversation, staff_id: int, *, now: datetime) -> None:
    """Set the assignment fields (the caller saves): the reply timer starts at assignment."""
    conv.state = ConversationState.ACTIVE
    conv.agent_id = staff_id
    conv.assigned_at = now
    conv.queued_at = None
    conv.waiting_since = now


ASSIGN_FIELDS = ["state", "agent_id", "assigned_at", "queued_at", "waiting_since", "group_id", "priority"]


def _decision(
    conv: Conversation, *, rule: str, outcome: str, winner: int | None = None,
    candidates: list[Candidate] = (), group: AgentGroup | None = None, note: str = "",  # type: ignore[assignment]
) -> RoutingDecision:  # fmt: skip
    """An unsaved routing trace: the candidates as they stood at the decision, the rule and the winner."""
    return RoutingDecision(
        conversation=conv,
        rule=rule,
        outcome=outcome,
        winner_id=winner,
        group=group,
        candidates=[c.trace() for c in candidates],
        note=note,
    )


def _decide(conv: Conversation, **kwargs: Any) -> RoutingDecision:
    decision = _decision(conv, **kwargs)
    decision.save()
    return decision


def lock_routing_settings(shop_id: int) -> RoutingSettings:
    """The shop's settings row (created with the defaults on first use), locked: routers of one shop take
    turns (shops route in parallel), and a settings change waits for the batch in progress."""
    qs = RoutingSettings.objects.select_for_update().filter(shop_id=shop_id)
    settings = qs.first()
    if settings is None:
        RoutingSettings.objects.get_or_create(shop_id=shop_id)
        settings = qs.get()
    return settings


def _pool_holder(shop_id: int, settings: RoutingSettings) -> int:
    """The service-assistant account holding the message pool; the owner if none is set or it is disabled."""
    if (
        settings.pool_holder_id
        and StaffAccount.objects.filter(pk=settings.pool_holder_id, is_active=True).exists()
    ):
        return settings.pool_holder_id
    return StaffAccount.objects.get(shop_id=shop_id, role=Role.OWNER).pk


def _route_batch(shop_id: int, settings: RoutingSettings, convs: list[Conversation]) -> list[RoutingDecision]:
    """The routing pipeline for conversations locked by the caller, who also holds the settings lock.

    1 returning buyer (online agent of the last 72 h, even when full) -> 2 new-buyer priority ->
    3 group selection -> 4 agent selection by idle ratio and weight -> 5 queue (or no-queue mode) ->
    6 offline handling (offline-routing list, else the message pool).

    The shop's agent rows are locked and their loads read once; each decision updates the loads in memory,
    so the next one in the batch sees the seats already taken, and the batch writes conversations, loads
    and traces in one statement each.
    """
    now = timezone.now()
    agents = _agents(shop_id, lock=True)
    before = {a.staff_id: a.load for a in agents.values()}
    groups = list(AgentGroup.objects.filter(shop_id=shop_id).prefetch_related("products"))
    scopes = {g.pk: {p.pk for p in g.products.all()} for g in groups}
    include_owner = bool(groups) or settings.owner_routes_in_simple_mode
    returning = _returning_agents(convs, now)
    buyers = [c.buyer for c in convs]
    new_buyers = _new_buyers(buyers, now) if settings.new_buyer_priority else set()
    order_states = _latest_order_states([b.pk for b in buyers]) if groups else {}
    holder_id: int | None = None

    decisions = []
    for conv in sorted(convs, key=lambda c: (c.buyer_id not in new_buyers, c.pk)):
        note = ""
        back = agents.get(returning.get(conv.buyer_id, 0))
        if back is not None:
            if back.online and back.routing and back.can_chat:
                back.load += 1  # even when full
                _assign(conv, back.staff_id, now=now)
                decisions.append(
                    _decision(conv, rule="returning_buyer", outcome="assigned", winner=back.staff_id)
                )
                continue
            note = (
                f"returning buyer's agent {back.name} is {back.status if not back.online else 'not routable'}"
            )
        if conv.buyer_id in new_buyers:
            conv.priority = True
        ctx = BuyerContext(
            tags=conv.buyer.tags or {},
            product_id=conv.source_product_id,
            intent=conv.intent,
            order_state=order_states.get(conv.buyer_id, "none"),
        )
        matched, rule = select_groups(groups, scopes, ctx)
        conv.group = matched[0] if matched else None
        group_ids = {g.pk for g in matched} if matched else None
        pool, fallback = _pool(agents, group_ids=group_ids, include_owner=include_owner)
        if fallback and pool:
            rule = "any_online_agent"
        if pool:
            chosen, rule = pick_agent([c for c in pool if c.load < c.max]), f"{rule}/idle_ratio"
            if chosen is None and settings.no_queue:
                chosen, rule = pick_agent(pool), rule.replace("idle_ratio", "no_queue")
            if chosen is None:
                conv.state, conv.queued_at = ConversationState.QUEUED, conv.queued_at or now
            decisions.append(
                _decision(conv, rule=rule if chosen else rule.replace("idle_ratio", "all_full"),
                          outcome="assigned" if chosen else "queued",
                          winner=chosen.staff_id if chosen else None,
                          candidates=pool, group=conv.group, note=note)
            )  # fmt: skip
            if chosen is not None:
                chosen.load += 1  # after the trace: it shows the load the choice was made on
                _assign(conv, chosen.staff_id, now=now)
            continue
        # 6. Everyone offline: spread evenly over the offline-routing list, else the message pool.
        listed = [
            a for a in agents.values()
            if settings.offline_routing and a.offline_listed and a.can_chat
        ]  # fmt: skip
        if listed:
            fewest = min(a.load for a in listed)
            chosen = _rng.choice([a for a in listed if a.load == fewest])
            decisions.append(
                _decision(
                    conv,
                    rule="offline_routing",
                    outcome="assigned",
                    winner=chosen.staff_id,
                    candidates=listed,
                    note=note,
                )
            )
            chosen.load += 1
            _assign(conv, chosen.staff_id, now=now)
            continue
        if holder_id is None:
            holder_id = _pool_holder(shop_id, settings)
        conv.state = ConversationState.POOL
        conv.agent_id = holder_id
        conv.queued_at = conv.queued_at or now
        decisions.append(_decision(conv, rule="message_pool", outcome="pool", winner=holder_id, note=note))

    _write_batch(shop_id, settings, convs, agents, before, decisions)
    return decisions


def _write_batch(
    shop_id: int, settings: RoutingSettings, convs: list[Conversation], agents: dict[int, Candidate],
    before: dict[int, int], decisions: list[RoutingDecision],
) -> None:  # fmt: skip
    """A router's writes: the conversations, the changed loads and the traces, one statement each; then the
    events (after commit): who got which chat, and the queue's new positions when it changed."""
    # One UPDATE per distinct outcome (mostly: per chosen agent). Django's bulk_update would build a CASE per
    # row and field, which costs more than the routing itself.
    outcomes: dict[tuple[Any, ...], list[int]] = {}
    for conv in convs:
        outcomes.setdefault(tuple(getattr(conv, f) for f in ASSIGN_FIELDS), []).append(conv.pk)
    for values, pks in outcomes.items():
        Conversation.objects.filter(pk__in=pks).update(**dict(zip(ASSIGN_FIELDS, values, strict=True)))
    changed = {a.staff_id: a.load for a in agents.values() if a.load != before[a.staff_id]}
    if changed:
        # Absolute values are safe: the rows are locked since the loads were read.
        AgentState.objects.filter(staff_id__in=changed).update(
            load=Case(*[When(staff_id=s, then=Value(n)) for s, n in changed.items()])
        )
    RoutingDecision.objects.bulk_create(decisions)
    sends = [
        send
        for d in decisions
        if d.outcome == "assigned"
        for send in _assigned_event(
            d.conversation, d.rule, agents[d.winner_id].name if d.winner_id in agents else ""
        )
    ]
    joined = {d.conversation_id for d in decisions if d.outcome == "queued"}
    if any(d.rule.startswith("queue_drain") for d in decisions):
        sends += _queue_updates(shop_id, settings=settings, agents=agents)
    elif joined:
        sends += _queue_updates(shop_id, joined=joined, settings=settings, agents=agents)
    events.publish(sends)


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
                _route_batch(shop_id, settings, pending)
        routed += len(pending)
        if len(pending) < batch:
            return routed


STRANDED_AFTER = timedelta(seconds=30)


def route_stranded() -> int:
    """Route arrivals left waiting (a process died between recording an arrival and routing it), and serve
    queues a missed drain left waiting (a limit raised in the admin or through the backoffice API, which
    cannot call routing, or a process that died before draining). Run by beat every minute; only chats
    waiting more than 30 s by the database clock, so live routers are not raced. The chats assigned."""
    stranded = Now() - STRANDED_AFTER
    arrivals = Conversation.objects.filter(state=ConversationState.ROUTING, created_at__lt=stranded)
    routed = sum(route_pending(shop_id=shop) for shop in set(arrivals.values_list("shop_id", flat=True)))
    queued = Conversation.objects.filter(state=ConversationState.QUEUED, queued_at__lt=stranded)
    shops = Shop.objects.filter(pk__in=set(queued.values_list("shop_id", flat=True))).order_by("pk")
    return routed + sum(drain_queue(shop=shop) for shop in shops)


def routing_trace(conversation: Conversation) -> list[dict[str, Any]]:
    """Every routing decision of a chat, oldest first, with the candidates' names and idle ratios."""
    decisions = list(RoutingDecision.objects.filter(conversation=conversation).order_by("pk"))
    ids = {c[0] for d in decisions for c in d.candidates} | {d.winner_id for d in decisions if d.winner_id}
    names = dict(StaffAccount.objects.filter(pk__in=ids).values_list("pk", "display_name"))
    return [
        {"id": d.pk, "created_at": d.created_at, "rule": d.rule, "outcome": d.outcome,
         "winner_id": d.winner_id, "winner_name": names.get(d.winner_id) if d.winner_id else None,
         "group_id": d.group_id, "candidates": d.candidate_details(names), "note": d.note}
        for d in decisions
    ]  # fmt: skip


def _open_for_update(buyer_ids: list[int]) -> Any:
    """The buyers' open (not ended) conversations, to be row-locked in id order (with each agent's routing
    state, unlocked); a buyer has at most one (a unique constraint)."""
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("agent__agent_state")
        .filter(buyer_id__in=buyer_ids)
        .exclude(state=ConversationState.ENDED)
        .order_by("pk")
    )


def _locked_open_conversation(buyer: Buyer) -> Conversation | None:
    return _open_for_update([buyer.pk]).first()


def _record_arrival(buyer: Buyer, source_product: Product | None, intent: str) -> tuple[Conversation, bool]:
    """In a transaction: the buyer now waits for a human (a new conversation, or the robot's one, in state
    routing); False when the conversation already has an agent or is queued (nothing to route)."""
    conv = _locked_open_conversation(buyer)
    if conv is None:
        conv = Conversation.objects.create(
            shop_id=buyer.shop_id, buyer=buyer, source_product=source_product, intent=intent,
            state=ConversationState.ROUTING, last_buyer_message_at=timezone.now(),
        )  # fmt: skip
    elif conv.state == ConversationState.ROBOT:
        conv.state = ConversationState.ROUTING
        conv.source_product = source_product or conv.source_product
        conv.intent = intent or conv.intent
        conv.save(update_fields=["state", "source_product", "intent"])
    elif conv.state != ConversationState.ROUTING:
        return conv, False
    return conv, True


def request_human(
    *, buyer: Buyer, source_product: Product | None = None, intent: str = ""
) -> tuple[Conversation, RoutingDecision | None]:
    """A buyer asks for a human (or the robot hands over): record the arrival (a new conversation, or the
    robot's one, now waiting for routing), then route the shop's waiting arrivals (``route_pending``).

    A conversation that already has an agent, or is already queued, is returned as it is, without a decision.
    """
    with transaction.atomic():
        conv, arrived = _record_arrival(buyer, source_product, intent)
    if not arrived:
        return conv, None
    route_pending(shop_id=buyer.shop_id)
    decision = RoutingDecision.objects.filter(conversation_id=conv.pk).order_by("-pk").first()
    return Conversation.objects.select_related("shop", "buyer", "agent").get(pk=conv.pk), decision


def hand_over(arrivals: Sequence[tuple[Buyer, Product | None]]) -> list[Exception | None]:
    """Chats the robot hands to a human, several at once (a batch of the chat consumers): each arrival is
    recorded as ``request_human`` does, then each shop's waiting arrivals are routed once, not once a chat.
    Per arrival, the error that kept it from being recorded or routed, else None: the buyers' messages are
    committed already, so one chat's failure is not the others' (``route_stranded`` retries it)."""
    errors: list[Exception | None] = []
    routed: dict[int, list[int]] = {}  # shop id -> the arrivals it routes
    for buyer, product in arrivals:
        try:
            with transaction.atomic():
                _conv, arrived = _record_arrival(buyer, product, "")
        except Exception as exc:
            errors.append(exc)
            continue
        if arrived:
            routed.setdefault(buyer.shop_id, []).append(len(errors))
        errors.append(None)
    for shop_id, indexes in sorted(routed.items()):
        try:
            route_pending(shop_id=shop_id)
        except Exception as exc:
            for i in indexes:
                errors[i] = exc
    return errors


# --- queue -------------------------------------------------------------------------------------------------


def queue_in_order(shop: Shop, settings: RoutingSettings | None = None) -> Any:
    """Queued chats of the shop in the order they are served: new buyers first, then FIFO or LIFO."""
    settings = settings or routing_settings(shop)
    order = "queued_at" if settings.queue_order == QueueOrder.FIFO else "-queued_at"
    return (
        Conversation.objects.for_shop(shop)
        .filter(state=ConversationState.QUEUED)
        .order_by("-priority", order, "pk")
    )


def _wait_estimator(shop: Shop, agents: dict[int, Candidate] | None = None) -> Any:
    """position, group -> seconds: the chats ahead are served in parallel by the group's online agents, each
    taking the shop's average session length of the last 7 days (5 minutes until measured). ``agents``: the
    shop's agents when the caller has them already (a router)."""
    agents = agents if agents is not None else _agents(shop.pk)
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
    lengths = [(ended - assigned).total_seconds() for assigned, ended in recent]
    handle = sum(lengths) / len(lengths) if lengths else DEFAULT_HANDLE_SECONDS

    def estimate(position: int, group_id: int | None) -> int:
        group_ids = {group_id} if group_id else None
        serving = max(1, len(_routable(agents, group_ids=group_ids, include_owner=True)))
        return int(-(-position // serving) * handle)

    return estimate


def queue_position(conversation: Conversation) -> tuple[int, int]:
    """(position from 1 in its group's queue, wait estimate in seconds); (0, 0) when not queued."""
    shop = conversation.shop
    ids = list(queue_in_order(shop).filter(group_id=conversation.group_id).values_list("pk", flat=True))
    if conversation.pk not in ids:
        return 0, 0
    position = ids.index(conversation.pk) + 1
    return position, _wait_estimator(shop)(position, conversation.group_id)


QUEUE_UPDATES = 200


def _queue_updates(
    shop_id: int, *, joined: set[int] | None = None, settings: RoutingSettings | None = None,
    agents: dict[int, Candidate] | None = None,
) -> list[tuple[str, events.Event]]:  # fmt: skip
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
        estimate = _wait_estimator(shop, agents)
        positions: dict[int | None, int] = {}
        for pk, buyer_id, group_id in rows:
            positions[group_id] = position = positions.get(group_id, 0) + 1
            if joined is None or pk in joined:
                event = events.Queued(
                    conversation=pk, position=position, wait_seconds=estimate(position, group_id)
                )
                sends.append((events.buyer_group(buyer_id), event))
    return sends


def _assigned_event(conv: Conversation, rule: str, agent_name: str) -> list[tuple[str, events.Event]]:
    event = events.Assigned(
        conversation=conv.pk, agent_id=conv.agent_id or 0, agent_name=agent_name, buyer_id=conv.buyer_id,
        buyer_name=conv.buyer.nickname, rule=rule, waiting_since=conv.waiting_since,
    )  # fmt: skip
    return events.to_conversation(conv, event)


def drain_queue(*, shop: Shop, limit: int = ROUTING_BATCH) -> int:
    """Assign queued chats while seats are free, in the configured order, to the best free agent of the
    chat's group (any online agent when nobody of the group is online). Runs as a router: the settings lock
    and the agent rows locked, heads claimed with SKIP LOCKED. A head whose group is full stays queued and
    the heads of other groups are still served."""
    with transaction.atomic():
        settings = lock_routing_settings(shop.pk)
        agents = _agents(shop.pk, lock=True)
        before = {a.staff_id: a.load for a in agents.values()}
        include_owner = settings.owner_routes_in_simple_mode or AgentGroup.objects.filter(shop=shop).exists()
        blocked: set[int | None] = set()
        done: list[Conversation] = []
        decisions: list[RoutingDecision] = []
        now = timezone.now()
        while len(done) < limit:
            free_seats = sum(
                a.max - a.load for a in _routable(agents, group_ids=None, include_owner=include_owner)
                if a.load < a.max
            )  # fmt: skip
            if not free_seats:
                break
            heads = queue_in_order(shop, settings).exclude(pk__in=[c.pk for c in done])
            heads = heads.exclude(group_id__in=[g for g in blocked if g is not None])
            if None in blocked:
                heads = heads.exclude(group__isnull=True)
            chunk = list(
                heads.select_for_update(skip_locked=True, of=("self",)).select_related("buyer")[
                    : min(free_seats, limit - len(done))
                ]
            )
            if not chunk:
                break
            for conv in chunk:
                if conv.group_id in blocked:
                    continue
                group_ids = {conv.group_id} if conv.group_id is not None else None
                pool, _fallback = _pool(agents, group_ids=group_ids, include_owner=include_owner)
                chosen = pick_agent([c for c in pool if c.load < c.max])
                if chosen is None:
                    blocked.add(conv.group_id)
                    continue
                decisions.append(
                    _decision(conv, rule="queue_drain/idle_ratio", outcome="assigned",
                              winner=chosen.staff_id, candidates=pool, group=conv.group)
                )  # fmt: skip
                chosen.load += 1
                _assign(conv, chosen.staff_id, now=now)
                done.append(conv)
        _write_batch(shop.pk, settings, done, agents, before, decisions)
    return len(done)


def pull_from_queue(*, agent: StaffAccount, conversation: Conversation | None = None) -> Conversation:
    """An agent (non-routing accounts too) takes a queued chat: a given one, or the head of the queue.
    Needs a free seat. Of two agents pulling the same chat, exactly one wins; the other gets a conflict."""
    if not agent.im_enabled or not agent.is_active:
        raise Forbidden(_("This account has no IM permission."))
    with transaction.atomic():
        qs = queue_in_order(agent.shop)
        if conversation is not None:
            if conversation.shop_id != agent.shop_id:
                raise NotFound(_("No such conversation in this shop."))
            qs = qs.filter(pk=conversation.pk)
        conv = qs.select_for_update(skip_locked=True, of=("self",)).select_related("buyer").first()
        if conv is None:
            raise Conflict(_("That chat is no longer in the queue."))
        agent_state(agent)
        if not _reserve_seat(agent.pk, require_online=False):
            raise Invalid(_("You are at your reception limit."))
        _assign(conv, agent.pk, now=timezone.now())
        conv.save(update_fields=ASSIGN_FIELDS)
        _decide(conv, rule="pulled_from_queue", outcome="assigned", winner=agent.pk)
        events.publish(
            [*_assigned_event(conv, "pulled_from_queue", agent.display_name), *_queue_updates(conv.shop_id)]
        )
    return conv


def reassign_from_pool(
    *, conversation: Conversation, to_agent: StaffAccount, by: StaffAccount
) -> Conversation:
    """A supervisor hands a message-pool chat to an agent (who may be full: the supervisor decides)."""
    _require_supervisor(by)
    if to_agent.shop_id != by.shop_id or conversation.shop_id != by.shop_id:
        raise NotFound(_("No such agent or conversation in this shop."))
    with transaction.atomic():
        conv = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("buyer")
            .get(pk=conversation.pk)
        )
        if conv.state != ConversationState.POOL:
            raise Conflict(_("That chat is not in the message pool."))
        agent_state(to_agent)
        _reserve_seat(to_agent.pk, over_limit=True, require_online=False)
        _assign(conv, to_agent.pk, now=timezone.now())
        conv.save(update_fields=ASSIGN_FIELDS)
        _decide(
            conv, rule="pool_reassigned", outcome="assigned", winner=to_agent.pk, note=f"by {by.display_name}"
        )
        events.publish(_assigned_event(conv, "pool_reassigned", to_agent.display_name))
    return conv


# --- transfer and end --------------------------------------------------------------------------------------


def _require_supervisor(staff: StaffAccount) -> None:
    if not (
        staff.is_owner
        or staff.role in (Role.ADMIN, Role.CS_SUPERVISOR)
        or "backoffice.manage_routing" in staff.permission_names()
    ):
        raise Forbidden(_("Only a supervisor can do this."))


def transfer(
    *,
    conversation: Conversation,
    to_agent: StaffAccount,
    by: StaffAccount,
    note: str = "",
    force: bool = False,
) -> Conversation:
    """Hand an active chat to another online agent of the same shop, with a note; the seat moves with it.
    A full target is refused unless a supervisor forces it."""
    if to_agent.shop_id != by.shop_id or conversation.shop_id != by.shop_id:
        raise NotFound(_("No such agent or conversation in this shop."))
    if len(note) > 200:
        raise Invalid(_("The note is limited to 200 characters."))
    if force:
        _require_supervisor(by)
    if not to_agent.is_active or not to_agent.im_enabled:
        raise Invalid(_("That account cannot receive chats."))
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.state != ConversationState.ACTIVE or conv.agent_id is None:
            raise Conflict(_("Only an active chat can be transferred."))
        if conv.agent_id != by.pk:
            _require_supervisor(by)
        if conv.agent_id == to_agent.pk:
            raise Invalid(_("The chat is already with that agent."))
        agent_state(to_agent)
        # Lock both agents in staff order, as routers do, so a transfer never deadlocks with a router.
        locked = AgentState.objects.select_for_update().filter(staff_id__in=[conv.agent_id, to_agent.pk])
        target = {a.staff_id: a for a in locked.order_by("staff_id")}[to_agent.pk]
        if target.status != AgentStatus.ONLINE:
            raise Invalid(_("%(name)s is not online.") % {"name": to_agent.display_name})
        if not _reserve_seat(to_agent.pk, over_limit=force):
            raise Invalid(_("%(name)s is at their reception limit.") % {"name": to_agent.display_name})
        from_id = conv.agent_id
        _release_seat(from_id)
        conv.agent_id = to_agent.pk
        conv.save(update_fields=["agent"])
        Transfer.objects.create(
            conversation=conv, from_agent_id=from_id, to_agent=to_agent, by=by, note=note, forced=force
        )
        _decide(
            conv,
            rule="transfer_forced" if force else "transfer",
            outcome="assigned",
            winner=to_agent.pk,
            note=note,
        )
        moved = events.Transferred(
            conversation=conv.pk, from_agent_id=from_id, to_agent_id=to_agent.pk,
            agent_name=to_agent.display_name, note=note,
        )  # fmt: skip
        events.publish([*events.to_conversation(conv, moved), (events.agent_group(from_id), moved)])
    drain_queue(shop=conv.shop)  # the seat freed by the transfer
    return conv


def end_conversation(
    *, conversation: Conversation, reason: str, by: StaffAccount | None = None
) -> Conversation:
    """End a chat (Esc): to history, seat freed, queue drained. Ending twice is refused."""
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().select_related("shop").get(pk=conversation.pk)
        if conv.state == ConversationState.ENDED:
            raise Conflict(_("This conversation has already ended."))
        if by is not None and conv.shop_id != by.shop_id:
            raise NotFound(_("No such conversation in this shop."))
        if by is not None and conv.agent_id != by.pk:
            _require_supervisor(by)
        if conv.state == ConversationState.ACTIVE and conv.agent_id is not None:
            _release_seat(conv.agent_id)
        conv.state = ConversationState.ENDED
        conv.ended_at = timezone.now()
        conv.end_reason = reason
        conv.waiting_since = None
        conv.save(update_fields=["state", "ended_at", "end_reason", "waiting_since"])
        events.publish(events.to_conversation(conv, events.Ended(conversation=conv.pk, by=reason)))
    drain_queue(shop=conv.shop)
    return conv


def auto_end_idle(*, batch: int = 500) -> int:
    """Auto-end: active chats whose last buyer message is older than 15 minutes by the database clock.
    Agent silence never ends a chat. Rows are claimed with SKIP LOCKED and rechecked under the lock, so a
    buyer message being written (which holds the row) is never ended, and two sweeps end each chat once."""
    ended = 0
    shops: set[int] = set()
    while True:
        with transaction.atomic():
            rows = list(
                Conversation.objects.filter(
                    state=ConversationState.ACTIVE, last_buyer_message_at__lt=Now() - AUTO_END_AFTER
                )
                .select_for_update(skip_locked=True)
                .values_list("pk", "agent_id", "shop_id", "buyer_id")[:batch]
            )
            if not rows:
                break
            ids = [pk for pk, _a, _s, _b in rows]
            Conversation.objects.filter(pk__in=ids).update(
                state=ConversationState.ENDED, ended_at=Now(), end_reason=EndReason.AUTO, waiting_since=None
            )
            per_agent: dict[int, int] = {}
            sends: list[tuple[str, events.Event]] = []
            for pk, agent_id, shop_id, buyer_id in rows:
                per_agent[agent_id] = per_agent.get(agent_id, 0) + 1
                shops.add(shop_id)
                ended_event = events.Ended(conversation=pk, by=EndReason.AUTO)
                sends += [
                    (events.agent_group(agent_id), ended_event),
                    (events.buyer_group(buyer_id), ended_event),
                ]
            events.publish(sends)
            for agent_id, count in sorted(per_agent.items()):  # fixed lock order: no deadlock
                AgentState.objects.filter(staff_id=agent_id).update(load=F("load") - count)
            ended += len(rows)
        if len(rows) < batch:
            break
    for shop in Shop.objects.filter(pk__in=shops):
        drain_queue(shop=shop)
    return ended


# --- messages and the reply timer --------------------------------------------------------------------------


def _check_text(text: str) -> str:
    if not text or not text.strip():
        raise Invalid(_("A message cannot be empty."))
    if len(text) > MAX_TEXT:
        raise Invalid(_("A message is limited to %(max)d characters.") % {"max": MAX_TEXT})
    return text


def _stored_sends(convs: list[Conversation], client_msg_ids: list[str]) -> dict[tuple[int, str], Message]:
    """(conversation id, client_msg_id) -> the message stored by an earlier send with that id: a resend
    writes nothing and changes no timer. Sends without an id are never resends."""
    wanted = {cid for cid in client_msg_ids if cid}
    if not wanted:
        return {}
    by_id = {conv.pk: conv for conv in convs}
    found = Message.objects.filter(conversation_id__in=by_id, client_msg_id__in=wanted).order_by()
    stored = {}
    for message in found:
        message.conversation = by_id[message.conversation_id]
        stored[message.conversation_id, message.client_msg_id] = message
    return stored


def _append(
    conv: Conversation, *, sender: str, text: str, agent: StaffAccount | None, client_msg_id: str,
    card: dict[str, Any] | None = None, also: tuple[str, ...] = (),
) -> Message:  # fmt: skip
    """Store the next message of a locked conversation (seq + 1, saved with the fields named in ``also``
    in one UPDATE), then broadcast it after commit."""
    conv.last_seq += 1
    conv.save(update_fields=["last_seq", *also])
    message = Message.objects.create(
        conversation=conv,
        seq=conv.last_seq,
        sender=sender,
        agent=agent,
        text=text,
        card=card,
        client_msg_id=client_msg_id,
    )
    events.publish(events.to_conversation(conv, events.message_event(message)))
    return message


@dataclass(frozen=True)
class BuyerSend:
    """One buyer message for ``post_buyer_messages``."""

    buyer: Buyer
    text: str
    client_msg_id: str = ""


def post_buyer_message(*, buyer: Buyer, text: str, client_msg_id: str = "") -> Message:
    """A buyer's message: ``post_buyer_messages`` with one, its error raised."""
    result = post_buyer_messages([BuyerSend(buyer, text, client_msg_id)])[0]
    if isinstance(result, DomainError):
        raise result
    return result


def post_buyer_messages(sends: Sequence[BuyerSend]) -> list[Message | DomainError]:
    """Buyers' messages stored in one transaction, in order, each result in the place of its send.

    This is group commit for the chat consumers: they hand over every buyer send waiting at that moment, so
    the locks, the resend check, the insert, the update and the commit are paid once a batch rather than once
    a message. The rules, per message:
    - the reply timer starts at a message when it was stopped, and keeps running from the first unanswered
      message otherwise;
    - a buyer without an open conversation (a new buyer, or after the end) starts a new one, with the robot;
    - a resend of a stored ``client_msg_id`` stores nothing, changes no timer and returns the stored message;
    - a message to an offline agent who takes no offline routing sends the chat back to routing;
    - an empty or too long text is returned as its error and stores nothing; the other sends go on.
    """
    results: dict[int, Message | DomainError] = {}
    todo: list[int] = []
    for i, send in enumerate(sends):
        try:
            _check_text(send.text)
        except DomainError as exc:
            results[i] = exc
        else:
            todo.append(i)
    if not todo:
        return [results[i] for i in range(len(sends))]
    with transaction.atomic():
        convs = _lock_open_conversations([sends[i].buyer for i in todo])
        stored = _stored_sends(list(convs.values()), [sends[i].client_msg_id for i in todo])
        now = timezone.now()
        new: list[tuple[Message, bool]] = []  # the message, and whether it started the reply timer
        for i in todo:
            send, conv = sends[i], convs[sends[i].buyer.pk]
            if (conv.pk, send.client_msg_id) in stored:
                results[i] = stored[conv.pk, send.client_msg_id]
                continue
            timer_started = conv.state == ConversationState.ACTIVE and conv.waiting_since is None
            if timer_started:
                conv.waiting_since = now
            conv.last_buyer_message_at = now
            conv.last_seq += 1
            message = Message(
                conversation=conv, seq=conv.last_seq, sender=SenderKind.BUYER, text=send.text,
                client_msg_id=send.client_msg_id,
            )  # fmt: skip
            if send.client_msg_id:
                stored[conv.pk, send.client_msg_id] = message  # the same send twice in one batch
            results[i] = message
            new.append((message, timer_started))
        Message.objects.bulk_create([message for message, _started in new])
        _save_batch(new, now)
        broadcast: list[tuple[str, events.Event]] = []  # published together: one hand-over after commit
        for message, timer_started in new:
            conv = message.conversation
            broadcast += events.to_conversation(conv, events.message_event(message))
            if timer_started:
                timer = events.Timer(conversation=conv.pk, waiting_since=conv.waiting_since)
                broadcast += events.to_conversation(conv, timer, buyer=False)
        events.publish(broadcast)
        changed = {message.conversation_id: message.conversation for message, _started in new}
        rerouted = _back_to_routing([conv for conv in changed.values() if _agent_gone(conv)])
    for shop_id in sorted(rerouted):
        route_pending(shop_id=shop_id)
    return [results[i] for i in range(len(sends))]


def _save_batch(new: list[tuple[Message, bool]], now: datetime) -> None:
    """Write what a batch changed on its (locked) conversations in one UPDATE per distinct message count, not
    one per conversation: ``last_seq`` goes up by the number of messages each got, and the reply timers that
    started, started now. (Django's ``bulk_update`` builds a CASE per row and costs more than the database
    work; every statement saved is a round trip off each message's latency.)"""
    added = Counter(message.conversation_id for message, _started in new)
    by_count: dict[int, list[int]] = {}
    for conv_id, count in added.items():
        by_count.setdefault(count, []).append(conv_id)
    started = {message.conversation_id for message, timer_started in new if timer_started}
    for count, ids in by_count.items():
        changes: dict[str, Any] = {"last_seq": F("last_seq") + count, "last_buyer_message_at": now}
        if timers := started.intersection(ids):
            changes["waiting_since"] = Case(When(pk__in=timers, then=Value(now)), default=F("waiting_since"))
        Conversation.objects.filter(pk__in=ids).update(**changes)


def _lock_open_conversations(buyers: Sequence[Buyer]) -> dict[int, Conversation]:
    """Buyer id -> the buyer's open conversation, row-locked in id order (with its agent's routing state,
    unlocked). A buyer without one gets a new conversation with the robot; a conversation another process
    opened for the buyer at the same moment is taken instead (the one-open-session constraint)."""

    def locked(ids: list[int]) -> dict[int, Conversation]:
        # Only what a batch reads: building whole conversation, account and state rows cost a fifth of it.
        rows = _open_for_update(ids).only(
            "shop", "buyer", "state", "agent", "last_seq", "waiting_since", "last_buyer_message_at",
            "agent__agent_state__status", "agent__agent_state__routing",
            "agent__agent_state__offline_routing",
        )  # fmt: skip
        return {conv.buyer_id: conv for conv in rows}

    by_id = {buyer.pk: buyer for buyer in buyers}
    convs = locked(sorted(by_id))
    missing = [buyer for pk, buyer in sorted(by_id.items()) if pk not in convs]
    if missing:
        Conversation.objects.bulk_create(
            [Conversation(shop_id=b.shop_id, buyer=b, state=ConversationState.ROBOT) for b in missing],
            ignore_conflicts=True,
        )
        convs |= locked([buyer.pk for buyer in missing])
    return convs


def _agent_gone(conv: Conversation) -> bool:
    """The chat's agent is offline and takes no offline routing, so a buyer's message sends the chat back to
    routing. An agent without a routing state never came online: offline, routed (the defaults)."""
    if conv.state != ConversationState.ACTIVE or conv.agent_id is None:
        return False
    state = getattr(conv.agent, "agent_state", None) or AgentState(staff_id=conv.agent_id)
    return state.status == AgentStatus.OFFLINE and state.routing and not state.offline_routing


def _back_to_routing(convs: list[Conversation]) -> set[int]:
    """Free the seats of these (locked) chats, agent rows in staff order like every other writer of loads,
    and mark the chats for routing (done after commit); the shops to route."""
    for conv in sorted(convs, key=lambda c: c.agent_id or 0):
        _release_seat(conv.agent_id or 0)
    Conversation.objects.filter(pk__in=[conv.pk for conv in convs]).update(
        state=ConversationState.ROUTING, agent=None
    )
    return {conv.shop_id for conv in convs}


def post_agent_message(
    *, agent: StaffAccount, conversation: Conversation, text: str, client_msg_id: str = "",
    card: dict[str, Any] | None = None,
) -> Message:  # fmt: skip
    """An agent's reply: stops the reply timer and stores the response delay (the first one separately).
    Only the chat's agent may reply; an ended chat is repliable for 72 hours, not after."""
    _check_text(text)
    if conversation.shop_id != agent.shop_id:
        raise NotFound(_("No such conversation in this shop."))
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.agent_id != agent.pk:
            raise Forbidden(_("This chat is not yours."))
        now = timezone.now()
        if conv.state == ConversationState.ENDED:
            if conv.ended_at is None or now - conv.ended_at > HISTORY_REPLY_WINDOW:
                raise Invalid(_("This chat ended more than 72 hours ago and can no longer be replied to."))
        elif conv.state != ConversationState.ACTIVE:
            raise Conflict(_("This chat is not with an agent."))
        if (earlier := _stored_sends([conv], [client_msg_id]).get((conv.pk, client_msg_id))) is not None:
            return earlier
        waited_from = conv.waiting_since if conv.state == ConversationState.ACTIVE else None
        also: tuple[str, ...] = ()
        if waited_from is not None:  # the reply stops the timer, saved with the message's seq
            seconds = (now - waited_from).total_seconds()
            first = conv.first_response_seconds is None
            conv.waiting_since = None
            if first:
                conv.first_response_seconds = seconds
            also = ("waiting_since", "first_response_seconds")
        message = _append(
            conv, sender=SenderKind.AGENT, text=text, agent=agent, client_msg_id=client_msg_id, card=card,
            also=also,
        )  # fmt: skip
        if waited_from is not None:
            ReplyDelay.objects.create(
                conversation=conv, agent=agent, waited_from=waited_from, replied_at=now, seconds=seconds,
                is_first=first,
            )  # fmt: skip
            events.publish(
                events.to_conversation(
                    conv, events.Timer(conversation=conv.pk, waiting_since=None), buyer=False
                )
            )
    return message


# --- proactive sessions and ratings ------------------------------------------------------------------------


def find_proactive_buyers(*, shop: Shop, query: str) -> list[Buyer]:
    """Buyers found by order number or nickname who ordered in the last 30 days (主动发起会话)."""
    query = query.strip()
    if not query:
        return []
    since = timezone.now() - PROACTIVE_ORDER_WINDOW
    recent = Order.objects.for_shop(shop).filter(created_at__gte=since)
    by_order = recent.filter(number=query).values("buyer_id")
    by_nick = recent.filter(buyer__nickname__icontains=query).values("buyer_id")
    return list(
        Buyer.objects.for_shop(shop).filter(Q(pk__in=by_order) | Q(pk__in=by_nick)).order_by("nickname")[:20]
    )


def start_proactive(*, agent: StaffAccount, buyer: Buyer) -> Conversation:
    """An agent opens a chat with a buyer who ordered in the last 30 days; uses one of the agent's seats."""
    if buyer.shop_id != agent.shop_id:
        raise NotFound(_("No such buyer in this shop."))
    if not agent.im_enabled:
        raise Forbidden(_("This account has no IM permission."))
    if not Order.objects.filter(
        buyer=buyer, created_at__gte=timezone.now() - PROACTIVE_ORDER_WINDOW
    ).exists():
        raise Invalid(_("Only buyers with an order in the last 30 days can be contacted."))
    with transaction.atomic():
        open_conv = _locked_open_conversation(buyer)
        if open_conv is not None and open_conv.state == ConversationState.ACTIVE:
            raise Conflict(
                _("This buyer is already in a chat with %(name)s.")
                % {"name": getattr(open_conv.agent, "display_name", "")}
            )
        agent_state(agent)
        if not _reserve_seat(agent.pk, require_online=False):
            raise Invalid(_("You are at your reception limit."))
        now = timezone.now()
        conv = open_conv or Conversation(shop_id=agent.shop_id, buyer=buyer)
        conv.proactive = open_conv is None
        conv.last_buyer_message_at = now  # the 15-minute auto-end clock starts when the agent opens the chat
        conv.save()
        _assign(conv, agent.pk, now=now)
        conv.waiting_since = None  # nobody is waiting for a reply: the agent speaks first
        conv.save(update_fields=[*ASSIGN_FIELDS, "last_buyer_message_at", "proactive"])
        _decide(conv, rule="proactive", outcome="assigned", winner=agent.pk)
        events.publish(_assigned_event(conv, "proactive", agent.display_name))
    return conv


def invite_rating(*, agent: StaffAccount, conversation: Conversation) -> Message:
    """The agent sends a rating card (邀请评价)."""
    if conversation.agent_id != agent.pk:
        raise Forbidden(_("This chat is not yours."))
    if conversation.state != ConversationState.ACTIVE:
        raise Conflict(_("Ratings can only be invited during an active chat."))
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        message = _append(
            conv, sender=SenderKind.SYSTEM, text=_("Please rate this chat"), agent=agent, client_msg_id="",
            card={"kind": "rating_invite"},
        )  # fmt: skip
        invite = events.RatingInvite(conversation=conv.pk, agent_name=agent.display_name)
        events.publish(events.to_conversation(conv, invite, agent=False))
        return message


def post_agent_card(
    *, agent: StaffAccount, conversation: Conversation, kind: str, object_id: int, client_msg_id: str = ""
) -> Message:
    """The agent sends a product card (a product of the shop) into an active chat; the text carries the
    product's title for clients and transcripts without cards."""
    if kind != "product":
        raise Invalid(_("Unknown card kind %(kind)s.") % {"kind": kind})
    product = Product.objects.filter(pk=object_id, shop_id=agent.shop_id).first()
    if product is None:
        raise NotFound(_("No such product in this shop."))
    card = {
        "kind": "product", "id": product.pk, "title": product.title, "price": str(product.price),
        "image_url": product.image_url, "url": product.url,
    }  # fmt: skip
    return post_agent_message(
        agent=agent, conversation=conversation, text=product.title, client_msg_id=client_msg_id, card=card
    )


def rateable(conversation: Conversation) -> bool:
    """A chat with an agent can be rated while it lasts and for ``RATING_WINDOW`` after it ended: most buyers
    rate when the agent ends the chat, or when they come back to it."""
    if conversation.agent_id is None:
        return False
    if conversation.state == ConversationState.ACTIVE:
        return True
    ended_at = conversation.ended_at
    return (
        conversation.state == ConversationState.ENDED
        and ended_at is not None
        and timezone.now() - ended_at <= RATING_WINDOW
    )


def rating_target(buyer: Buyer) -> Conversation | None:
    """The buyer's chat that the rating menu rates: the newest one still ``rateable`` (the same rule, as a
    query), with its agent and rating (if any) loaded."""
    since = timezone.now() - RATING_WINDOW
    return (
        Conversation.objects.filter(buyer=buyer, agent__isnull=False)
        .filter(Q(state=ConversationState.ACTIVE) | Q(state=ConversationState.ENDED, ended_at__gte=since))
        .select_related("agent", "rating")
        .order_by("-pk")
        .first()
    )


def rate(*, buyer: Buyer, conversation: Conversation, stars: int) -> tuple[Rating, str]:
    """One rating per chat with an agent, changeable while the chat is ``rateable`` (in progress, or ended
    less than ``RATING_WINDOW`` ago); the rating counts for the agent who served last; the thank-you names
    them."""
    if conversation.buyer_id != buyer.pk:
        raise NotFound(_("No such conversation."))
    if not 1 <= stars <= 5:
        raise Invalid(_("Choose 1 to 5 stars."))
    agent_id = conversation.agent_id
    if agent_id is None or not rateable(conversation):
        raise Conflict(_("A chat with an agent can be rated until a day after it ended."))
    rating, _created = Rating.objects.update_or_create(
        conversation=conversation, defaults={"stars": stars, "agent_id": agent_id}
    )
    name = StaffAccount.objects.get(pk=agent_id).display_name
    thanks = _("Thank you for rating agent %(name)s") % {"name": name}
    events.publish(
        events.to_conversation(
            conversation, events.Rated(conversation=conversation.pk, stars=stars, thanks=thanks)
        )
    )
    return rating, thanks


def load_matches_open_sessions(shop: Shop) -> list[tuple[int, int, int]]:
    """Agents whose seat count differs from their active chats: (staff_id, load, active)."""
    active = dict(
        Conversation.objects.for_shop(shop).filter(state=ConversationState.ACTIVE)
        .values_list("agent_id").annotate(n=Count("pk")).values_list("agent_id", "n")
    )  # fmt: skip
    return [
        (s.staff_id, s.load, active.get(s.staff_id, 0))
        for s in AgentState.objects.for_shop(shop)
        if s.load != active.get(s.staff_id, 0)
    ]
