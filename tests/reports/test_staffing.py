"""Erlang C against published values, and the recommendation and hourly report on known data."""

from __future__ import annotations

import pytest

from backoffice.models import Shop, StaffAccount
from reports import staffing
from routing.models import AgentState, AgentStatusChange
from tests.reports import world
from tests.reports.world import DAY, at


@pytest.mark.parametrize(
    ("servers", "load", "published"),
    [
        # The classic table for 10 erlangs (e.g. 200 calls an hour of 3 minutes): the probability of waiting.
        (11, 10.0, 0.6821),
        (12, 10.0, 0.4494),
        (13, 10.0, 0.2853),
        (14, 10.0, 0.1741),
        (15, 10.0, 0.1020),
        # Two servers, one erlang: C = 1/3 (closed form 2 x 1 / (2 + 2 x 1 + 1 x ... ) = 1/3).
        (2, 1.0, 1 / 3),
    ],
)
def test_erlang_c_matches_published_values(servers: int, load: float, published: float) -> None:
    assert staffing.erlang_c(servers, load) == pytest.approx(published, abs=5e-4)


def test_service_level_follows_the_erlang_c_formula() -> None:
    # 10 erlangs, 180 s handling time, 12 servers, answered within 20 s: 1 - 0.4494 x e^(-2 x 20 / 180)
    assert staffing.service_level(12, 10.0, 180.0, 20.0) == pytest.approx(0.6402, abs=5e-4)
    assert staffing.service_level(10, 10.0, 180.0, 20.0) == 0.0  # unstable: everyone waits for ever


def test_agents_needed_counts_concurrent_chats_as_servers() -> None:
    # 200 chats an hour of 180 s = 10 erlangs; answered within 180 s, target 80%: 11 servers reach
    # 1 - 0.6821 e^-1 = 0.749, 12 servers 1 - 0.4494 e^-2 = 0.939; 10 and fewer are unstable. So 12.
    assert staffing.agents_needed(rate=200, aht=180, concurrent=1, target=0.8) == 12
    # Serving 4 chats at once: 12 servers are 3 agents.
    assert staffing.agents_needed(rate=200, aht=180, concurrent=4, target=0.8) == 3
    assert staffing.agents_needed(rate=0, aht=180, concurrent=1, target=0.8) == 0


def test_hourly_report_counts_the_hand_built_day(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    world.build(shop_a, owner, teammate, colleague)
    hours = {h.hour: h for h in staffing.hourly(shop_a, DAY)}
    assert hours[10].consultations == 5  # S1..S5
    assert hours[10].human_sessions == 3
    assert hours[10].receptions == 4
    assert hours[0].consultations == 0  # S6 started the day before
    assert sum(h.consultations for h in hours.values()) == 5


def test_agents_online_per_hour_come_from_status_changes(shop_a: Shop, teammate: StaffAccount) -> None:
    AgentState.objects.get_or_create(staff=teammate, shop=shop_a)
    AgentStatusChange.objects.create(staff=teammate, shop=shop_a, status="online", at=at(8, 30))
    AgentStatusChange.objects.create(staff=teammate, shop=shop_a, status="busy", at=at(10, 0))
    hours = {h.hour: h.agents_online for h in staffing.hourly(shop_a, DAY)}
    assert (hours[7], hours[8], hours[9], hours[10]) == (0, 1, 1, 0)
