"""Data-aware answers (robot.scenarios): facts from the buyer's orders, and never an invented one."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from backoffice.models import Buyer, Shop
from robot import scenarios
from routing import services
from routing.models import Conversation
from tests.backoffice import factories


def chat(buyer: Buyer) -> Conversation:
    return services.post_buyer_message(buyer=buyer, text="在吗").conversation


def test_logistics_gives_carrier_and_tracking_of_the_latest_shipped_order(shop_a: Shop) -> None:
    now = timezone.now()
    buyer = factories.buyer(shop_a, "b1", "小王")
    factories.order(
        shop_a,
        "OLD",
        "b1",
        status="shipped",
        shipped_at=now - timedelta(days=9),
        carrier="圆通速递",
        tracking_number="YT111",
        created_at=now - timedelta(days=10),
    )
    factories.order(
        shop_a,
        "NEW",
        "b1",
        status="shipped",
        shipped_at=now - timedelta(days=1),
        carrier="顺丰速运",
        tracking_number="SF1234567890",
        created_at=now - timedelta(days=2),
    )
    factories.order(shop_a, "WAIT", "b1", status="to_ship", created_at=now - timedelta(hours=1))
    said = scenarios.answer(scenario="logistics", conversation=chat(buyer))
    assert said is not None and not said.hand_over
    assert "顺丰速运" in said.text and "SF1234567890" in said.text and "NEW" in said.text
    assert "YT111" not in said.text and said.text.startswith("小王")


def test_logistics_without_a_tracking_number_hands_over_instead_of_inventing(shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1")
    factories.order(shop_a, "S1", "b1", status="shipped", shipped_at=timezone.now(), tracking_number="")
    said = scenarios.answer(scenario="logistics", conversation=chat(buyer))
    assert said is not None and said.hand_over and "【" not in said.text


def test_logistics_for_a_buyer_without_orders_says_so(shop_a: Shop, shop_b: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1")
    factories.order(shop_b, "B-1", "b1", status="shipped", shipped_at=timezone.now(), tracking_number="X9")
    said = scenarios.answer(scenario="logistics", conversation=chat(buyer))
    assert said is not None and "没有查到" in said.text and "X9" not in said.text  # another shop's order


def test_urge_shipping_gives_the_promised_ship_by_date(shop_a: Shop) -> None:
    ship_by = timezone.localtime() + timedelta(days=2)
    buyer = factories.buyer(shop_a, "b1")
    factories.order(shop_a, "W1", "b1", status="to_ship", ship_by=ship_by)
    said = scenarios.answer(scenario="urge_shipping", conversation=chat(buyer))
    assert said is not None and not said.hand_over
    assert f"{ship_by.month}月{ship_by.day}日" in said.text and "W1" in said.text


def test_urge_shipping_past_the_promise_or_without_one_hands_over(shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1")
    factories.order(shop_a, "W1", "b1", status="to_ship", ship_by=timezone.now() - timedelta(hours=3))
    late = scenarios.answer(scenario="urge_shipping", conversation=chat(buyer))
    assert late is not None and late.hand_over and "超过" in late.text
    factories.order(shop_a, "W1", "b1", status="to_ship", ship_by=None)
    unknown = scenarios.answer(scenario="urge_shipping", conversation=chat(buyer))
    assert unknown is not None and unknown.hand_over and "【" not in unknown.text


def test_urge_shipping_of_a_shipped_order_says_it_shipped_with_tracking(shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1")
    factories.order(
        shop_a,
        "S1",
        "b1",
        status="shipped",
        shipped_at=timezone.now(),
        carrier="中通快递",
        tracking_number="ZT42",
    )
    said = scenarios.answer(scenario="urge_shipping", conversation=chat(buyer))
    assert said is not None and "中通快递" in said.text and "ZT42" in said.text and "已于" in said.text


def test_change_address_follows_the_order_state(shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1")
    conv = chat(buyer)
    factories.order(shop_a, "A1", "b1", status="to_ship")
    before = scenarios.answer(scenario="change_address", conversation=conv)
    assert before is not None and before.hand_over and "可以修改" in before.text
    factories.order(
        shop_a, "A1", "b1", status="shipped", shipped_at=timezone.now(), carrier="韵达", tracking_number="YD7"
    )
    shipped = scenarios.answer(scenario="change_address", conversation=conv)
    assert shipped is not None and not shipped.hand_over and "无法" in shipped.text and "YD7" in shipped.text
    factories.order(shop_a, "A1", "b1", status="delivered", delivered_at=timezone.now())
    done = scenarios.answer(scenario="change_address", conversation=conv)
    assert done is not None and "送达" in done.text


def test_a_shipped_order_without_tracking_number_is_not_given_a_marker(shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1")
    factories.order(shop_a, "A1", "b1", status="shipped", shipped_at=timezone.now(), tracking_number="")
    said = scenarios.answer(scenario="change_address", conversation=chat(buyer))
    assert said is not None and "【" not in said.text


def test_a_plain_entry_has_no_scenario_answer(shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b1")
    assert scenarios.answer(scenario="", conversation=chat(buyer)) is None
