"""Every KPI of ``reports.kpis`` on the hand-built day of ``tests.reports.world``; the expected values are
worked out by hand in the comments from the timeline in that module's docstring."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from backoffice.models import Shop, StaffAccount
from reports import kpis
from routing.models import AgentStatusChange
from tests.reports import world
from tests.reports.world import BEFORE, DAY, at


@pytest.fixture
def day(shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount) -> world.Sessions:
    return world.build(shop_a, owner, teammate, colleague)


def values(shop: Shop, **select: int) -> dict[str, float | None]:
    facts = kpis.select(kpis.raw_facts(shop, DAY, DAY, now=at(23, 0)), **select)
    return kpis.evaluate(kpis.total(facts.values()))


def test_session_counts_of_the_shop_follow_the_hand_count(shop_a: Shop, day: world.Sessions) -> None:
    got = values(shop_a)
    assert got["consultations"] == 5  # S1..S5 each have a buyer message (S6 started the day before)
    assert got["robot_sessions"] == 2  # S1, S2
    assert got["robot_resolved"] == 1  # S1; S2 went to a human
    assert got["handoffs"] == 1  # S2
    assert got["human_sessions"] == 3  # S2, S3, S5 (S4 never got an agent)
    assert got["receptions"] == 4  # S2 to A, S3 to B then A by transfer, S5 proactive to A
    assert got["proactive"] == 1  # S5
    assert got["transfers"] == 1
    assert got["auto_ended"] == 1  # S5
    assert got["agent_ended"] == 2  # S2, S3


def test_response_rate_counts_answered_rounds_and_unanswered_ones_at_the_end(
    shop_a: Shop, day: world.Sessions
) -> None:
    got = values(shop_a)
    # answered rounds: S2 60 s and 240 s, S3 150 s (from B's assignment, through the transfer), S5 60 s;
    # S3's last round had waited 240 s at the end: a miss. S5's history reply answers nothing.
    assert got["response_rate_3m"] == pytest.approx(3 / 5)
    assert got["avg_response"] == pytest.approx((60 + 240 + 150 + 60) / 4)
    assert got["first_response"] == pytest.approx((60 + 150 + 60) / 3)


def test_a_round_cut_short_by_the_end_is_left_out(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    import time_machine

    from routing import services
    from routing.models import EndReason
    from tests.backoffice import factories

    services.set_agent_status(staff=owner, status="offline")
    buyer = factories.buyer(shop_a, "short", "急性子买家")
    with time_machine.travel(at(9, 0), tick=False) as clock:
        services.set_agent_status(staff=teammate, status="online")
        conv, _ = services.request_human(buyer=buyer)
        clock.move_to(at(9, 0, 30))
        services.post_agent_message(agent=teammate, conversation=conv, text="您好")
        clock.move_to(at(9, 1))
        services.post_buyer_message(buyer=buyer, text="算了")
        clock.move_to(at(9, 2))  # 60 s after the round began: not a miss, left out
        services.end_conversation(conversation=conv, reason=EndReason.BUYER)
    got = values(shop_a)
    assert got["response_rate_3m"] == 1.0
    assert got["avg_response"] == 30.0


def test_session_length_and_queue_figures(shop_a: Shop, day: world.Sessions) -> None:
    got = values(shop_a)
    # from the last assignment to the end: S2 10:11-10:20, S3 10:32-10:39, S5 10:50-11:07
    assert got["session_length"] == pytest.approx((540 + 420 + 1020) / 3)
    assert got["queue_wait_mean"] == 120.0  # S3 10:30 -> 10:32
    assert got["queue_wait_p90"] == 120.0
    assert got["abandonment"] == pytest.approx(1 / 2)  # S4 of S3, S4


def test_satisfaction_figures(shop_a: Shop, day: world.Sessions) -> None:
    got = values(shop_a)
    assert got["ratings"] == 2  # S2 5 stars, S5 2 stars
    assert got["satisfied_share"] == pytest.approx(1 / 2)
    assert got["invitation_rate"] == pytest.approx(1 / 3)  # S2 of 3 human sessions
    assert got["rating_rate"] == pytest.approx(2 / 3)


def test_per_agent_figures_follow_who_did_what(
    shop_a: Shop, day: world.Sessions, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    a, b = values(shop_a, agent=teammate.pk), values(shop_a, agent=colleague.pk)
    assert (a["human_sessions"], a["receptions"], a["transfers"]) == (3, 3, 0)
    assert (b["human_sessions"], b["receptions"], b["transfers"]) == (0, 1, 1)
    assert a["response_rate_3m"] == pytest.approx(3 / 5)
    assert b["response_rate_3m"] is None  # B answered no round
    assert a["consultations"] == 3  # S2, S3 and S5 end with A: a session counts for its (last) agent
    assert b["consultations"] == 0


def test_a_session_belongs_to_the_day_it_started(shop_a: Shop, day: world.Sessions) -> None:
    before = kpis.evaluate(kpis.total(kpis.raw_facts(shop_a, BEFORE, BEFORE).values()))
    assert (before["consultations"], before["robot_resolved"]) == (1, 1)  # S6, ended after midnight
    both = kpis.evaluate(kpis.total(kpis.raw_facts(shop_a, BEFORE, DAY).values()))
    assert both["consultations"] == 6


def test_online_and_busy_time_come_from_status_intervals_split_at_midnight(
    shop_a: Shop, teammate: StaffAccount
) -> None:
    def change(status: str, moment: datetime) -> None:
        AgentStatusChange.objects.create(staff=teammate, shop=shop_a, status=status, at=moment)

    change("online", at(22, 0, day=BEFORE))  # 2 h online before midnight, 1 h after
    change("busy", at(1, 0))  # 30 min busy
    change("offline", at(1, 30))
    change("online", at(9, 0))  # online until "now" (10:00): 1 h
    from routing.models import AgentState

    AgentState.objects.get_or_create(staff=teammate, shop=shop_a)
    got = kpis.status_facts(shop_a, *kpis.day_bounds(shop_a, DAY, DAY), now=at(10, 0))
    facts = kpis.total(kpis.select(got, agent=teammate.pk).values())
    assert facts.online_seconds == 3600 + 3600
    assert facts.busy_seconds == 1800
    before = kpis.status_facts(shop_a, *kpis.day_bounds(shop_a, BEFORE, BEFORE), now=at(10, 0))
    assert kpis.total(before.values()).online_seconds == 2 * 3600


def test_p90_is_the_nearest_rank() -> None:
    assert kpis.percentile(Counter({10: 5, 20: 4, 100: 1}), 0.9) == 20.0
    assert kpis.percentile(Counter({10: 5, 20: 4, 100: 2}), 0.9) == 100.0
    assert kpis.percentile(Counter(), 0.9) is None


def test_every_kpi_has_a_definition() -> None:
    assert len({k.code for k in kpis.KPIS}) == len(kpis.KPIS)
    assert all(len(str(k.definition)) > len(str(k.label)) for k in kpis.KPIS)


def test_day_bounds_are_local_midnights(shop_a: Shop) -> None:
    start, end = kpis.day_bounds(shop_a, DAY, DAY)
    assert start.utcoffset() == timedelta(hours=8)
    assert end - start == timedelta(days=1)


def test_a_round_that_starts_while_the_agent_is_offline_counts_in_full(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    import time_machine

    from routing import services
    from tests.backoffice import factories

    services.set_agent_status(staff=owner, status="offline")
    services.configure_agent(staff=teammate, offline_routing=True)  # keeps their chats while offline
    kept, moved = factories.buyer(shop_a, "off1", "离线买家甲"), factories.buyer(shop_a, "off2", "离线买家乙")
    with time_machine.travel(at(14, 0), tick=False) as clock:
        services.set_agent_status(staff=teammate, status="online")
        conv, _ = services.request_human(buyer=kept)
        services.post_agent_message(agent=teammate, conversation=conv, text="您好")  # 0 s
        services.set_agent_status(staff=teammate, status="offline")
        clock.move_to(at(14, 1))
        services.post_buyer_message(buyer=kept, text="人呢")  # the agent is offline: the round starts
        clock.move_to(at(14, 6))
        services.set_agent_status(staff=teammate, status="online")
        services.post_agent_message(agent=teammate, conversation=conv, text="回来了")  # 300 s: a miss
    got = values(shop_a)
    assert (got["response_rate_3m"], got["avg_response"]) == (1 / 2, 150.0)

    # Without the offline-routing list, the buyer's message sends the chat back to routing: the new agent's
    # round starts at their assignment.
    services.configure_agent(staff=colleague)
    with time_machine.travel(at(15, 0), tick=False) as clock:
        conv, _ = services.request_human(buyer=moved)
        services.set_agent_status(staff=colleague, status="offline")
        assert conv.agent_id == teammate.pk
        services.configure_agent(staff=teammate, offline_routing=False)
        services.post_agent_message(agent=teammate, conversation=conv, text="您好")  # 0 s
        services.set_agent_status(staff=teammate, status="offline")
        services.set_agent_status(staff=colleague, status="online")
        clock.move_to(at(15, 1))
        services.post_buyer_message(buyer=moved, text="在吗")  # back to routing: to the colleague now
        conv.refresh_from_db()
        assert conv.agent_id == colleague.pk
        clock.move_to(at(15, 1, 40))
        services.post_agent_message(agent=colleague, conversation=conv, text="我来")  # 40 s from assignment
    mine = values(shop_a, agent=colleague.pk)
    assert (mine["response_rate_3m"], mine["avg_response"]) == (1.0, 40.0)
