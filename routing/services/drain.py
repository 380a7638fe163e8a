"""Serving the queue and the message pool: the drain that runs whenever a seat comes free (an end, an
auto-end, a transfer, a raised limit, an agent coming online; it also works off the message pool when the
shop turns that on), an agent taking a waiting chat by hand, and a supervisor or the pool's holder handing
message-pool chats to agents, one or all at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Role, Shop, StaffAccount
from routing import events
from routing.access import require_supervisor
from routing.models import (
    AgentGroup,
    AgentStatus,
    Conversation,
    ConversationState,
    DecisionOutcome,
    DecisionRule,
    RoutingSettings,
)
from routing.models import RoutingDecision as Decision
from routing.services.batch import ASSIGN_FIELDS, assign, assigned_event, decide, decision, write_batch
from routing.services.queue import pool_in_order, queue_in_order, queue_updates
from routing.services.rules import Candidate, pick_agent, pool_of, routable
from routing.services.seats import (
    agent_state,
    load_agents,
    lock_routing_settings,
    require_receiver,
    reserve_seat,
    routing_settings,
)

ROUTING_BATCH = 500


@dataclass
class _Serving:
    """A drain in progress: the shop's agents (locked, loads counted in memory), what it assigned so far, and
    the message-pool holders whose chats it handed out (they are told the chat left them)."""

    agents: dict[int, Candidate]
    include_owner: bool
    limit: int
    now: datetime
    done: list[Conversation] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    holders: dict[int, int] = field(default_factory=dict)  # conversation -> the pool holder it left

    def free_seats(self) -> int:
        pool = routable(self.agents, group_ids=None, include_owner=self.include_owner)
        return sum(a.max - a.load for a in pool if a.load < a.max)


def _serve(serving: _Serving, heads: QuerySet[Conversation], rule: DecisionRule) -> int:
    """Assign the chats of ``heads`` (queue or pool, in their order) while seats are free, each to the best
    free agent of its group (any online agent when nobody of the group is online); a head whose group is
    full stays and the heads of other groups are still served. Heads are claimed with SKIP LOCKED."""
    blocked: set[int | None] = set()
    served = 0
    while len(serving.done) < serving.limit:
        free_seats = serving.free_seats()
        if not free_seats:
            break
        todo = heads.exclude(pk__in=[c.pk for c in serving.done])
        todo = todo.exclude(group_id__in=[g for g in blocked if g is not None])
        if None in blocked:
            todo = todo.exclude(group__isnull=True)
        claimed = todo.select_for_update(skip_locked=True, of=("self",)).select_related("buyer")
        chunk = list(claimed[: min(free_seats, serving.limit - len(serving.done))])
        if not chunk:
            break
        for conv in chunk:
            if conv.group_id in blocked:
                continue
            group_ids = {conv.group_id} if conv.group_id is not None else None
            pool, _fallback = pool_of(
                serving.agents, group_ids=group_ids, include_owner=serving.include_owner
            )
            chosen = pick_agent([c for c in pool if c.load < c.max])
            if chosen is None:
                blocked.add(conv.group_id)
                continue
            serving.decisions.append(
                decision(
                    conv,
                    rule=rule,
                    outcome=DecisionOutcome.ASSIGNED,
                    winner=chosen.staff_id,
                    candidates=pool,
                    group=conv.group,
                )
            )
            if conv.state == ConversationState.POOL and conv.agent_id is not None:
                serving.holders[conv.pk] = conv.agent_id
            chosen.load += 1
            assign(conv, chosen.staff_id, now=serving.now)
            serving.done.append(conv)
            served += 1
    return served


def _drain(shop: Shop, *, handing_out: bool, limit: int) -> int:
    """A router's pass: the queue, then the message pool when the shop drains it automatically (the queue's
    buyers are waiting now); ``handing_out``: the message pool only (a person hands it out). The settings
    lock and the agent rows locked, as every router; one write for all it assigned."""
    with transaction.atomic():
        settings = lock_routing_settings(shop.pk)
        agents = load_agents(shop.pk, lock=True)
        before = {a.staff_id: a.load for a in agents.values()}
        include_owner = settings.owner_routes_in_simple_mode or AgentGroup.objects.filter(shop=shop).exists()
        serving = _Serving(agents, include_owner, limit, timezone.now())
        from_queue = 0
        if not handing_out:
            from_queue = _serve(serving, queue_in_order(shop, settings), DecisionRule.QUEUE_DRAIN)
        if handing_out or settings.pool_auto_drain:
            rule = DecisionRule.POOL_REASSIGNED if handing_out else DecisionRule.POOL_DRAIN
            _serve(serving, pool_in_order(shop), rule)
        write_batch(
            shop.pk, settings, serving.done, agents, before, serving.decisions, queue_moved=bool(from_queue)
        )
        events.publish(
            [
                left_pool(conv, serving.holders[conv.pk], agents[conv.agent_id or 0].name)
                for conv in serving.done
                if conv.pk in serving.holders
            ]
        )
    return len(serving.done)


def left_pool(conv: Conversation, holder_id: int, agent_name: str) -> tuple[str, events.Event]:
    """The message-pool holder's tabs learn that the chat went to an agent (as a transfer away from them)."""
    moved = events.Transferred(
        conversation=conv.pk,
        from_agent_id=holder_id,
        to_agent_id=conv.agent_id or 0,
        agent_name=agent_name,
        note="",
    )
    return events.agent_group(holder_id), moved


