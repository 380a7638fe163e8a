"""Package center (包裹中心): shipped orders without a pickup scan. 12 h after shipping the beat task opens a
"pickup about to time out" record (即将揽收超时); at 24 h a "treated as false shipment" record (虚假发货),
which supersedes (closes) the first. An order first seen after 24 h gets only the second. A pickup scan
(through the API) closes the order's open records and stores the pickup time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Now
from django.utils.translation import gettext as _

from backoffice.errors import Invalid
from backoffice.models import Order, PackageAlert, PackageAlertKind, Shop
from backoffice.operations import alerts
from backoffice.operations.jobs import BATCH, MAX_BATCHES, record_run

JOB = "package_alerts"
PICKUP_SOON_AFTER = timedelta(hours=12)
FALSE_SHIPMENT_AFTER = timedelta(hours=24)
# (alert level an order reaches, the record it gets, how long after shipping), the later stage first.
STAGES = (
    (2, PackageAlertKind.FALSE_SHIPMENT, FALSE_SHIPMENT_AFTER),
    (1, PackageAlertKind.PICKUP_SOON, PICKUP_SOON_AFTER),
)


def open_alerts(shop: Shop) -> QuerySet[PackageAlert]:
    return (
        PackageAlert.objects.for_shop(shop)
        .filter(closed_at__isnull=True)
        .select_related("order")
        .order_by("-created_at", "-pk")
    )


def raise_package_alerts(*, batch_size: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Open the package-center records that are due, for every shop, in batches; returns how many were
    opened. Safe to run twice at once: orders are claimed with ``SKIP LOCKED`` and their level raised in the
    same transaction, and a record is unique per order and kind."""
    total = 0
    for level, kind, after in STAGES:
        for _batch in range(max_batches):
            claimed = _raise_batch(level, kind, after, batch_size)
            total += claimed
            if claimed < batch_size:
                break
    record_run(JOB, total)
    return total


@transaction.atomic
def _raise_batch(level: int, kind: str, after: timedelta, size: int) -> int:
    orders = list(
        Order.objects.filter(
            shipped_at__isnull=False,
            picked_up_at__isnull=True,
            pickup_alert_level__lt=level,
            shipped_at__lte=Now() - after,
        )
        .order_by("shipped_at")
        .select_for_update(skip_locked=True)
        .only("pk", "shop_id", "shipped_at", "number")[:size]
    )
    if not orders:
        return 0
    ids = [order.pk for order in orders]
    PackageAlert.objects.bulk_create(
        [
            PackageAlert(shop_id=o.shop_id, order_id=o.pk, kind=kind, shipped_at=o.shipped_at or Now())
            for o in orders  # shipped_at is set: filtered above
        ],
        ignore_conflicts=True,
    )
    if kind == PackageAlertKind.FALSE_SHIPMENT:
        PackageAlert.objects.filter(
            order_id__in=ids, kind=PackageAlertKind.PICKUP_SOON, closed_at__isnull=True
        ).update(closed_at=Now())
    Order.objects.filter(pk__in=ids, pickup_alert_level__lt=level).update(pickup_alert_level=level)
    alerts.record((o.shop_id, kind, o.number) for o in orders)
    return len(orders)


@transaction.atomic
def record_pickup_scans(*, shop: Shop, records: Sequence[dict[str, Any]]) -> int:
    """Pickup scans (order_number, picked_up_at) from the integration: each order's first pickup time is
    kept, and its open package-center records are closed. All-or-nothing: an order this shop does not have,
    or a scan before the order was shipped, refuses the batch. Returns how many scans the batch held."""
    orders = {
        o.number: o
        for o in Order.objects.for_shop(shop)
        .filter(number__in={r["order_number"] for r in records})
        .select_for_update()
    }
    errors: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        order = orders.get(record["order_number"])
        if order is None:
            errors.append({"loc": [index, "order_number"], "msg": "unknown order in this shop"})
        elif order.shipped_at is not None and record["picked_up_at"] < order.shipped_at:
            errors.append({"loc": [index, "picked_up_at"], "msg": "before the order was shipped"})
    if errors:
        raise Invalid(_("Some pickup scans are not valid."), errors=errors)
    for record in records:
        order = orders[record["order_number"]]
        if order.picked_up_at is None or record["picked_up_at"] < order.picked_up_at:
            Order.objects.filter(pk=order.pk).update(picked_up_at=record["picked_up_at"])
            order.picked_up_at = record["picked_up_at"]
    PackageAlert.objects.filter(order_id__in=[o.pk for o in orders.values()], closed_at__isnull=True).update(
        closed_at=Now()
    )
    return len(records)
