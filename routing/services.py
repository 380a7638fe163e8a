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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Buyer, Order, Product, Role, Shop, StaffAccount
from backoffice.services import set_reception_limit as set_staff_reception_limit
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
PROACTIVE_ORDER_WINDOW = timedelta(days=30)
NEW_BUYER_FIRST_PAYMENT_WINDOW = timedelta(days=180)
MAX_TEXT = 2000
DEFAULT_HANDLE_SECONDS = 300.0

_rng = random.SystemRandom()


# --- settings and agent state ------------------------------------------------------------------------------


def routing_settings(shop: Shop) -> RoutingSettings:
    return RoutingSettings.objects.get_or_create(shop=shop)[0]


def agent_state(staff: StaffAccount) -> AgentState:
    """The staff account's routing state, created on first use (offline, load 0, weight 1)."""
    return AgentState.objects.get_or_create(staff=staff, defaults={"shop_id": staff.shop_id})[0]


def set_agent_status(*, staff: StaffAccount, status: str) -> AgentState:
    """Online / busy / offline. Only online agents receive chats; coming online drains the queue."""
    if status not in AgentStatus.values:
        raise Invalid(_("Unknown status %(status)s.") % {"status": status})
    if status == AgentStatus.ONLINE and not staff.im_enabled:
        raise Forbidden(_("This account has no IM permission."))
    state = agent_state(staff)
    AgentState.objects.filter(pk=state.pk).update(status=status, status_changed_at=Now())
    if status == AgentStatus.ONLINE:
        drain_queue(shop=staff.shop)
    state.refresh_from_db()
    return state


def set_reception_limit(*, actor: StaffAccount, staff: StaffAccount, limit: int) -> StaffAccount:
    """The agent's own limit (1 to the shop's cap); a raised limit drains the queue at once."""
    staff = set_staff_reception_limit(actor=actor, staff=staff, limit=limit)
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
    staff_id: int
    name: str
    load: int
    max: int
    weight: int
    group_id: int | None

    @property
    def idle_ratio(self) -> float:
        """空闲率 = (max - current) / max; negative when over the limit."""
        return (self.max - self.load) / self.max

    def trace(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "name": self.name,
            "load": self.load,
            "max": self.max,
            "idle_ratio": round(self.idle_ratio, 4),
            "weight": self.weight,
        }


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


def _candidates(shop: Shop, *, group_ids: list[int] | None, online_only: bool = True) -> list[Candidate]:
    """Routing agents of the shop (optionally of some groups) that may receive chats now."""
    qs = AgentState.objects.for_shop(shop).filter(routing=True, staff__is_active=True, staff__im_enabled=True)
    if online_only:
        qs = qs.filter(status=AgentStatus.ONLINE)
    if group_ids is not None:
        qs = qs.filter(group_id__in=group_ids)
    elif (
        not AgentGroup.objects.for_shop(shop).exists()
        and not routing_settings(shop).owner_routes_in_simple_mode
    ):
        qs = qs.exclude(staff__role=Role.OWNER)
    rows = qs.values_list(
        "staff_id", "staff__display_name", "load", "staff__max_concurrent", "weight", "group_id"
    )
    return [Candidate(*row) for row in rows]


@dataclass
class BuyerContext:
    tags: dict[str, Any]
    product_id: int | None
    intent: str
    order_state: str


def buyer_context(conversation: Conversation) -> BuyerContext:
    latest = Order.objects.filter(buyer_id=conversation.buyer_id).order_by("-created_at").first()
    order_state = "none" if latest is None else latest.status
    return BuyerContext(
        tags=conversation.buyer.tags or {},
        product_id=conversation.source_product_id,
        intent=conversation.intent,
        order_state=order_state,
    )


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


def select_groups(shop: Shop, ctx: BuyerContext) -> tuple[list[AgentGroup], str]:
    """Regular mode: the first scope dimension (crowd > product > intent > order state) that some group
    matches decides; without a match, groups without any scope take the chat, else all groups."""
    groups = list(AgentGroup.objects.for_shop(shop).prefetch_related("products"))
    if not groups:
        return [], "simple_mode"
    scopes = {g.pk: {p.pk for p in g.products.all()} for g in groups}
    for dimension in SCOPE_PRIORITY:
        matching = [g for g in groups if _matches(g, dimension, ctx, scopes[g.pk])]
        if matching:
            return matching, f"group_by_{dimension}"
    unscoped = [g for g in groups if not (g.crowd or scopes[g.pk] or g.intents or g.order_states)]
    return (unscoped or groups), "group_default"


