"""Agent presence from workbench connections (PROTOCOL.md, "Presence").

An agent is present while at least one workbench tab is connected (``AgentState.connections``, counted
across every daphne process in the database). When the last tab goes, ``disconnected_at`` is stamped and
routing keeps treating the agent as they were for the grace period (``PRESENCE_GRACE_SECONDS``, 60 s): a short
network drop reroutes nothing. After it, ``expire_presence`` (a task scheduled at the disconnect, and a beat
task every minute as a backstop) sets the agent offline if no tab came back. Agents who never opened a
workbench (API-only accounts) are not affected.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Greatest, Now
from django.utils import timezone

from backoffice.models import StaffAccount
from routing.models import AgentState, AgentStatus
from routing.services import agent_state, set_agent_status

logger = logging.getLogger(__name__)


def connected(staff: StaffAccount) -> AgentState:
    """One more tab; the agent's routing state (its status is not changed here)."""
    state = agent_state(staff)
    AgentState.objects.filter(staff=staff).update(connections=F("connections") + 1, disconnected_at=None)
    return state


def disconnected(staff: StaffAccount) -> None:
    AgentState.objects.filter(staff=staff).update(
        connections=Greatest(F("connections") - 1, 0), disconnected_at=Now()
    )
    from routing.tasks import expire_presence  # tasks import the services, which import this module's users

    try:
        expire_presence.apply_async(countdown=settings.PRESENCE_GRACE_SECONDS + 1)
    except Exception:  # the beat backstop runs it within a minute anyway
        logger.warning("could not schedule the presence check", exc_info=True)


def expire_presence(*, now: datetime | None = None) -> int:
    """Set offline every agent whose last tab closed more than the grace period ago; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.PRESENCE_GRACE_SECONDS)
    gone = (
        AgentState.objects.filter(connections=0, disconnected_at__lte=cutoff)
        .exclude(status=AgentStatus.OFFLINE)
        .select_related("staff__shop")
    )
    count = 0
    for state in gone:
        set_agent_status(staff=state.staff, status=AgentStatus.OFFLINE)
        count += 1
    return count
