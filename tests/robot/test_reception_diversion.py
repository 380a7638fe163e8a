"""Diversion rules (robot.diversion): windows, the share to the robot, a buyer's stable side, bad input."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from backoffice import services
from backoffice.errors import Invalid
from backoffice.models import Shop
from robot import diversion
from robot.models import DiversionRule

TZ = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ)


def test_a_shop_without_rules_sends_every_chat_to_the_robot(shop_a: Shop) -> None:
    assert all(diversion.robot_takes(shop_id=shop_a.pk, buyer_id=b, now=at(3)) for b in range(50))


def test_outside_every_window_chats_go_to_humans(shop_a: Shop) -> None:
    diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=100)
    assert diversion.robot_takes(shop_id=shop_a.pk, buyer_id=1, now=at(21))
    assert not diversion.robot_takes(shop_id=shop_a.pk, buyer_id=1, now=at(19, 59))
    assert not diversion.robot_takes(shop_id=shop_a.pk, buyer_id=1, now=at(23))  # the end is not in it


def test_a_disabled_rule_takes_nothing(shop_a: Shop) -> None:
    diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=100, enabled=False)
    assert not diversion.robot_takes(shop_id=shop_a.pk, buyer_id=1, now=at(21))


def test_a_window_past_midnight_belongs_to_the_day_it_started(shop_a: Shop) -> None:
    rule = diversion.save_rule(shop=shop_a, start=time(22), end=time(2), ratio=50)
    rules = [rule]
    late, early = diversion.window_at(rules, at(23, day=1), TZ), diversion.window_at(rules, at(1, day=2), TZ)
    assert late is not None and early is not None and late.day == early.day
    assert diversion.window_at(rules, at(3, day=2), TZ) is None


def test_the_share_holds_over_many_buyers(shop_a: Shop) -> None:
    diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=70)
    n = 4000
    taken = sum(diversion.robot_takes(shop_id=shop_a.pk, buyer_id=b, now=at(21)) for b in range(1, n + 1))
    # 70 % of 4,000 with a binomial standard deviation of ~29: 5 sigma either side.
    assert abs(taken - 0.7 * n) < 5 * (n * 0.7 * 0.3) ** 0.5, taken


def test_a_buyer_stays_on_one_side_all_through_a_window(shop_a: Shop) -> None:
    diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=50)
    for buyer_id in range(1, 60):
        sides = {
            diversion.robot_takes(shop_id=shop_a.pk, buyer_id=buyer_id, now=at(h, m))
            for h, m in [(20, 0), (20, 31), (21, 15), (22, 59)]
        }
        assert len(sides) == 1


def test_a_share_of_zero_and_of_one_hundred(shop_a: Shop) -> None:
    rule = diversion.save_rule(shop=shop_a, start=time(8), end=time(9), ratio=0)
    assert not any(diversion.robot_takes(shop_id=shop_a.pk, buyer_id=b, now=at(8, 30)) for b in range(200))
    diversion.save_rule(shop=shop_a, start=time(8), end=time(9), ratio=100, rule=rule)
    assert all(diversion.robot_takes(shop_id=shop_a.pk, buyer_id=b, now=at(8, 30)) for b in range(200))


@pytest.mark.parametrize("ratio", [-1, 101, 1000])
def test_a_share_outside_0_to_100_is_refused_and_nothing_written(shop_a: Shop, ratio: int) -> None:
    with pytest.raises(Invalid) as caught:
        diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=ratio)
    assert caught.value.errors[0]["field"] == "ratio"
    assert not DiversionRule.objects.exists()


@pytest.mark.parametrize(
    ("start", "end"),
    [(time(21), time(22)), (time(19), time(20, 1)), (time(22, 59), time(1)), (time(18), time(2))],
)
def test_overlapping_windows_are_refused_and_nothing_written(shop_a: Shop, start: time, end: time) -> None:
    diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=70)
    with pytest.raises(Invalid) as caught:
        diversion.save_rule(shop=shop_a, start=start, end=end, ratio=30)
    assert "20:00-23:00" in caught.value.message
    assert DiversionRule.objects.count() == 1


def test_adjacent_windows_and_other_shops_do_not_overlap(shop_a: Shop, shop_b: Shop) -> None:
    diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=70)
    diversion.save_rule(shop=shop_a, start=time(23), end=time(1), ratio=30)
    diversion.save_rule(shop=shop_b, start=time(20), end=time(23), ratio=70)
    assert DiversionRule.objects.count() == 3


def test_an_empty_window_is_refused(shop_a: Shop) -> None:
    with pytest.raises(Invalid):
        diversion.save_rule(shop=shop_a, start=time(20), end=time(20, 0, 30), ratio=50)
    assert not DiversionRule.objects.exists()


def test_windows_are_read_in_the_shops_own_time_zone(shop_a: Shop) -> None:
    services.set_time_zone(shop=shop_a, name="Europe/Berlin")
    diversion.save_rule(shop=shop_a, start=time(20), end=time(23), ratio=100)
    # 21:00 in Shanghai is 14:00 in Berlin (CET): outside the shop's 20:00-23:00; 04:00 Shanghai is 21:00.
    assert not diversion.robot_takes(shop_id=shop_a.pk, buyer_id=1, now=at(21))
    assert diversion.robot_takes(shop_id=shop_a.pk, buyer_id=1, now=at(4, day=2))
