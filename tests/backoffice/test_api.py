"""The integration API: upserts by API key, idempotent, batch all-or-nothing, and shop-scoped."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from backoffice import services
from backoffice.models import AddressChange, ApiKey, Buyer, Order, OrderItem, Product, Shop, StaffAccount


def post(client: Client, path: str, body: Any, key: str | None = None, **headers: Any) -> Any:
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"/api/v1/{path}", data, content_type="application/json", **headers)


def get(client: Client, path: str, key: str) -> Any:
    return client.get(f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {key}")


BUYER = {
    "platform_id": "dy_1",
    "nickname": "小王<script>alert(1)</script>",
    "tags": {"member_level": "金卡会员"},
}
PRODUCT = {
    "platform_id": "sku_1",
    "title": "北欧风陶瓷马克杯",
    "price": "39.90",
    "image_url": "https://img.example.com/1.jpg",
}


def order_body(
    number: str = "O-1", address: str = "浙江省杭州市西湖区文三路1号", **extra: Any
) -> dict[str, Any]:
    return {
        "number": number,
        "buyer_platform_id": "dy_1",
        "status": "to_ship",
        "total_amount": "79.80",
        "paid_amount": "79.80",
        "created_at": "2026-11-20T10:00:00+08:00",
        "paid_at": "2026-11-20T10:01:00+08:00",
        "ship_by": "2026-11-22T10:01:00+08:00",
        "receiver_name": "王小明",
        "receiver_phone": "13800000000",
        "address": address,
        "items": [
            {
                "title": "北欧风陶瓷马克杯",
                "product_platform_id": "sku_1",
                "quantity": 2,
                "unit_price": "39.90",
            }
        ],
        **extra,
    }


@pytest.fixture
def seeded(client: Client, key_a: str) -> None:
    assert post(client, "buyers", {"records": [BUYER]}, key_a).status_code == 200
    assert post(client, "products", {"records": [PRODUCT]}, key_a).status_code == 200


def test_upserts_buyers_products_orders_and_reads_them_back(
    client: Client, key_a: str, shop_a: Shop, seeded: None
) -> None:
    response = post(client, "orders", {"records": [order_body()]}, key_a)
    assert response.status_code == 200, response.content
    assert response.json() == {"upserted": 1}

    order = get(client, "orders/O-1", key_a).json()
    assert order["buyer_platform_id"] == "dy_1"
    assert order["total_amount"] == "79.80"
    assert order["items"] == [{"title": "北欧风陶瓷马克杯", "quantity": 2, "unit_price": "39.90"}]
    assert Order.objects.get(number="O-1").items.get().product == Product.objects.get(platform_id="sku_1")
    assert get(client, "buyers/dy_1", key_a).json()["nickname"] == BUYER["nickname"]  # stored as text
    assert get(client, "products/sku_1", key_a).json()["price"] == "39.90"


def test_upsert_is_idempotent_on_platform_ids(client: Client, key_a: str, seeded: None) -> None:
    for _ in range(2):
        assert post(client, "buyers", {"records": [BUYER]}, key_a).status_code == 200
        assert post(client, "orders", {"records": [order_body()]}, key_a).status_code == 200
    assert Buyer.objects.count() == 1
    assert Order.objects.count() == 1
    assert OrderItem.objects.count() == 1
    assert AddressChange.objects.count() == 0


def test_changed_fields_are_updated_and_an_address_change_is_recorded(
    client: Client, key_a: str, seeded: None
) -> None:
    post(client, "orders", {"records": [order_body()]}, key_a)
    post(
        client,
        "orders",
        {"records": [order_body(address="上海市浦东新区世纪大道100号", status="shipped")]},
        key_a,
    )
    order = Order.objects.get(number="O-1")
    assert order.status == "shipped"
    change = order.address_changes.get()
    assert "文三路" in change.old_address and "世纪大道" in change.new_address
    assert get(client, "orders/O-1", key_a).json()["address_changes"][0]["new_address"] == change.new_address


def test_a_batch_with_one_bad_record_writes_nothing(client: Client, key_a: str, seeded: None) -> None:
    bad = order_body("O-2", buyer_platform_id="nobody")
    response = post(client, "orders", {"records": [order_body("O-1"), bad]}, key_a)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == [1, "buyer_platform_id"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "record", "field"),
    [
        ("buyers", {"platform_id": "", "nickname": "x"}, "platform_id"),
        (
            "buyers",
            {"platform_id": "x", "nickname": "x", "first_paid_at": "2026-01-01T00:00:00"},
            "first_paid_at",
        ),
        ("products", {**PRODUCT, "price": "-1"}, "price"),
        ("products", {**PRODUCT, "price": "1.234"}, "price"),
        ("products", {**PRODUCT, "url": "javascript:alert(1)"}, "url"),
        ("orders", order_body(status="lost"), "status"),
        ("orders", order_body(items=[]), "items"),
        ("orders", {**order_body(), "unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_fields_get_422_with_the_field_and_write_nothing(
    client: Client, key_a: str, path: str, record: dict[str, Any], field: str
) -> None:
    before = (Buyer.objects.count(), Product.objects.count(), Order.objects.count())
    response = post(client, path, {"records": [record]}, key_a)
    assert response.status_code == 422
    assert any(field in map(str, err["loc"]) for err in response.json()["detail"]), response.json()
    assert (Buyer.objects.count(), Product.objects.count(), Order.objects.count()) == before


def test_batch_limit_is_500(client: Client, key_a: str) -> None:
    records = [{"platform_id": f"b{i}", "nickname": f"买家{i}"} for i in range(501)]
    assert post(client, "buyers", {"records": records}, key_a).status_code == 422
    assert Buyer.objects.count() == 0
    assert post(client, "buyers", {"records": records[:500]}, key_a).status_code == 200
    assert Buyer.objects.count() == 500


def test_malformed_json_is_rejected(client: Client, key_a: str) -> None:
    assert post(client, "buyers", "{not json", key_a).status_code in (400, 422)
    assert Buyer.objects.count() == 0


def test_duplicate_ids_in_one_batch_are_rejected(client: Client, key_a: str) -> None:
    response = post(client, "buyers", {"records": [BUYER, BUYER]}, key_a)
    assert response.status_code == 422
    assert Buyer.objects.count() == 0


@pytest.mark.parametrize("path", ["buyers", "products", "orders"])
def test_missing_wrong_or_revoked_key_is_401(client: Client, key_a: str, shop_a: Shop, path: str) -> None:
    assert post(client, path, {"records": [BUYER]}).status_code == 401
    assert post(client, path, {"records": [BUYER]}, "sk_deadbeef_nope").status_code == 401
    services.revoke_api_keys(keys=ApiKey.objects.filter(shop=shop_a))
    assert post(client, path, {"records": [BUYER]}, key_a).status_code == 401
    assert client.get(f"/api/v1/{path}/x", HTTP_AUTHORIZATION=f"Bearer {key_a}").status_code == 401


def test_x_api_key_header_works_too(client: Client, key_a: str) -> None:
    response = post(client, "buyers", {"records": [BUYER]}, HTTP_X_API_KEY=key_a)
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["buyers/dy_1", "products/sku_1", "orders/O-1"])
def test_another_shops_ids_are_404(client: Client, key_a: str, key_b: str, seeded: None, path: str) -> None:
    post(client, "orders", {"records": [order_body()]}, key_a)
    assert get(client, path, key_a).status_code == 200
    assert get(client, path, key_b).status_code == 404


def test_shop_b_pushing_the_same_platform_ids_gets_its_own_rows(
    client: Client, key_a: str, key_b: str
) -> None:
    post(client, "buyers", {"records": [BUYER]}, key_a)
    post(client, "buyers", {"records": [{**BUYER, "nickname": "B店的小王"}]}, key_b)
    assert Buyer.objects.count() == 2
    assert get(client, "buyers/dy_1", key_a).json()["nickname"] == BUYER["nickname"]


def test_order_cannot_reference_another_shops_buyer(
    client: Client, key_a: str, key_b: str, seeded: None
) -> None:
    response = post(client, "orders", {"records": [order_body()]}, key_b)
    assert response.status_code == 422
    assert Order.objects.count() == 0


def test_openapi_schema_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/buyers", "/api/v1/orders", "/api/v1/products", "/api/v1/me/reception-limit"} <= set(
        schema["paths"]
    )
    assert client.get("/api/v1/docs").status_code == 200


# --- staff endpoints (session) -----------------------------------------------------------------------------


def test_me_describes_the_current_account(teammate_client: Client, teammate: StaffAccount) -> None:
    body = teammate_client.get("/api/v1/me").json()
    assert body["account"]["display_name"] == "售前-小美"
    assert body["shop"]["id"] == teammate.shop_id
    assert "backoffice.view_staffaccount" not in body["permissions"]


def test_agent_sets_own_reception_limit_within_the_shop_cap(
    teammate_client: Client, teammate: StaffAccount
) -> None:
    def put(limit: int) -> Any:
        return teammate_client.put(
            "/api/v1/me/reception-limit", json.dumps({"limit": limit}), content_type="application/json"
        )

    assert put(50).status_code == 200
    assert put(51).status_code == 422
    assert put(0).status_code == 422
    teammate.refresh_from_db()
    assert teammate.max_concurrent == 50
    services.set_reception_cap(shop=teammate.shop, cap=500)
    assert put(500).status_code == 200


def test_only_roles_with_the_right_list_staff_limits(
    owner_client: Client, teammate_client: Client, teammate: StaffAccount
) -> None:
    assert teammate_client.get("/api/v1/staff").status_code == 403
    assert teammate_client.get(f"/api/v1/staff/{teammate.pk}").status_code == 403
    limits = {s["display_name"]: s["max_concurrent"] for s in owner_client.get("/api/v1/staff").json()}
    assert limits["售前-小美"] == teammate.max_concurrent


def test_staff_of_another_shop_is_404(outsider_client: Client, teammate: StaffAccount) -> None:
    assert outsider_client.get(f"/api/v1/staff/{teammate.pk}").status_code == 404
    assert teammate.display_name not in outsider_client.get("/api/v1/staff").text


def test_staff_endpoints_need_a_session(client: Client, db: Any) -> None:
    assert client.get("/api/v1/me").status_code == 401


def test_limit_change_needs_csrf_token(teammate: StaffAccount) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(teammate.user)
    response = client.put(
        "/api/v1/me/reception-limit", json.dumps({"limit": 5}), content_type="application/json"
    )
    assert response.status_code == 403
