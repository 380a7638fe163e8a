"""The batch writer shared by routing (``arrivals``) and the queue drain (``drain``): a decision's fields
set on the locked conversations, then one statement each for the conversations, the loads and the traces,
and the events after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Case, Value, When

from backoffice.models import StaffAccount
from routing import events
from routing.access import is_supervisor
from routing.models import (
    AgentGroup,
    AgentState,
    Conversation,
    ConversationState,
    DecisionOutcome,
    DecisionRule,
    RoutingDecision,
    RoutingSettings,
)
from routing.services.queue import queue_updates
from routing.services.rules import Candidate

ASSIGN_FIELDS = [
    "state",
    "agent_id",
    "assigned_at",
    "queued_at",
    "waiting_since",
    "silent_since",
    "group_id",
    "priority",
]


def assign(conv: Conversation, staff_id: int, *, now: datetime) -> None:
    """Set the assignment fields (the caller saves): the reply timer starts at assignment, and the buyer
    waits for an answer (no auto-end until then). ``queued_at`` stays: the queue wait is
    ``assigned_at - queued_at`` (reports)."""
    conv.state = ConversationState.ACTIVE
    conv.agent_id = staff_id
    conv.assigned_at = now
    conv.waiting_since = now
    conv.silent_since = None


def decision(
    conv: Conversation,
    *,
    rule: DecisionRule,
    outcome: DecisionOutcome,
    winner: int | None = None,
    candidates: list[Candidate] | None = None,
    group: AgentGroup | None = None,
    note: str = "",
) -> RoutingDecision:
    """An unsaved routing trace: the candidates as they stood at the decision, the rule and the winner."""
    return RoutingDecision(
        conversation=conv,
        rule=rule,
        outcome=outcome,
        winner_id=winner,
        group=group,
        candidates=[c.trace() for c in candidates or []],
        note=note[:200],
    )


def decide(conv: Conversation, **kwargs: Any) -> RoutingDecision:
    made = decision(conv, **kwargs)
    made.save()
    return made


def _assigned(conv: Conversation, rule: str, agent_name: str, *, pooled: bool = False) -> events.Assigned:
    return events.Assigned(
        conversation=conv.pk,
        agent_id=conv.agent_id or 0,
        agent_name=agent_name,
        buyer_id=conv.buyer_id,
        buyer_name=conv.buyer.nickname,
        rule=rule,
        waiting_since=conv.waiting_since,
        state="pool" if pooled else "active",
    )


def assigned_event(conv: Conversation, rule: str, agent_name: str) -> list[tuple[str, events.Event]]:
    return events.to_conversation(conv, _assigned(conv, rule, agent_name))


def pooled_event(conv: Conversation, holder_name: str) -> tuple[str, events.Event]:
    """The message-pool holder's tabs learn of a chat left in the pool (the buyer is told nothing: nobody
    serves them yet; no reply timer runs)."""
    event = _assigned(conv, DecisionRule.MESSAGE_POOL, holder_name, pooled=True)
    return events.agent_group(conv.agent_id or 0), event


def write_batch(
    shop_id: int,
    settings: RoutingSettings,
    convs: list[Conversation],
    agents: dict[int, Candidate],
    before: dict[int, int],
    decisions: list[RoutingDecision],
    *,
    queue_moved: bool = False,
) -> None:
    """A router's writes: the conversations, the changed loads and the traces, one statement each; then the
    events (after commit): who got which chat, and the queue's new positions when it changed (``queue_moved``:
    chats left the queue, so every queued buyer's place moved; else only chats that joined it are told)."""
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
        if d.outcome == DecisionOutcome.ASSIGNED
        for send in assigned_event(
            d.conversation, d.rule, agents[d.winner_id].name if d.winner_id in agents else ""
        )
    ]
    sends += [
        pooled_event(d.conversation, agents[d.winner_id].name if d.winner_id in agents else "")
        for d in decisions
        if d.outcome == DecisionOutcome.POOL
    ]
    joined = {d.conversation_id for d in decisions if d.outcome == DecisionOutcome.QUEUED}
    if queue_moved:
        sends += queue_updates(shop_id, settings=settings, agents=agents)
    elif joined:
        sends += queue_updates(shop_id, joined=joined, settings=settings, agents=agents)
    events.publish(sends)


CAPACITY_FIELDS = ("load", "max", "idle_ratio", "share")


def routing_trace(conversation: Conversation, *, viewer: StaffAccount) -> list[dict[str, Any]]:
    """Every routing decision of a chat, oldest first, with the candidates' names and idle ratios. A
    colleague's load and reception limit (and the ratios made of them) are for accounts that manage routing:
    anyone else sees only their own (null for the others)."""
    decisions = list(RoutingDecision.objects.filter(conversation=conversation).order_by("pk"))
    ids = {c[0] for d in decisions for c in d.candidates} | {d.winner_id for d in decisions if d.winner_id}
    names = dict(StaffAccount.objects.filter(pk__in=ids).values_list("pk", "display_name"))
    everyone = is_supervisor(viewer)
    trace = []
    for d in decisions:
        candidates = d.candidate_details(names)
        for candidate in candidates:
            if not everyone and candidate["staff_id"] != viewer.pk:
                candidate.update(dict.fromkeys(CAPACITY_FIELDS))
        trace.append(
            {
                "id": d.pk,
                "created_at": d.created_at,
                "rule": d.rule,
                "outcome": d.outcome,
                "winner_id": d.winner_id,
                "winner_name": names.get(d.winner_id) if d.winner_id else None,
                "group_id": d.group_id,
                "candidates": candidates,
                "note": d.note,
            }
        )
    return trace