def drain_queue(*, shop: Shop, limit: int = ROUTING_BATCH) -> int:
    """Assign queued chats while seats are free, in the configured order (``_serve``). Runs whenever a seat
    comes free or an agent comes online; with the shop's ``pool_auto_drain`` on, message-pool chats (oldest
    first) take the seats the queue left. The chats assigned."""
    return _drain(shop, handing_out=False, limit=limit)


def require_pool_keeper(by: StaffAccount, settings_holder: int | None) -> None:
    """Who hands out message-pool chats: a supervisor (``MANAGE_ROUTING``) or the pool's holder."""
    if settings_holder != by.pk:
        require_supervisor(by)


def pool_holder(shop_id: int, settings: RoutingSettings) -> int:
    """The account holding the shop's message pool: the configured service assistant while active, else
    the owner."""
    holder = settings.pool_holder_id
    if holder and StaffAccount.objects.filter(pk=holder, is_active=True).exists():
        return holder
    return StaffAccount.objects.get(shop_id=shop_id, role=Role.OWNER).pk


def reassign_pool(*, shop: Shop, by: StaffAccount, limit: int = ROUTING_BATCH) -> int:
    """A supervisor or the holder hands out the whole message pool at once, oldest first, each chat to the
    best online agent of its group with a free seat (the routing rule); what finds no free seat stays in
    the pool. The chats handed out."""
    if by.shop_id != shop.pk:
        raise NotFound(_("No such shop."))
    require_pool_keeper(by, pool_holder(shop.pk, routing_settings(shop)))
    return _drain(shop, handing_out=True, limit=limit)


def pull_from_queue(*, agent: StaffAccount, conversation: Conversation | None = None) -> Conversation:
    """An agent (non-routing accounts too) takes a waiting chat: a given queued or message-pool one, or the
    head of the queue (the oldest message-pool chat when the queue is empty). Needs a free seat. Of two
    agents pulling the same chat, exactly one wins; the other gets a conflict."""
    if not agent.im_enabled or not agent.is_active:
        raise Forbidden(_("This account has no IM permission."))
    with transaction.atomic():
        if conversation is not None and conversation.shop_id != agent.shop_id:
            raise NotFound(_("No such conversation in this shop."))
        conv = None
        for waiting in (queue_in_order(agent.shop), pool_in_order(agent.shop)):
            if conversation is not None:
                waiting = waiting.filter(pk=conversation.pk)
            conv = waiting.select_for_update(skip_locked=True, of=("self",)).select_related("buyer").first()
            if conv is not None:
                break
        if conv is None:
            raise Conflict(_("That chat is no longer waiting."))
        agent_state(agent)
        if not reserve_seat(agent.pk, require_online=False):
            raise Invalid(_("You are at your reception limit."))
        holder = conv.agent_id if conv.state == ConversationState.POOL else None
        rule = DecisionRule.PULLED_FROM_POOL if holder else DecisionRule.PULLED_FROM_QUEUE
        assign(conv, agent.pk, now=timezone.now())
        conv.save(update_fields=ASSIGN_FIELDS)
        decide(conv, rule=rule, outcome=DecisionOutcome.ASSIGNED, winner=agent.pk)
        sends = assigned_event(conv, rule, agent.display_name)
        if holder is not None:
            sends.append(left_pool(conv, holder, agent.display_name))
        else:
            sends += queue_updates(conv.shop_id)
        events.publish(sends)
    return conv


def reassign_from_pool(
    *, conversation: Conversation, to_agent: StaffAccount, by: StaffAccount
) -> Conversation:
    """A supervisor or the pool's holder hands one message-pool chat to an online agent (who may be full:
    the person handing it out decides, as the seeds allow 客服接待量达到上限后仍然可以对会话进行分配)."""
    if to_agent.shop_id != by.shop_id or conversation.shop_id != by.shop_id:
        raise NotFound(_("No such agent or conversation in this shop."))
    # A pool chat's holder does not change while it waits; for any other chat only a supervisor gets as far
    # as "not in the pool".
    require_pool_keeper(by, conversation.agent_id if conversation.state == ConversationState.POOL else None)
    require_receiver(to_agent)
    with transaction.atomic():
        conv = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("buyer")
            .get(pk=conversation.pk)
        )
        if conv.state != ConversationState.POOL or conv.agent_id is None:
            raise Conflict(_("That chat is not in the message pool."))
        if agent_state(to_agent).status != AgentStatus.ONLINE:
            raise Invalid(_("%(name)s is not online.") % {"name": to_agent.display_name})
        holder = conv.agent_id
        reserve_seat(to_agent.pk, over_limit=True, require_online=False)
        assign(conv, to_agent.pk, now=timezone.now())
        conv.save(update_fields=ASSIGN_FIELDS)
        decide(
            conv,
            rule=DecisionRule.POOL_REASSIGNED,
            outcome=DecisionOutcome.ASSIGNED,
            winner=to_agent.pk,
            note=f"by {by.display_name}",
        )
        events.publish(
            [
                *assigned_event(conv, DecisionRule.POOL_REASSIGNED, to_agent.display_name),
                left_pool(conv, holder, to_agent.display_name),
            ]
        )
    return conv