def is_new_buyer(buyer: Buyer, now: datetime) -> bool:
    """新客: one purchase in the last 30 days and a first payment within 180 days."""
    if buyer.first_paid_at is None or buyer.first_paid_at < now - NEW_BUYER_FIRST_PAYMENT_WINDOW:
        return False
    paid = Order.objects.filter(buyer=buyer, paid_at__gte=now - timedelta(days=30)).count()
    return paid == 1


def _returning_agent(conversation: Conversation, now: datetime) -> StaffAccount | None:
    """The human agent this buyer talked to in the last 72 h, if any."""
    previous = (
        Conversation.objects.filter(
            buyer_id=conversation.buyer_id, agent__isnull=False, assigned_at__isnull=False
        )
        .exclude(pk=conversation.pk)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=now - RETURNING_BUYER_WINDOW))
        .exclude(state=ConversationState.POOL)
        .select_related("agent")
        .order_by("-assigned_at")
        .first()
    )
    return previous.agent if previous else None


def _assign(conv: Conversation, staff_id: int, *, now: datetime) -> None:
    conv.state = ConversationState.ACTIVE
    conv.agent_id = staff_id
    conv.assigned_at = now
    conv.queued_at = None
    conv.waiting_since = now  # reply timer starts at assignment
    conv.save(
        update_fields=["state", "agent", "assigned_at", "queued_at", "waiting_since", "group", "priority"]
    )


def _decide(
    conv: Conversation, *, rule: str, outcome: str, winner: int | None = None,
    candidates: list[Candidate] = (), group: AgentGroup | None = None, note: str = "",  # type: ignore[assignment]
) -> RoutingDecision:  # fmt: skip
    return RoutingDecision.objects.create(
        conversation=conv,
        rule=rule,
        outcome=outcome,
        winner_id=winner,
        group=group,
        candidates=[c.trace() for c in candidates],
        note=note,
    )


def _place(conv: Conversation, candidates: list[Candidate], *, over_limit: bool = False) -> Candidate | None:
    """Pick the best candidate and reserve their seat; on a lost race try the next best."""
    remaining = list(candidates)
    while remaining:
        chosen = pick_agent(remaining)
        assert chosen is not None
        if _reserve_seat(chosen.staff_id, over_limit=over_limit):
            return chosen
        remaining.remove(chosen)
    return None


def route(conversation: Conversation, *, exclude_staff_id: int | None = None) -> RoutingDecision:
    """The routing pipeline, in the glossary's order; records a routing trace of every decision.

    1 returning buyer (online agent of the last 72 h, even when full) -> 2 new-buyer priority ->
    3 group selection -> 4 agent selection by idle ratio and weight -> 5 queue (or no-queue mode) ->
    6 offline handling (offline-routing list, else the message pool).
    """
    shop = conversation.shop
    settings = routing_settings(shop)
    now = timezone.now()
    with transaction.atomic():
        conv = (
            Conversation.objects.select_for_update().select_related("buyer", "shop").get(pk=conversation.pk)
        )
        if conv.state in (ConversationState.ACTIVE, ConversationState.ENDED):
            raise Conflict(_("This conversation is not waiting for an agent."))

        returning = _returning_agent(conv, now)
        returning_note = ""
        if (
            returning is not None
            and returning.pk != exclude_staff_id
            and returning.is_active
            and returning.im_enabled
        ):
            state = agent_state(returning)
            if state.status == AgentStatus.ONLINE and state.routing:
                _reserve_seat(returning.pk, over_limit=True)
                _assign(conv, returning.pk, now=now)
                return _decide(conv, rule="returning_buyer", outcome="assigned", winner=returning.pk)
            returning_note = f"returning buyer's agent {returning.display_name} is {state.status}"

        if settings.new_buyer_priority and is_new_buyer(conv.buyer, now):
            conv.priority = True

        groups, rule = select_groups(shop, buyer_context(conv))
        group_ids = [g.pk for g in groups] if groups else None
        conv.group = groups[0] if groups else None
        pool = [c for c in _candidates(shop, group_ids=group_ids) if c.staff_id != exclude_staff_id]
        if not pool and groups:
            # The chosen group has nobody online: any other online agent (Taobao: 其他任一在线客服).
            pool = [c for c in _candidates(shop, group_ids=None) if c.staff_id != exclude_staff_id]
            rule = "any_online_agent" if pool else rule

        if pool:
            free = [c for c in pool if c.load < c.max]
            chosen = _place(conv, free)
            if chosen is not None:
                _assign(conv, chosen.staff_id, now=now)
                return _decide(conv, rule=f"{rule}/idle_ratio", outcome="assigned", winner=chosen.staff_id,
                               candidates=pool, group=conv.group, note=returning_note)  # fmt: skip
            if settings.no_queue:
                chosen = _place(conv, pool, over_limit=True)
                if chosen is not None:
                    _assign(conv, chosen.staff_id, now=now)
                    return _decide(conv, rule=f"{rule}/no_queue", outcome="assigned", winner=chosen.staff_id,
                                   candidates=pool, group=conv.group, note=returning_note)  # fmt: skip
            conv.state = ConversationState.QUEUED
            conv.queued_at = conv.queued_at or now
            conv.save(update_fields=["state", "queued_at", "group", "priority"])
            return _decide(conv, rule=f"{rule}/all_full", outcome="queued", candidates=pool, group=conv.group,
                           note=returning_note)  # fmt: skip

        return _offline(conv, settings, now=now, note=returning_note, exclude_staff_id=exclude_staff_id)


