"""The demo shop's operations (``seed_demo``): late and nearly late orders with their vouchers, parcels
without a pickup scan and picked-up ones, open service requests (one past 80% of its time) and one
after-sale request for each of the seed's four cases. Deterministic (the shop's orders by number) and
idempotent: a shop that has the demo's first ticket is left as it is."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Min

from backoffice.models import Buyer, Order, OrderStatus, ServiceRequest, Shop
from backoffice.operations import aftersale, packages, service_requests, shipping

FIRST_TICKET = "FW20261201001"


def _orders(shop: Shop, status: str, count: int) -> list[Order]:
    return list(Order.objects.for_shop(shop).filter(status=status).order_by("number")[:count])


def build(shop: Shop, now: datetime) -> list[str]:
    """Add the demo's operations data to ``shop``; returns what was added (nothing on a re-run)."""
    if ServiceRequest.objects.for_shop(shop).filter(number=FIRST_TICKET).exists():
        return []
    waiting = _orders(shop, OrderStatus.TO_SHIP, 6)
    # Late (past the promised ship-by) and nearly late (due within the day): the seed's ship-by stays 48 h
    # after payment, so the order was paid (and placed) that much earlier.
    offsets = [-timedelta(hours=3), -timedelta(hours=8), *(timedelta(hours=2 + 6 * i) for i in range(3))]
    for order, offset in zip(waiting, offsets, strict=False):
        paid_at = now + offset - timedelta(hours=48)
        Order.objects.filter(pk=order.pk).update(
            ship_by=now + offset, paid_at=paid_at, created_at=paid_at - timedelta(minutes=5)
        )
    buyers = {order.buyer_id for order in waiting}
    for buyer in Buyer.objects.filter(pk__in=buyers):
        first = Order.objects.filter(buyer=buyer, paid_at__isnull=False).aggregate(first=Min("paid_at"))
        Buyer.objects.filter(pk=buyer.pk).update(first_paid_at=first["first"])
    # Parcels without a pickup scan 13 h and 26 h after shipping (picked-up ones are the seed's own).
    shipped = list(
        Order.objects.for_shop(shop)
        .filter(status=OrderStatus.SHIPPED, paid_at__lte=now - timedelta(hours=27))
        .order_by("number")[:3]
    )
    for order, ago in zip(shipped[:2], (13, 26), strict=False):
        Order.objects.filter(pk=order.pk).update(shipped_at=now - timedelta(hours=ago), picked_up_at=None)
    late = shipping.flag_late_shipments()
    alerts = packages.raise_package_alerts()

    tickets = [
        ("urgent", None, "买家投诉商品有安全隐患，要求商家说明", timedelta(minutes=40)),
        ("general", None, "买家反映物流三天没有更新，请核实发货情况", timedelta(hours=3)),
        ("agreed", 4, "平台客服与商家约定：补发赠品并回复处理结果", timedelta(hours=1)),
        ("general", None, "买家要求开具发票，请在订单中上传", timedelta(minutes=10)),
    ]
    service_requests.receive_service_requests(
        shop=shop,
        records=[
            {
                "number": f"FW2026120100{index + 1}",
                "category": category,
                "hours": hours,
                "subject": subject,
                "received_at": now - ago,
                "order_number": waiting[index].number if index < len(waiting) else None,
            }
            for index, (category, hours, subject, ago) in enumerate(tickets)
        ],
    )
    service_requests.warn_service_requests()

    cases = [
        (_orders(shop, OrderStatus.TO_SHIP, 8)[6:7], "refund_only", "not_wanted", "拍错了，不想要了"),
        (shipped[2:3], "refund_only", "wrong_address", "地址填错了"),
        (_orders(shop, OrderStatus.DELIVERED, 2)[:1], "return_refund", "quality", "杯子有裂纹"),
        (_orders(shop, OrderStatus.DELIVERED, 2)[1:2], "refund_only", "not_as_described", "颜色和图片不一样"),
    ]
    records = [
        {
            "number": f"SH2026120100{index + 1}",
            "order_number": order.number,
            "kind": kind,
            "reason": reason,
            "note": note,
        }
        for index, (found, kind, reason, note) in enumerate(cases)
        for order in found
    ]
    if records:
        aftersale.receive_requests(shop=shop, records=records)
    return [
        f"{late} late orders",
        f"{alerts} package records",
        f"{len(tickets)} service requests",
        f"{len(records)} after-sale requests",
    ]
