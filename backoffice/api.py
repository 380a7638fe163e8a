"""The shop domain's part of the JSON API (assembled with every app's part in ``backoffice.urls``).

Two kinds of caller:
- integrations, with a per-shop API key (``Authorization: Bearer sk_...`` or ``X-API-Key: sk_...``), push
  buyers, products and orders in batches of up to 500, idempotent on the platform's ids;
- signed-in staff (session cookie + CSRF token), for their own settings and what their role allows.

Errors: 401 missing/revoked key, 403 missing right, 404 unknown or another shop's id, 422 invalid payload
(``{"detail": [...field errors...]}``; a batch is all-or-nothing).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.security import APIKeyHeader, HttpBearer, django_auth
from pydantic import HttpUrl, UrlConstraints, WithJsonSchema

from backoffice import services
from backoffice.access import current_staff, responses, staff_with_right
from backoffice.models import AfterSaleStatus, Buyer, Order, OrderStatus, Product, Shop, StaffAccount
from backoffice.tenancy import active_accounts, get_for_shop_or_404
from backoffice.validation import DateTime, Id, Text


class BearerKey(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Shop | None:
        return services.authenticate_api_key(token)


class HeaderKey(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Shop | None:
        return services.authenticate_api_key(key or "")


api_key_auth = [BearerKey(), HeaderKey()]

# --- schemas -----------------------------------------------------------------------------------------------

PlatformId = Annotated[Text, Field(min_length=1, max_length=64)]
TagKey = Annotated[Text, Field(max_length=50)]
TagValue = Annotated[Text, Field(max_length=200)]
# The schema's bound is the column's: a longer URL passed the schema and failed the insert (a 500). It counts
# the URL as stored (punycode host, percent-encoded path), which can be longer than the one sent.
Url = Annotated[HttpUrl, UrlConstraints(max_length=Product._meta.get_field("url").max_length)]
# What the schema says of an amount: pydantic's own says "a number, or any string".
MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": MONEY_PATTERN},
                {"type": "number", "minimum": 0, "maximum": 9999999999.99, "multipleOf": 0.01},
            ],
            "description": 'yuan, at most 2 decimals, for example "39.90"',
        }
    ),
]
Batch = Field(min_length=1, max_length=settings.API_BATCH_LIMIT)


class Upserted(Schema):
    upserted: int


class BuyerIn(Schema, extra="forbid"):
    platform_id: PlatformId
    nickname: Text = Field(min_length=1, max_length=100)
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=50, description="e.g. member_level, region"
    )
    first_paid_at: DateTime | None = None


class BuyerOut(Schema):
    platform_id: str
    nickname: str
    tags: dict[str, str]
    first_paid_at: datetime | None


class BuyerBatch(Schema, extra="forbid"):
    records: list[BuyerIn] = Batch


class ProductIn(Schema, extra="forbid"):
    platform_id: PlatformId
    title: Text = Field(min_length=1, max_length=200)
    price: Money
    category: Text = Field("", max_length=100)
    image_url: Url | Literal[""] = ""
    url: Url | Literal[""] = ""


class ProductOut(Schema):
    platform_id: str
    title: str
    price: Decimal
    category: str
    image_url: str
    url: str


class ProductBatch(Schema, extra="forbid"):
    records: list[ProductIn] = Batch


class OrderItemIn(Schema, extra="forbid"):
    title: Text = Field(min_length=1, max_length=200)
    product_platform_id: PlatformId | None = None
    quantity: int = Field(1, ge=1, le=100000)
    unit_price: Money


class OrderIn(Schema, extra="forbid"):
    number: PlatformId
    buyer_platform_id: PlatformId
    status: OrderStatus
    after_sale_status: AfterSaleStatus = AfterSaleStatus.NONE
    total_amount: Money
    discount_amount: Money = Decimal("0")
    freight_amount: Money = Decimal("0")
    paid_amount: Money = Decimal("0")
    created_at: DateTime
    paid_at: DateTime | None = None
    ship_by: DateTime | None = None
    shipped_at: DateTime | None = None
    picked_up_at: DateTime | None = None
    delivered_at: DateTime | None = None
    carrier: Text = Field("", max_length=50)
    tracking_number: Text = Field("", max_length=64)
    receiver_name: Text = Field("", max_length=50)
    receiver_phone: Text = Field("", max_length=30)
    address: Text = Field("", max_length=300)
    items: list[OrderItemIn] = Field(min_length=1, max_length=200)


class OrderItemOut(Schema):
    title: str
    quantity: int
    unit_price: Decimal


class AddressChangeOut(Schema):
    old_address: str
    new_address: str
    changed_at: datetime


class OrderOut(Schema):
    number: str
    buyer_platform_id: str = Field(alias="buyer.platform_id")
    status: str
    after_sale_status: str
    total_amount: Decimal
    paid_amount: Decimal
    created_at: datetime
    paid_at: datetime | None
    ship_by: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    carrier: str
    tracking_number: str
    address: str
    items: list[OrderItemOut]
    address_changes: list[AddressChangeOut]

    @staticmethod
    def resolve_items(obj: Order) -> list[Any]:
        return list(obj.items.all())

    @staticmethod
    def resolve_address_changes(obj: Order) -> list[Any]:
        return list(obj.address_changes.all())


class OrderBatch(Schema, extra="forbid"):
    records: list[OrderIn] = Batch


def _records(batch: Any) -> list[dict[str, Any]]:
    return [
        {k: (str(v) if k in {"image_url", "url"} else v) for k, v in r.model_dump().items()}
        for r in batch.records
    ]


# --- integration endpoints (API key) -----------------------------------------------------------------------

integration = Router(auth=api_key_auth, tags=["integration"])
# 400: the body is not JSON; 422: a record is invalid (the batch is all-or-nothing).
KEY_BATCH = responses(Upserted, 400, 422, forbidden=False)


@integration.post("/buyers", response=KEY_BATCH, summary="Upsert buyers (batch of 1-500)")
def upsert_buyers(request: HttpRequest, batch: BuyerBatch) -> dict[str, int]:
    return {"upserted": services.upsert_buyers(shop=request.auth, records=_records(batch))}  # type: ignore[attr-defined]


@integration.get("/buyers/{platform_id}", response=responses(BuyerOut, 404, 422, forbidden=False))
def get_buyer(request: HttpRequest, platform_id: PlatformId) -> Buyer:
    return get_for_shop_or_404(Buyer.objects.all(), request.auth, platform_id=platform_id)  # type: ignore[attr-defined]


@integration.post("/products", response=KEY_BATCH, summary="Upsert products (batch of 1-500)")
def upsert_products(request: HttpRequest, batch: ProductBatch) -> dict[str, int]:
    return {"upserted": services.upsert_products(shop=request.auth, records=_records(batch))}  # type: ignore[attr-defined]


@integration.get("/products/{platform_id}", response=responses(ProductOut, 404, 422, forbidden=False))
def get_product(request: HttpRequest, platform_id: PlatformId) -> Product:
    return get_for_shop_or_404(Product.objects.all(), request.auth, platform_id=platform_id)  # type: ignore[attr-defined]


@integration.post("/orders", response=KEY_BATCH, summary="Upsert orders with items (batch of 1-500)")
def upsert_orders(request: HttpRequest, batch: OrderBatch) -> dict[str, int]:
    return {"upserted": services.upsert_orders(shop=request.auth, records=_records(batch))}  # type: ignore[attr-defined]


@integration.get("/orders/{number}", response=responses(OrderOut, 404, 422, forbidden=False))
def get_order(request: HttpRequest, number: PlatformId) -> Order:
    qs = Order.objects.select_related("buyer").prefetch_related("items", "address_changes")
    return get_for_shop_or_404(qs, request.auth, number=number)  # type: ignore[attr-defined]


# --- staff endpoints (session) -----------------------------------------------------------------------------

staff_router = Router(auth=django_auth, tags=["staff"])


class ShopOut(Schema):
    id: int
    name: str
    time_zone: str


class StaffOut(Schema):
    id: int
    display_name: str
    role: str
    im_enabled: bool
    is_active: bool
    max_concurrent: int


class MeOut(Schema):
    account: StaffOut
    shop: ShopOut
    reception_cap: int
    shops: list[ShopOut]
    permissions: list[str]


@staff_router.get(
    "/me", response=responses(MeOut), summary="The signed-in person's current account and their shops"
)
def me(request: HttpRequest) -> dict[str, Any]:
    staff = current_staff(request)
    accounts = active_accounts(request.user)
    return {
        "account": staff,
        "shop": staff.shop,
        "reception_cap": staff.shop.reception_cap,
        "shops": [a.shop for a in accounts],
        "permissions": sorted(request.user.get_all_permissions()),
    }


@staff_router.get(
    "/staff", response=responses(list[StaffOut]), summary="The shop's staff with their reception limits"
)
def list_staff(request: HttpRequest) -> Any:
    """Owner and administrators see every account's reception limit; agents may not (403)."""
    staff = staff_with_right(request, "backoffice.view_staffaccount")
    return StaffAccount.objects.for_shop(staff.shop).order_by("pk")


@staff_router.get("/staff/{staff_id}", response=responses(StaffOut, 404, 422))
def get_staff(request: HttpRequest, staff_id: Id) -> StaffAccount:
    staff = staff_with_right(request, "backoffice.view_staffaccount")
    return get_for_shop_or_404(StaffAccount.objects.all(), staff.shop, pk=staff_id)