def _offline(
    conv: Conversation, settings: RoutingSettings, *, now: datetime, note: str, exclude_staff_id: int | None
) -> RoutingDecision:
    """Everyone offline: spread evenly over the offline-routing list, else the message pool."""
    if settings.offline_routing:
        on_list = set(
            AgentState.objects.for_shop(conv.shop)
            .filter(offline_routing=True)
            .values_list("staff_id", flat=True)
        )
        listed = [
            c for c in _candidates(conv.shop, group_ids=None, online_only=False)
            if c.staff_id in on_list and c.staff_id != exclude_staff_id
        ]  # fmt: skip
        if listed:
            fewest = min(c.load for c in listed)
            chosen = _rng.choice([c for c in listed if c.load == fewest])
            _reserve_seat(chosen.staff_id, over_limit=True, require_online=False)
            _assign(conv, chosen.staff_id, now=now)
            return _decide(conv, rule="offline_routing", outcome="assigned", winner=chosen.staff_id,
                           candidates=listed, note=note)  # fmt: skip
    holder = settings.pool_holder or StaffAccount.objects.get(shop_id=conv.shop_id, role=Role.OWNER)
    conv.state = ConversationState.POOL
    conv.agent = holder
    conv.queued_at = conv.queued_at or now
    conv.save(update_fields=["state", "agent", "queued_at", "group", "priority"])
    return _decide(conv, rule="message_pool", outcome="pool", winner=holder.pk, note=note)


def _locked_open_conversation(buyer: Buyer) -> Conversation | None:
    """The buyer's open (not ended) conversation, row-locked; at most one exists (a unique constraint)."""
    return (
        Conversation.objects.select_for_update()
        .filter(buyer=buyer)
        .exclude(state=ConversationState.ENDED)
        .first()
    )


def request_human(
    *, buyer: Buyer, source_product: Product | None = None, intent: str = ""
) -> tuple[Conversation, RoutingDecision | None]:
    """A buyer asks for a human (or the robot hands over): open a conversation if none is open, then route it.

    A conversation that already has an agent, or is already queued, is returned as it is.
    """
    with transaction.atomic():
        conv = _locked_open_conversation(buyer)
        if conv is None:
            conv = Conversation.objects.create(
                shop_id=buyer.shop_id, buyer=buyer, source_product=source_product, intent=intent,
                last_buyer_message_at=timezone.now(),
            )  # fmt: skip
        elif conv.state != ConversationState.ROBOT:
            return conv, None
    decision = route(conv)
    return Conversation.objects.select_related("shop", "buyer", "agent").get(pk=conv.pk), decision


# --- queue -------------------------------------------------------------------------------------------------


def queue_in_order(shop: Shop) -> Any:
    """Queued chats of the shop in the order they are served: new buyers first, then FIFO or LIFO."""
    order = "queued_at" if routing_settings(shop).queue_order == QueueOrder.FIFO else "-queued_at"
    return (
        Conversation.objects.for_shop(shop)
        .filter(state=ConversationState.QUEUED)
        .order_by("-priority", order, "pk")
    )


