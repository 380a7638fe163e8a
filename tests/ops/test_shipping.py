"""Shipping deadlines: the "ship within 24 h" list, and the beat task that records each late order's
compensation once, shown in the agent's buyer panel."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from backoffice import tasks
from backoffice.models import LateShipment, OpsJobRun, Order, Shop
from backoffice.operations import shipping
from tests.ops.conftest import shipped, to_ship

pytestmark = pytest.mark.django_db

LATE = -timedelta(minutes=5)


@pytest.mark.parametrize(
    ("price", "voucher"),
    [
        ("3.00", "0.00"),
        ("3.01", "3.00"),
        ("299.99", "3.00"),
        ("300.00", "3.00"),
        ("3000.00", "30.00"),
        ("3000.01", "30.00"),
    ],
)
def test_late_order_gets_the_seed_tables_voucher(shop_a: Shop, price: str, voucher: str) -> None:
    order = to_ship(shop_a, "L1", ship_in=LATE, prices=(price,))
    assert tasks.late_shipments() == 1
    late = LateShipment.objects.get(order=order)
    assert (late.voucher_amount, late.unit_price, late.ship_by) == (
        Decimal(voucher),
        Decimal(price),
        order.ship_by,
    )


def test_multi_item_order_is_counted_once_on_its_dearest_item(shop_a: Shop) -> None:
    order = to_ship(shop_a, "L2", ship_in=LATE, prices=("2.50", "350.00", "19.90"))
    tasks.late_shipments()
    late = LateShipment.objects.get(order=order)
    assert (late.unit_price, late.voucher_amount) == (Decimal("350.00"), Decimal("3.72"))


def test_late_order_is_recorded_once_however_often_the_task_runs(shop_a: Shop) -> None:
    to_ship(shop_a, "L3", ship_in=LATE, prices=("500.00",))
    assert tasks.late_shipments() == 1
    assert tasks.late_shipments() == 0
    assert LateShipment.objects.count() == 1
    assert Order.objects.get(number="L3").late_flagged_at is not None


def test_orders_not_yet_due_or_shipped_or_unpaid_are_not_flagged(shop_a: Shop) -> None:
    to_ship(shop_a, "OK1", ship_in=timedelta(hours=2))
    to_ship(shop_a, "OK2", ship_in=LATE, status="shipped", shipped_at=None)
    to_ship(shop_a, "OK3", ship_in=LATE, status="unpaid")
    assert tasks.late_shipments() == 0
    assert not LateShipment.objects.exists()


def test_task_records_when_it_last_ran(shop_a: Shop) -> None:
    to_ship(shop_a, "L4", ship_in=LATE)
    tasks.late_shipments()
    run = OpsJobRun.objects.get(name=shipping.JOB)
    assert run.processed == 1


def test_ship_within_24h_list_is_sorted_by_urgency_and_shows_late_ones(shop_a: Shop, shop_b: Shop) -> None:
    to_ship(shop_a, "LATER", ship_in=timedelta(hours=20))
    to_ship(shop_a, "SOON", ship_in=timedelta(hours=1))
    to_ship(shop_a, "PAST", ship_in=LATE, prices=("400.00",))
    to_ship(shop_a, "TOMORROW+", ship_in=timedelta(hours=30))
    to_ship(shop_b, "OTHER", ship_in=timedelta(hours=1))
    tasks.late_shipments()
    due = list(shipping.waiting_to_ship(shop_a))
    assert [o.number for o in due] == ["PAST", "SOON", "LATER"]
    assert due[0].late_shipment.voucher_amount == Decimal("4.00")


def test_ship_by_before_order_time_is_refused(shop_a: Shop, key_a: str, client: Any) -> None:
    from tests.backoffice.factories import buyer, order_record

    buyer(shop_a, "b1")
    record = order_record("BAD1", "b1")
    record["ship_by"] = record["created_at"] - timedelta(minutes=1)
    body = {"records": [record]}
    import json

    response = client.post(
        "/api/v1/orders",
        json.dumps(body, default=str),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_a}",
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": [0, "ship_by"], "msg": "ship-by before the order time"}]
    assert not Order.objects.filter(number="BAD1").exists()


@pytest.mark.parametrize("amount", ["-1.00", "abc", "1.234", "1e20", "", None])
def test_negative_or_malformed_amount_is_refused(shop_a: Shop, key_a: str, client: Any, amount: Any) -> None:
    import json

    from tests.backoffice.factories import buyer, order_record

    buyer(shop_a, "b1")
    record = order_record("NEG1", "b1", total_amount=amount)
    response = client.post(
        "/api/v1/orders",
        json.dumps({"records": [record]}, default=str),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_a}",
    )
    assert response.status_code == 422
    assert not Order.objects.filter(number="NEG1").exists()


def test_integration_reads_an_orders_voucher(
    shop_a: Shop, shop_b: Shop, key_a: str, key_b: str, client: Any
) -> None:
    to_ship(shop_a, "L5", ship_in=LATE, prices=("3000.01",))
    to_ship(shop_a, "ONTIME", ship_in=timedelta(hours=3))
    tasks.late_shipments()
    url = "/api/v1/ops/orders/{}/late-shipment"
    got = client.get(url.format("L5"), HTTP_AUTHORIZATION=f"Bearer {key_a}")
    assert got.status_code == 200
    assert got.json()["voucher_amount"] == "30.00"
    assert client.get(url.format("ONTIME"), HTTP_AUTHORIZATION=f"Bearer {key_a}").status_code == 404
    assert client.get(url.format("NOPE"), HTTP_AUTHORIZATION=f"Bearer {key_a}").status_code == 404
    assert client.get(url.format("L5"), HTTP_AUTHORIZATION=f"Bearer {key_b}").status_code == 404


def test_buyer_panel_shows_the_voucher_owed(owner: Any, shop_a: Shop) -> None:
    from routing import services as routing_services
    from tests.conftest import login_client

    order = to_ship(shop_a, "L6", ship_in=LATE, prices=("88.00",))
    shipped(shop_a, "S6", ago=timedelta(hours=1))  # same buyer, not late: no voucher line
    tasks.late_shipments()
    conversation, _decision = routing_services.request_human(buyer=order.buyer)
    page = login_client(owner).get(f"/workbench/buyer/{conversation.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert text.count('class="late-voucher"') == 1
    assert "¥3.00" in text
