"""Shipping deadlines (订单管理, 24H需发货): the orders waiting to ship by urgency, and the beat task that
finds orders past their promised ship-by time unshipped and records the late-shipment compensation once per
order (``LateShipment``, a no-threshold voucher owed to the buyer: ``compensation``; none for an order an
approved delay report covers: ``delays``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, QuerySet
from django.db.models.functions import Now

from backoffice.models import LateShipment, OpsAlertKind, Order, OrderItem, OrderStatus, Shop
from backoffice.operations import alerts, delays
from backoffice.operations.compensation import late_shipment_voucher
from backoffice.operations.jobs import BATCH, MAX_BATCHES, record_run

JOB = "late_shipments"
SOON = timedelta(hours=24)


def waiting_to_ship(shop: Shop, *, within: timedelta = SOON) -> QuerySet[Order]:
    """The shop's orders waiting to ship whose ship-by falls within ``within`` from now (database clock),
    overdue ones included, most urgent (earliest ship-by) first, with their late-shipment record if any."""
    return (
        Order.objects.for_shop(shop)
        .filter(status=OrderStatus.TO_SHIP, ship_by__isnull=False, ship_by__lte=Now() + within)
        .select_related("buyer", "late_shipment")
        .order_by("ship_by", "pk")
    )


def flag_late_shipments(*, batch_size: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Every order of every shop still waiting to ship after its ship-by (database clock) gets its one
    ``LateShipment`` with the voucher owed, in batches of ``batch_size``; returns how many were flagged.
    Safe to run twice at once: each batch claims its orders with ``SKIP LOCKED`` and marks them
    (``late_flagged_at``), and the record is unique per order."""
    total = 0
    for _batch in range(max_batches):
        done = _flag_batch(batch_size)
        total += done
        if done < batch_size:
            break
    record_run(JOB, total)
    return total


@transaction.atomic
def _flag_batch(size: int) -> int:
    orders = list(
        Order.objects.filter(
            status=OrderStatus.TO_SHIP, late_flagged_at__isnull=True, ship_by__isnull=False, ship_by__lt=Now()
        )
        .filter(shipped_at__isnull=True)
        .order_by("ship_by")
        .select_for_update(skip_locked=True)
        .only("pk", "shop_id", "ship_by", "total_amount", "address", "number")[:size]
    )
    if not orders:
        return 0
    ids = [order.pk for order in orders]
    prices = dict(
        OrderItem.objects.filter(order_id__in=ids)
        .values("order_id")
        .annotate(top=Max("unit_price"))
        .values_list("order_id", "top")
    )
    listed = delays.listing_reports(ids)
    regional = delays.covering_reports({order.shop_id for order in orders})
    records = []
    for order in orders:
        assert order.ship_by is not None  # filtered above
        unit_price = prices.get(order.pk) or Decimal("0.00")
        waived_by = delays.covering_report(order, listed, regional)
        voucher = late_shipment_voucher(unit_price=unit_price, order_amount=order.total_amount)
        records.append(
            LateShipment(
                shop_id=order.shop_id,
                order_id=order.pk,
                ship_by=order.ship_by,
                unit_price=unit_price,
                voucher_amount=Decimal("0.00") if waived_by else voucher,
                waived_by_id=waived_by,
            )
        )
    LateShipment.objects.bulk_create(records, ignore_conflicts=True)
    Order.objects.filter(pk__in=ids, late_flagged_at__isnull=True).update(late_flagged_at=Now())
    alerts.record((o.shop_id, OpsAlertKind.LATE_SHIPMENT, o.number) for o in orders)
    return len(orders)