def queue_position(conversation: Conversation) -> tuple[int, int]:
    """(position from 1, wait estimate in seconds): the chats ahead in the same queue, served in parallel by
    the group's online agents, each taking the shop's average session length (5 minutes until measured)."""
    ids = list(
        queue_in_order(conversation.shop).filter(group_id=conversation.group_id).values_list("pk", flat=True)
    )
    if conversation.pk not in ids:
        return 0, 0
    position = ids.index(conversation.pk) + 1
    agents = max(
        1,
        len(
            _candidates(
                conversation.shop, group_ids=[conversation.group_id] if conversation.group_id else None
            )
        ),
    )
    recent = Conversation.objects.for_shop(conversation.shop).filter(
        state=ConversationState.ENDED,
        assigned_at__isnull=False,
        ended_at__gte=timezone.now() - timedelta(days=7),
    )[:200]
    lengths = [(c.ended_at - c.assigned_at).total_seconds() for c in recent if c.ended_at and c.assigned_at]
    handle = sum(lengths) / len(lengths) if lengths else DEFAULT_HANDLE_SECONDS
    return position, int(-(-position // agents) * handle)


def drain_queue(*, shop: Shop, limit: int = 500) -> int:
    """Assign queued chats while seats are free, in the configured order. Each head is claimed with
    SKIP LOCKED, so concurrent drains never take the same chat; a head that finds no free seat stays queued
    and ends this pass for its group."""
    assigned = 0
    blocked_groups: set[int | None] = set()
    while assigned < limit:
        with transaction.atomic():
            head = queue_in_order(shop).exclude(group_id__in=[g for g in blocked_groups if g is not None])
            if None in blocked_groups:
                head = head.exclude(group__isnull=True)
            conv = head.select_for_update(skip_locked=True).select_related("buyer", "shop").first()
            if conv is None:
                return assigned
            group_ids = None
            if conv.group_id is not None:
                group_ids = [conv.group_id]
                if not _candidates(shop, group_ids=group_ids):
                    group_ids = None  # nobody of the group online: any online agent
            pool = _candidates(shop, group_ids=group_ids)
            chosen = _place(conv, [c for c in pool if c.load < c.max])
            if chosen is None:
                blocked_groups.add(conv.group_id)
                continue
            now = timezone.now()
            _assign(conv, chosen.staff_id, now=now)
            _decide(conv, rule="queue_drain/idle_ratio", outcome="assigned", winner=chosen.staff_id,
                    candidates=pool, group=conv.group)  # fmt: skip
            assigned += 1
    return assigned


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
        conv = qs.select_for_update(skip_locked=True).first()
        if conv is None:
            raise Conflict(_("That chat is no longer in the queue."))
        agent_state(agent)
        if not _reserve_seat(agent.pk, require_online=False):
            raise Invalid(_("You are at your reception limit."))
        _assign(conv, agent.pk, now=timezone.now())
        _decide(conv, rule="pulled_from_queue", outcome="assigned", winner=agent.pk)
    return conv


def reassign_from_pool(
    *, conversation: Conversation, to_agent: StaffAccount, by: StaffAccount
) -> Conversation:
    """A supervisor hands a message-pool chat to an agent (who may be full: the supervisor decides)."""
    _require_supervisor(by)
    if to_agent.shop_id != by.shop_id or conversation.shop_id != by.shop_id:
        raise NotFound(_("No such agent or conversation in this shop."))
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.state != ConversationState.POOL:
            raise Conflict(_("That chat is not in the message pool."))
        agent_state(to_agent)
        _reserve_seat(to_agent.pk, over_limit=True, require_online=False)
        _assign(conv, to_agent.pk, now=timezone.now())
        _decide(
            conv, rule="pool_reassigned", outcome="assigned", winner=to_agent.pk, note=f"by {by.display_name}"
        )
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
        if agent_state(to_agent).status != AgentStatus.ONLINE:
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
                .values_list("pk", "agent_id", "shop_id")[:batch]
            )
            if not rows:
                break
            ids = [pk for pk, _a, _s in rows]
            Conversation.objects.filter(pk__in=ids).update(
                state=ConversationState.ENDED, ended_at=Now(), end_reason=EndReason.AUTO, waiting_since=None
            )
            per_agent: dict[int, int] = {}
            for _pk, agent_id, shop_id in rows:
                per_agent[agent_id] = per_agent.get(agent_id, 0) + 1
                shops.add(shop_id)
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


def _resent(conv: Conversation, client_msg_id: str) -> Message | None:
    """The stored message of an earlier send with the same client_msg_id: a resend writes nothing and
    changes no timer."""
    if not client_msg_id:
        return None
    return Message.objects.filter(conversation=conv, client_msg_id=client_msg_id).first()


def _append(
    conv: Conversation, *, sender: str, text: str, agent: StaffAccount | None, client_msg_id: str
) -> Message:
    conv.last_seq += 1
    conv.save(update_fields=["last_seq"])
    return Message.objects.create(
        conversation=conv,
        seq=conv.last_seq,
        sender=sender,
        agent=agent,
        text=text,
        client_msg_id=client_msg_id,
    )


def post_buyer_message(*, buyer: Buyer, text: str, client_msg_id: str = "") -> Message:
    """A buyer's message. The reply timer restarts when it was stopped (it keeps running from the first
    unanswered message otherwise); a message to an offline routed agent is re-routed to an online one; after
    the end, a new message starts a new session and a new routing."""
    _check_text(text)
    with transaction.atomic():
        conv = _locked_open_conversation(buyer)
        if conv is None:
            conv = Conversation.objects.create(
                shop_id=buyer.shop_id, buyer=buyer, state=ConversationState.ROBOT
            )
        elif (earlier := _resent(conv, client_msg_id)) is not None:
            return earlier
        now = timezone.now()
        message = _append(conv, sender=SenderKind.BUYER, text=text, agent=None, client_msg_id=client_msg_id)
        conv.last_buyer_message_at = now
        fields = ["last_buyer_message_at"]
        if conv.state == ConversationState.ACTIVE and conv.waiting_since is None:
            conv.waiting_since = now
            fields.append("waiting_since")
        conv.save(update_fields=fields)
        reroute = False
        if conv.state == ConversationState.ACTIVE and conv.agent_id is not None:
            state = AgentState.objects.get_or_create(
                staff_id=conv.agent_id, defaults={"shop_id": conv.shop_id}
            )[0]
            if state.status == AgentStatus.OFFLINE and state.routing and not state.offline_routing:
                _release_seat(conv.agent_id)
                previous = conv.agent_id
                Conversation.objects.filter(pk=conv.pk).update(state=ConversationState.QUEUED, agent=None)
                reroute = True
    if reroute:
        route(Conversation.objects.select_related("shop", "buyer").get(pk=conv.pk), exclude_staff_id=previous)
    return message


def post_agent_message(
    *, agent: StaffAccount, conversation: Conversation, text: str, client_msg_id: str = ""
) -> Message:
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
        if (earlier := _resent(conv, client_msg_id)) is not None:
            return earlier
        message = _append(conv, sender=SenderKind.AGENT, text=text, agent=agent, client_msg_id=client_msg_id)
        if conv.waiting_since is not None and conv.state == ConversationState.ACTIVE:
            seconds = (now - conv.waiting_since).total_seconds()
            first = conv.first_response_seconds is None
            ReplyDelay.objects.create(
                conversation=conv,
                agent=agent,
                waited_from=conv.waiting_since,
                replied_at=now,
                seconds=seconds,
                is_first=first,
            )
            conv.waiting_since = None
            if first:
                conv.first_response_seconds = seconds
            conv.save(update_fields=["waiting_since", "first_response_seconds"])
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
        conv.save(update_fields=["waiting_since", "last_buyer_message_at", "proactive"])
        _decide(conv, rule="proactive", outcome="assigned", winner=agent.pk)
    return conv


def invite_rating(*, agent: StaffAccount, conversation: Conversation) -> Message:
    """The agent sends a rating card (邀请评价)."""
    if conversation.agent_id != agent.pk:
        raise Forbidden(_("This chat is not yours."))
    if conversation.state != ConversationState.ACTIVE:
        raise Conflict(_("Ratings can only be invited during an active chat."))
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        return _append(conv, sender=SenderKind.SYSTEM, text="rating_invite", agent=agent, client_msg_id="")


def rate(*, buyer: Buyer, conversation: Conversation, stars: int) -> tuple[Rating, str]:
    """One rating per session, changeable while the session lasts; the thank-you names the agent."""
    if conversation.buyer_id != buyer.pk:
        raise NotFound(_("No such conversation."))
    if not 1 <= stars <= 5:
        raise Invalid(_("Choose 1 to 5 stars."))
    if conversation.agent_id is None or conversation.state != ConversationState.ACTIVE:
        raise Conflict(_("Only a chat in progress with an agent can be rated."))
    rating, _created = Rating.objects.update_or_create(
        conversation=conversation, defaults={"stars": stars, "agent_id": conversation.agent_id}
    )
    name = StaffAccount.objects.get(pk=conversation.agent_id).display_name
    return rating, _("Thank you for rating agent %(name)s") % {"name": name}


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
