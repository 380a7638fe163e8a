"""Builders for the shop-operations tests: orders waiting to ship or shipped, relative to the database's
clock (the beat tasks read ``Now()``, which no time-machine moves: rows are dated around the present)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from backoffice.models import Order, Shop
from tests.backoffice import factories


def item(price: str, quantity: int = 1, title: str = "北欧风陶瓷马克杯") -> dict[str, Any]:
    return {"title": title, "product_platform_id": None, "quantity": quantity, "unit_price": Decimal(price)}


def to_ship(
    shop: Shop,
    number: str,
    *,
    ship_in: timedelta,
    prices: tuple[str, ...] = ("39.90",),
    total: str | None = None,
    **overrides: Any,
) -> Order:
    """An order waiting to ship whose ship-by is ``ship_in`` from now (negative: already past)."""
    now = timezone.now()
    items = [item(p) for p in prices]
    amount = Decimal(total) if total is not None else sum((i["unit_price"] for i in items), Decimal("0.00"))
    fields: dict[str, Any] = {"status": "to_ship", **overrides}
    return factories.order(
        shop,
        number,
        ship_by=now + ship_in,
        created_at=now - timedelta(days=3),
        items=items,
        total_amount=amount,
        paid_amount=amount,
        **fields,
    )


def shipped(shop: Shop, number: str, *, ago: timedelta, picked_up: datetime | None = None) -> Order:
    now = timezone.now()
    return factories.order(
        shop,
        number,
        status="shipped",
        created_at=now - timedelta(days=3),
        shipped_at=now - ago,
        picked_up_at=picked_up,
        carrier="中通快递",
        tracking_number=f"ZT{number}",
    )
