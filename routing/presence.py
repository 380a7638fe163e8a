"""Agent presence from workbench connections (PROTOCOL.md, "Presence").

An agent is present while at least one workbench tab is connected (``AgentState.connections``, counted
across every daphne process in the database). When the last tab goes, ``disconnected_at`` is stamped by the
database clock and routing keeps treating the agent as they were for the grace period
(``PRESENCE_GRACE_SECONDS``, 60 s): a short network drop reroutes nothing. After it, ``expire_presence`` (a
task the consumer schedules at the disconnect, and a beat task every minute as a backstop) sets the agent
offline if no tab came back. Agents who never opened a workbench (API-only accounts) are not affected.

A process that dies (SIGKILL, a crash, a lost machine) never runs its sockets' disconnects, so its tabs
would count forever. Each process therefore counts its tabs in a lease of its own (``PresenceLease``, one
row per process and agent) and renews its leases every PRESENCE_HEARTBEAT_SECONDS while it holds tabs
(``routing.heartbeat``). ``expire_presence`` first removes the leases not renewed for
PRESENCE_LEASE_SECONDS: their tabs no longer count, and an agent left without tabs is disconnected as of
the lease's last renewal, so the grace period runs from the process's last sign of life. With the defaults
(10 s, 30 s, the 60 s grace and the minutely beat task) a dead process's agents are offline within about
two minutes. ``AgentState.connections`` is always recomputed from the leases under the agent's row lock.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Now

from backoffice.models import StaffAccount
from routing.models import AgentState, AgentStatus, PresenceLease
from routing.services import agent_state
from routing.services.agents import claim_status, publish_status

# The lease of a caller that names no process (a shell, a test calling the service): this process's own.
LOCAL_PROCESS = "local"


def _recount(staff_id: int, **also: object) -> None:
    """Set the agent's ``connections`` to the tabs of their leases (the caller holds the agent's row lock,
    so no concurrent lease change is missed), with the other fields ``also``."""
    tabs = (
        PresenceLease.objects.filter(staff_id=OuterRef("staff_id"))
        .order_by()
        .values("staff_id")
        .annotate(n=Sum("tabs"))
        .values("n")
    )
    AgentState.objects.filter(staff_id=staff_id).update(connections=Coalesce(Subquery(tabs), 0), **also)


def _locked(staff_id: int) -> None:
    list(AgentState.objects.select_for_update().filter(staff_id=staff_id).values_list("pk"))


def connected(staff: StaffAccount, process: str = LOCAL_PROCESS) -> AgentState:
    """One more tab in ``process`` (its lease renewed); the agent's routing state (status unchanged)."""
    state = agent_state(staff)
    with transaction.atomic():
        _locked(staff.pk)
        lease, created = PresenceLease.objects.get_or_create(
            process=process, staff=staff, defaults={"tabs": 1, "renewed_at": Now()}
        )
        if not created:
            PresenceLease.objects.filter(pk=lease.pk).update(tabs=lease.tabs + 1, renewed_at=Now())
        _recount(staff.pk, disconnected_at=None)
    return state


def disconnected(staff: StaffAccount, process: str = LOCAL_PROCESS) -> None:
    """One tab fewer in ``process``; the caller schedules ``expire_presence`` for after the grace period.
    A tab of a lease already expired (its process was taken for dead) changes nothing."""
    with transaction.atomic():
        _locked(staff.pk)
        lease = PresenceLease.objects.filter(process=process, staff=staff).first()
        if lease is None:
            return
        if lease.tabs <= 1:
            lease.delete()
        else:
            PresenceLease.objects.filter(pk=lease.pk).update(tabs=lease.tabs - 1)
        _recount(staff.pk)
        AgentState.objects.filter(staff=staff, connections=0).update(disconnected_at=Now())


def renew(process: str, tabs: dict[int, int]) -> int:
    """The heartbeat of ``process``, which holds ``tabs`` (staff id -> open tabs): its leases renewed, and
    those expired meanwhile (the process was stalled, not dead) taken again. The leases renewed."""
    renewed = PresenceLease.objects.filter(process=process).update(renewed_at=Now())
    if renewed < len(tabs):
        held = set(PresenceLease.objects.filter(process=process).values_list("staff_id", flat=True))
        for staff_id in sorted(set(tabs) - held):
            with transaction.atomic():
                _locked(staff_id)
                PresenceLease.objects.update_or_create(
                    process=process, staff_id=staff_id, defaults={"tabs": tabs[staff_id], "renewed_at": Now()}
                )
                _recount(staff_id, disconnected_at=None)
    return renewed


def _lapsed() -> QuerySet[PresenceLease]:
    return PresenceLease.objects.filter(
        renewed_at__lt=Now() - timedelta(seconds=settings.PRESENCE_LEASE_SECONDS)
    )


def expire_leases() -> int:
    """Remove the leases not renewed for PRESENCE_LEASE_SECONDS (their process is dead): each agent's under
    their row lock, repeating the condition, so a renewal that comes first keeps its lease and two runs at
    once remove each once. An agent left without tabs is disconnected as of the last renewal. The leases
    removed."""
    removed = 0
    for staff_id in sorted(set(_lapsed().values_list("staff_id", flat=True))):
        with transaction.atomic():
            _locked(staff_id)
            lapsed = _lapsed().filter(staff_id=staff_id)
            last = lapsed.aggregate(last=Max("renewed_at"))["last"]
            count, _kinds = lapsed.delete()
            if not count:
                continue
            removed += count
            _recount(staff_id)
            AgentState.objects.filter(staff_id=staff_id, connections=0, disconnected_at=None).update(
                disconnected_at=last
            )
    return removed


def _gone() -> QuerySet[AgentState]:
    """Agents not offline whose every tab closed more than the grace period ago, by the database clock (the
    clock that stamped ``disconnected_at``)."""
    cutoff = Now() - timedelta(seconds=settings.PRESENCE_GRACE_SECONDS)
    return AgentState.objects.filter(connections=0, disconnected_at__lte=cutoff).exclude(
        status=AgentStatus.OFFLINE
    )


def expire_presence() -> int:
    """Remove dead processes' leases (``expire_leases``), then set offline every agent whose last tab closed
    more than the grace period ago; returns how many agents went offline.

    Each agent is claimed by one conditional UPDATE that repeats the whole condition, so a tab that comes back
    between the scan and the claim (``connected``) keeps its agent as they were, and two runs at once set
    each agent offline once. Only the claimed agents get the status change recorded and published."""
    expire_leases()
    count = 0
    for state in _gone().select_related("staff").order_by("staff_id"):
        if claim_status(_gone().filter(pk=state.pk), state.staff, AgentStatus.OFFLINE):
            publish_status(state.staff, AgentStatus.OFFLINE)
            count += 1
    return count
