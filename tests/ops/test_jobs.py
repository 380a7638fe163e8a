"""The shop-operations beat tasks as jobs: each run twice at once on PostgreSQL acts on every due row exactly
once (SKIP LOCKED claims, conditional updates, unique records), and a backlog of 50,000 due rows is worked
off in bounded batches. Also: every task is in the beat schedule with ``expires`` below its interval."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from backoffice import tasks
from backoffice.models import (
    Buyer,
    LateShipment,
    Order,
    OrderItem,
    PackageAlert,
    ServiceRequest,
    ServiceRequestState,
    Shop,
)
from backoffice.operations import shipping
from tests.conftest import requires_postgres

ROWS = 3000  # enough for both runs to take several batches each


def orders(shop: Shop, count: int, **fields: Any) -> list[Order]:
    buyer = Buyer.objects.create(shop=shop, platform_id="bulk", nickname="批量买家")
    now = timezone.now()
    made = Order.objects.bulk_create(
        Order(
            shop=shop,
            number=f"BULK{i}",
            buyer=buyer,
            total_amount=Decimal("500.00"),
            created_at=now - timedelta(days=2),
            **fields,
        )
        for i in range(count)
    )
    OrderItem.objects.bulk_create(
        OrderItem(order=o, title="实木餐桌", unit_price=Decimal("500.00")) for o in made
    )
    return made


def tickets(shop: Shop, count: int, **fields: Any) -> None:
    now = timezone.now()
    ServiceRequest.objects.bulk_create(
        ServiceRequest(
            shop=shop,
            number=f"T{i}",
            category="general",
            hours=24,
            subject="工单",
            received_at=now - timedelta(days=2),
            **{"due_at": now + timedelta(hours=1), "warn_at": now - timedelta(minutes=1), **fields},
        )
        for i in range(count)
    )


def twice_at_once(task: Callable[[], int]) -> list[int]:
    """Run ``task`` in two threads released together; each thread's own connection, closed after."""
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(task())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_late_shipments_twice_at_once_flag_each_order_once(shop_a: Shop) -> None:
    orders(shop_a, ROWS, status="to_ship", ship_by=timezone.now() - timedelta(minutes=1))
    results = twice_at_once(tasks.late_shipments)
    assert sum(results) == ROWS
    assert LateShipment.objects.count() == ROWS
    assert set(LateShipment.objects.values_list("voucher_amount", flat=True)) == {Decimal("5.00")}
    assert not Order.objects.filter(late_flagged_at__isnull=True).exists()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_package_alerts_twice_at_once_open_each_record_once(shop_a: Shop) -> None:
    orders(shop_a, ROWS, status="shipped", shipped_at=timezone.now() - timedelta(hours=13))
    results = twice_at_once(tasks.package_alerts)
    assert sum(results) == ROWS
    assert PackageAlert.objects.count() == ROWS
    assert set(Order.objects.values_list("pickup_alert_level", flat=True)) == {1}


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_service_request_warnings_twice_at_once_warn_each_once(shop_a: Shop) -> None:
    tickets(shop_a, ROWS)
    results = twice_at_once(tasks.service_request_warnings)
    assert sum(results) == ROWS
    assert not ServiceRequest.objects.filter(warned_at__isnull=True).exists()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_service_request_settlement_twice_at_once_settles_each_once(shop_a: Shop) -> None:
    tickets(shop_a, ROWS, due_at=timezone.now() - timedelta(minutes=1))
    results = twice_at_once(tasks.service_request_settlement)
    assert sum(results) == ROWS
    assert ServiceRequest.objects.filter(state=ServiceRequestState.SETTLED).count() == ROWS


@pytest.mark.django_db
def test_backlog_of_50000_late_orders_is_worked_off_in_bounded_batches(
    shop_a: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders(shop_a, 50_000, status="to_ship", ship_by=timezone.now() - timedelta(hours=1))
    sizes: list[int] = []
    batch = shipping._flag_batch

    def counted(size: int) -> int:
        done = batch(size)
        sizes.append(done)
        return done

    monkeypatch.setattr(shipping, "_flag_batch", counted)
    # One run is bounded too: at most max_batches batches, the rest waits for the next run.
    assert shipping.flag_late_shipments(batch_size=1000, max_batches=20) == 20_000
    assert shipping.flag_late_shipments(batch_size=1000) == 30_000
    assert max(sizes) == 1000 and len(sizes) == 20 + 31  # the last batch of the second run finds none
    assert LateShipment.objects.count() == 50_000
    assert not Order.objects.filter(late_flagged_at__isnull=True, ship_by__lt=Now()).exists()


def test_every_operations_task_is_scheduled_with_expires_below_its_interval() -> None:
    names = {
        "backoffice.ops_late_shipments",
        "backoffice.ops_package_alerts",
        "backoffice.ops_service_request_warnings",
        "backoffice.ops_service_request_settlement",
    }
    scheduled = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert names <= scheduled.keys()
    for name in names:
        entry: Any = scheduled[name]
        assert entry["options"]["expires"] < entry["schedule"]
