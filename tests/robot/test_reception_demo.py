"""The demo shop's robot (robot.demo): on, with its knowledge base; a second run changes nothing."""

from __future__ import annotations

from backoffice.models import Shop
from robot import switch
from robot.demo import set_up_demo


def test_the_demo_turns_the_robot_on_once(shop_a: Shop) -> None:
    assert not switch.full_auto_on(shop_a.pk)
    assert set_up_demo(shop_a) == ["full-auto robot reception"]  # the built-in set came with the shop
    assert switch.full_auto_on(shop_a.pk)
    assert set_up_demo(shop_a) == []
