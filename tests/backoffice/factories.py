"""Small builders for staff accounts and commerce data, through the same services the API uses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice import services
from backoffice.models import Buyer, Order, Product, Role, Shop, StaffAccount


def staff(shop: Shop, login: str, name: str, role: str = Role.AGENT, im: bool = True) -> StaffAccount:
    """A staff account of the shop (with the IM permission unless ``im`` is false); password PASSWORD."""
    from tests.conftest import PASSWORD

    return services.create_staff_account(
        shop=shop, login=login, password=PASSWORD, display_name=name, role=role, im_enabled=im
    )


def sign_in(client: Client, login: str, password: str, *, address: str = "192.0.2.1", **data: str) -> Any:
    """POST the console's sign-in page as a browser does (so django-axes counts it; ``Client.login`` passes
    no request, which axes refuses). Signed in: a 302 and the session holds the user."""
    form = {"username": login, "password": password, "next": "/admin/", **data}
    return client.post(reverse("admin:login"), form, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def buyer(shop: Shop, platform_id: str = "b1", nickname: str = "买家小王", **extra: Any) -> Buyer:
    services.upsert_buyers(shop=shop, records=[{"platform_id": platform_id, "nickname": nickname, **extra}])
    return Buyer.objects.get(shop=shop, platform_id=platform_id)


def product(
    shop: Shop, platform_id: str = "p1", title: str = "北欧风陶瓷马克杯", price: str = "39.90"
) -> Product:
    services.upsert_products(
        shop=shop,
        records=[
            {
                "platform_id": platform_id,
                "title": title,
                "price": Decimal(price),
                "category": "",
                "image_url": "",
                "url": "",
            }
        ],
    )
    return Product.objects.get(shop=shop, platform_id=platform_id)


def order_record(number: str, buyer_platform_id: str, **overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    record: dict[str, Any] = {
        "number": number,
        "buyer_platform_id": buyer_platform_id,
        "status": "to_ship",
        "after_sale_status": "none",
        "total_amount": Decimal("79.80"),
        "paid_amount": Decimal("79.80"),
        "created_at": now - timedelta(days=1),
        "paid_at": now - timedelta(days=1),
        "receiver_name": "王小明",
        "receiver_phone": "13800000000",
        "address": "浙江省杭州市西湖区文三路1号",
        "items": [
            {
                "title": "北欧风陶瓷马克杯",
                "product_platform_id": None,
                "quantity": 2,
                "unit_price": Decimal("39.90"),
            }
        ],
    }
    record.update(overrides)
    return record


def order(shop: Shop, number: str = "O1", buyer_platform_id: str = "b1", **overrides: Any) -> Order:
    if not Buyer.objects.filter(shop=shop, platform_id=buyer_platform_id).exists():
        buyer(shop, buyer_platform_id)
    services.upsert_orders(shop=shop, records=[order_record(number, buyer_platform_id, **overrides)])
    return Order.objects.get(shop=shop, number=number)
