"""Presence leases (routing/presence.py): a server process's tabs count while it renews its lease, and stop
counting once the lease lapses (the process died), without counting twice when a stalled process comes
back or a tab of a lapsed lease closes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F

from backoffice.models import StaffAccount
from routing import presence, services
from routing.models import AgentState, AgentStatus, PresenceLease

pytestmark = pytest.mark.django_db


def lapse(process: str, seconds: int = 3600) -> None:
    PresenceLease.objects.filter(process=process).update(
        renewed_at=F("renewed_at") - timedelta(seconds=seconds)
    )


def state(staff: StaffAccount) -> AgentState:
    return AgentState.objects.get(staff=staff)


@pytest.fixture
def online(teammate: StaffAccount) -> StaffAccount:
    services.set_agent_status(staff=teammate, status="online")
    return teammate


def test_tabs_of_two_processes_add_up_and_each_closes_its_own(online: StaffAccount) -> None:
    presence.connected(online, "p1")
    presence.connected(online, "p1")
    presence.connected(online, "p2")
    assert state(online).connections == 3
    presence.disconnected(online, "p1")
    assert state(online).connections == 2 and state(online).disconnected_at is None
    presence.disconnected(online, "p1")
    presence.disconnected(online, "p2")
    assert state(online).connections == 0 and state(online).disconnected_at is not None
    assert not PresenceLease.objects.exists()


def test_a_dead_process_tabs_stop_counting_and_its_agent_goes_offline(
    online: StaffAccount, settings: Any
) -> None:
    presence.connected(online, "dead")
    presence.connected(online, "alive")
    lapse("dead")
    assert presence.expire_presence() == 0  # the tab on the live process still counts
    assert state(online).connections == 1 and state(online).status == AgentStatus.ONLINE
    presence.disconnected(online, "alive")
    AgentState.objects.filter(staff=online).update(disconnected_at=F("disconnected_at") - timedelta(hours=1))
    assert presence.expire_presence() == 1
    assert state(online).status == AgentStatus.OFFLINE


def test_the_grace_period_runs_from_the_dead_process_last_renewal(online: StaffAccount) -> None:
    presence.connected(online, "dead")
    lapse("dead")  # last renewed an hour ago: long past the lease and the grace
    assert presence.expire_presence() == 1
    assert state(online).connections == 0 and state(online).status == AgentStatus.OFFLINE


def test_a_lease_renewed_in_time_is_kept(online: StaffAccount, settings: Any) -> None:
    presence.connected(online, "p1")
    lapse("p1", settings.PRESENCE_LEASE_SECONDS + 5)
    assert presence.renew("p1", {online.pk: 1}) == 1
    assert presence.expire_leases() == 0
    assert state(online).connections == 1


def test_a_stalled_process_takes_its_expired_lease_again_and_a_late_close_counts_once(
    online: StaffAccount,
) -> None:
    presence.connected(online, "stalled")
    presence.connected(online, "stalled")
    lapse("stalled")
    assert presence.expire_leases() == 1
    assert state(online).connections == 0
    presence.renew("stalled", {online.pk: 2})  # the process was alive: its two tabs count again
    assert state(online).connections == 2 and state(online).disconnected_at is None
    lapse("stalled")
    presence.expire_leases()
    presence.disconnected(online, "stalled")  # a tab of the lapsed lease closes: nothing left to subtract
    assert state(online).connections == 0


def test_expiring_twice_removes_a_lease_once(online: StaffAccount) -> None:
    presence.connected(online, "dead")
    lapse("dead")
    assert presence.expire_leases() == 1
    assert presence.expire_leases() == 0
