"""Serving the queue: the drain that runs whenever a seat comes free (an end, an auto-end, a transfer, a
raised limit, an agent coming online), an agent taking a queued chat by hand, and a supervisor handing a
message-pool chat to an agent."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Shop, StaffAccount
from routing import events
from routing.access import require_supervisor
from routing.models import AgentGroup, Conversation, ConversationState, DecisionOutcome, DecisionRule
from routing.models import RoutingDecision as Decision
from routing.services.batch import ASSIGN_FIELDS, assign, assigned_event, decide, decision, write_batch
from routing.services.queue import queue_in_order, queue_updates
from routing.services.rules import pick_agent, pool_of, routable
from routing.services.seats import agent_state, load_agents, lock_routing_settings, reserve_seat

ROUTING_BATCH = 500


def drain_queue(*, shop: Shop, limit: int = ROUTING_BATCH) -> int:
    """Assign queued chats while seats are free, in the configured order, to the best free agent of the
    chat's group (any online agent when nobody of the group is online). Runs as a router: the settings lock
    and the agent rows locked, heads claimed with SKIP LOCKED. A head whose group is full stays queued and
    the heads of other groups are still served."""
    with transaction.atomic():
        settings = lock_routing_settings(shop.pk)
        agents = load_agents(shop.pk, lock=True)
        before = {a.staff_id: a.load for a in agents.values()}
        include_owner = settings.owner_routes_in_simple_mode or AgentGroup.objects.filter(shop=shop).exists()
        blocked: set[int | None] = set()
        done: list[Conversation] = []
        decisions: list[Decision] = []
        now = timezone.now()
        while len(done) < limit:
            free_seats = sum(
                a.max - a.load
                for a in routable(agents, group_ids=None, include_owner=include_owner)
                if a.load < a.max
            )
            if not free_seats:
                break
            heads = queue_in_order(shop, settings).exclude(pk__in=[c.pk for c in done])
            heads = heads.exclude(group_id__in=[g for g in blocked if g is not None])
            if None in blocked:
                heads = heads.exclude(group__isnull=True)
            claimed = heads.select_for_update(skip_locked=True, of=("self",)).select_related("buyer")
            chunk = list(claimed[: min(free_seats, limit - len(done))])
            if not chunk:
                break
            for conv in chunk:
                if conv.group_id in blocked:
                    continue
                group_ids = {conv.group_id} if conv.group_id is not None else None
                pool, _fallback = pool_of(agents, group_ids=group_ids, include_owner=include_owner)
                chosen = pick_agent([c for c in pool if c.load < c.max])
                if chosen is None:
                    blocked.add(conv.group_id)
                    continue
                decisions.append(
                    decision(
                        conv,
                        rule=DecisionRule.QUEUE_DRAIN,
                        outcome=DecisionOutcome.ASSIGNED,
                        winner=chosen.staff_id,
                        candidates=pool,
                        group=conv.group,
                    )
                )
                chosen.load += 1
                assign(conv, chosen.staff_id, now=now)
                done.append(conv)
        write_batch(shop.pk, settings, done, agents, before, decisions, queue_moved=bool(done))
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
        if not reserve_seat(agent.pk, require_online=False):
            raise Invalid(_("You are at your reception limit."))
        assign(conv, agent.pk, now=timezone.now())
        conv.save(update_fields=ASSIGN_FIELDS)
        decide(conv, rule=DecisionRule.PULLED_FROM_QUEUE, outcome=DecisionOutcome.ASSIGNED, winner=agent.pk)
        events.publish(
            [
                *assigned_event(conv, DecisionRule.PULLED_FROM_QUEUE, agent.display_name),
                *queue_updates(conv.shop_id),
            ]
        )
    return conv


def reassign_from_pool(
    *, conversation: Conversation, to_agent: StaffAccount, by: StaffAccount
) -> Conversation:
    """A supervisor hands a message-pool chat to an agent (who may be full: the supervisor decides)."""
    require_supervisor(by)
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
        events.publish(assigned_event(conv, DecisionRule.POOL_REASSIGNED, to_agent.display_name))
    return conv
