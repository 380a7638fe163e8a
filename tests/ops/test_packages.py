"""Package center: "pickup about to time out" 12 h after shipping without a pickup scan, "treated as false
shipment" at 24 h, and a pickup scan through the API closing the open records."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from backoffice import tasks
from backoffice.models import Order, PackageAlert, PackageAlertKind, Shop
from tests.ops.conftest import shipped

pytestmark = pytest.mark.django_db
SCANS = "/api/v1/ops/pickup-scans"


def scan(client: Client, key: str, *records: dict[str, Any]) -> Any:
    return client.post(
        SCANS,
        json.dumps({"records": list(records)}, default=str),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def kinds(order: Order, *, open_only: bool = True) -> set[str]:
    alerts = PackageAlert.objects.filter(order=order)
    if open_only:
        alerts = alerts.filter(closed_at__isnull=True)
    return set(alerts.values_list("kind", flat=True))


def test_pickup_soon_at_12h_then_false_shipment_at_24h(shop_a: Shop) -> None:
    early = shipped(shop_a, "P0", ago=timedelta(hours=11, minutes=59))
    order = shipped(shop_a, "P1", ago=timedelta(hours=12, minutes=1))
    assert tasks.package_alerts() == 1
    assert tasks.package_alerts() == 0  # once
    assert kinds(order) == {PackageAlertKind.PICKUP_SOON} and kinds(early) == set()
    Order.objects.filter(pk=order.pk).update(shipped_at=timezone.now() - timedelta(hours=24, minutes=1))
    assert tasks.package_alerts() == 1
    assert kinds(order) == {PackageAlertKind.FALSE_SHIPMENT}  # the first record is superseded
    assert kinds(order, open_only=False) == {PackageAlertKind.PICKUP_SOON, PackageAlertKind.FALSE_SHIPMENT}


def test_order_first_seen_after_24h_gets_only_false_shipment(shop_a: Shop) -> None:
    order = shipped(shop_a, "P2", ago=timedelta(hours=30))
    assert tasks.package_alerts() == 1
    assert kinds(order, open_only=False) == {PackageAlertKind.FALSE_SHIPMENT}


def test_picked_up_order_gets_no_record(shop_a: Shop) -> None:
    shipped(shop_a, "P3", ago=timedelta(hours=30), picked_up=timezone.now() - timedelta(hours=29))
    assert tasks.package_alerts() == 0


def test_pickup_scan_closes_the_open_record(client: Client, shop_a: Shop, key_a: str) -> None:
    order = shipped(shop_a, "P4", ago=timedelta(hours=13))
    tasks.package_alerts()
    picked = timezone.now() - timedelta(minutes=3)
    assert scan(client, key_a, {"order_number": "P4", "picked_up_at": picked.isoformat()}).status_code == 200
    order.refresh_from_db()
    assert order.picked_up_at == picked.replace(microsecond=picked.microsecond)
    assert kinds(order) == set()
    Order.objects.filter(pk=order.pk).update(shipped_at=timezone.now() - timedelta(hours=30))
    assert tasks.package_alerts() == 0  # picked up: never a false shipment


@pytest.mark.parametrize(
    "bad",
    [
        {"order_number": "NOPE", "picked_up_at": "2026-03-02T10:00:00+08:00"},
        {"order_number": "P5", "picked_up_at": "2001-01-01T10:00:00+08:00"},  # before it was shipped
        {"order_number": "P5", "picked_up_at": "not a time"},
        {"order_number": "P5"},
    ],
)
def test_bad_scan_is_refused_and_nothing_written(client: Client, shop_a: Shop, key_a: str, bad: Any) -> None:
    order = shipped(shop_a, "P5", ago=timedelta(hours=13))
    tasks.package_alerts()
    good = {"order_number": "P5", "picked_up_at": timezone.now().isoformat()}
    assert scan(client, key_a, good, bad).status_code == 422
    order.refresh_from_db()
    assert order.picked_up_at is None and kinds(order) == {PackageAlertKind.PICKUP_SOON}


def test_other_shops_order_is_unknown(client: Client, shop_a: Shop, shop_b: Shop, key_b: str) -> None:
    order = shipped(shop_a, "P6", ago=timedelta(hours=13))
    answer = scan(client, key_b, {"order_number": "P6", "picked_up_at": timezone.now().isoformat()})
    assert answer.status_code == 422
    order.refresh_from_db()
    assert order.picked_up_at is None
