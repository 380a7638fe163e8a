"""Agent presence from workbench connections (PROTOCOL.md, "Presence").

An agent is present while at least one workbench tab is connected (``AgentState.connections``, counted
across every daphne process in the database). When the last tab goes, ``disconnected_at`` is stamped by the
database clock and routing keeps treating the agent as they were for the grace period
(``PRESENCE_GRACE_SECONDS``, 60 s): a short network drop reroutes nothing. After it, ``expire_presence`` (a
task the consumer schedules at the disconnect, and a beat task every minute as a backstop) sets the agent
offline if no tab came back. Agents who never opened a workbench (API-only accounts) are not affected.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import F, QuerySet
from django.db.models.functions import Greatest, Now

from backoffice.models import StaffAccount
from routing.models import AgentState, AgentStatus
from routing.services import agent_state
from routing.services.agents import claim_status, publish_status


def connected(staff: StaffAccount) -> AgentState:
    """One more tab; the agent's routing state (its status is not changed here)."""
    state = agent_state(staff)
    AgentState.objects.filter(staff=staff).update(connections=F("connections") + 1, disconnected_at=None)
    return state


def disconnected(staff: StaffAccount) -> None:
    """One tab fewer; the caller schedules ``expire_presence`` for after the grace period."""
    AgentState.objects.filter(staff=staff).update(
        connections=Greatest(F("connections") - 1, 0), disconnected_at=Now()
    )


def _gone() -> QuerySet[AgentState]:
    """Agents not offline whose every tab closed more than the grace period ago, by the database clock (the
    clock that stamped ``disconnected_at``)."""
    cutoff = Now() - timedelta(seconds=settings.PRESENCE_GRACE_SECONDS)
    return AgentState.objects.filter(connections=0, disconnected_at__lte=cutoff).exclude(
        status=AgentStatus.OFFLINE
    )


def expire_presence() -> int:
    """Set offline every agent whose last tab closed more than the grace period ago; returns how many.

    Each agent is claimed by one conditional UPDATE that repeats the whole condition, so a tab that comes back
    between the scan and the claim (``connected``) keeps its agent as they were, and two runs at once set
    each agent offline once. Only the claimed agents get the status change recorded and published."""
    count = 0
    for state in _gone().select_related("staff").order_by("staff_id"):
        if claim_status(_gone().filter(pk=state.pk), state.staff, AgentStatus.OFFLINE):
            publish_status(state.staff, AgentStatus.OFFLINE)
            count += 1
    return count
