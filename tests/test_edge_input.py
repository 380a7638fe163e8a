"""Input checked at the edge, once (``backoffice.validation``): extreme dates, NUL characters and lone
surrogates, strings longer than their column, and malformed ids in query strings are a clear 422 (API), a
stock admin answer or an ignored parameter (pages), never a 500, and they store nothing.

The NUL cases fail only on PostgreSQL on the old code (SQLite stores a NUL); CI runs them there."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from backoffice import validation
from backoffice.admin import ShopScopedAdmin
from backoffice.errors import Invalid
from backoffice.models import Buyer, Order, Product, Shop, StaffAccount
from phrases import services as phrase_services
from phrases.models import Phrase, PhraseGroup
from routing import services as routing_services
from routing.admin import tag_choice
from routing.models import AgentGroup, Conversation, Message, Transfer
from routing.tokens import buyer_token
from tests.backoffice import factories
from tests.conftest import api_call, login_client

NUL = "\x00"
EXTREME = "9999-12-31T23:59:59-14:00"  # year 10000 in UTC


def push(client: Client, key: str, path: str, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"/api/v1/{path}", data, content_type="application/json", HTTP_X_API_KEY=key)


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": "O-1",
        "buyer_platform_id": "b1",
        "status": "to_ship",
        "total_amount": "79.80",
        "paid_amount": "79.80",
        "created_at": "2026-11-20T10:00:00+08:00",
        "address": "浙江省杭州市西湖区文三路1号",
        "items": [{"title": "北欧风陶瓷马克杯", "quantity": 2, "unit_price": "39.90"}],
    }
    body.update(overrides)
    return body


@pytest.fixture
def buyer_b1(shop_a: Shop) -> Buyer:
    return factories.buyer(shop_a, "b1")


@pytest.fixture
def chat(shop_a: Shop, teammate: StaffAccount, owner_offline: StaffAccount, buyer_b1: Buyer) -> Conversation:
    """An active chat of shop A routed to the teammate."""
    routing_services.set_agent_status(staff=teammate, status="online")
    conv, _decision = routing_services.request_human(buyer=buyer_b1)
    conv.refresh_from_db()
    assert conv.agent_id == teammate.pk
    return conv


# --- dates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["created_at", "paid_at", "ship_by", "shipped_at", "picked_up_at", "delivered_at"]
)
def test_an_order_date_beyond_the_range_is_422_and_stores_nothing(
    client: Client, key_a: str, buyer_b1: Buyer, field: str
) -> None:
    response = push(client, key_a, "orders", {"records": [order_body(**{field: EXTREME})]})
    assert response.status_code == 422
    assert field in json.dumps(response.json()["detail"])
    assert not Order.objects.exists()


def test_a_buyer_first_paid_beyond_the_range_is_422(client: Client, key_a: str, shop_a: Shop) -> None:
    record = {"platform_id": "b9", "nickname": "小王", "first_paid_at": EXTREME}
    assert push(client, key_a, "buyers", {"records": [record]}).status_code == 422
    assert not Buyer.objects.filter(platform_id="b9").exists()


@pytest.mark.parametrize(
    ("created_at", "status"),
    [
        ("1999-12-31T23:59:59Z", 422),
        ("2000-01-01T08:00:00+08:00", 200),  # 2000-01-01 00:00 UTC: the first moment allowed
        ("2000-01-01T07:59:59+08:00", 422),  # 1999-12-31 23:59:59 UTC
        ("2100-01-01T07:59:59+08:00", 200),  # 2099-12-31 23:59:59 UTC: the last second allowed
        ("2099-12-31T23:59:59-00:01", 422),  # 2100-01-01 00:00:59 UTC
    ],
)
def test_dates_are_bounded_in_utc(
    client: Client, key_a: str, buyer_b1: Buyer, created_at: str, status: int
) -> None:
    response = push(client, key_a, "orders", {"records": [order_body(created_at=created_at)]})
    assert response.status_code == status, response.content


def test_an_extreme_date_leaves_the_order_and_its_pages_readable_and_correctable(
    client: Client,
    key_a: str,
    buyer_b1: Buyer,
    chat: Conversation,
    teammate: StaffAccount,
    owner: StaffAccount,
) -> None:
    """The audit's sequence: the extreme push was stored, and from then on the order API, the admin order
    list and the buyer panel answered 500, and a corrective push failed too."""
    assert push(client, key_a, "orders", {"records": [order_body()]}).status_code == 200
    assert push(client, key_a, "orders", {"records": [order_body(created_at=EXTREME)]}).status_code == 422

    assert client.get("/api/v1/orders/O-1", HTTP_X_API_KEY=key_a).status_code == 200
    assert login_client(owner).get(reverse("admin:backoffice_order_changelist")).status_code == 200
    panel = login_client(teammate).get(reverse("routing:buyer-panel", args=[chat.pk]))
    assert panel.status_code == 200
    fixed = order_body(created_at="2026-11-21T10:00:00+08:00")
    assert push(client, key_a, "orders", {"records": [fixed]}).status_code == 200


# --- NUL characters and lone surrogates ------------------------------------------------------------------


def with_nul(value: str) -> str:
    return f"a{NUL}b" if value else NUL


INTEGRATION_NUL_CASES = [
    ("buyers", {"records": [{"platform_id": "b1", "nickname": with_nul("x")}]}),
    ("buyers", {"records": [{"platform_id": with_nul("x"), "nickname": "小王"}]}),
    ("buyers", {"records": [{"platform_id": "b1", "nickname": "小王", "tags": {with_nul("k"): "v"}}]}),
    ("buyers", {"records": [{"platform_id": "b1", "nickname": "小王", "tags": {"region": with_nul("v")}}]}),
    ("products", {"records": [{"platform_id": "p1", "title": with_nul("x"), "price": "1"}]}),
    ("products", {"records": [{"platform_id": "p1", "title": "杯子", "price": "1", "category": NUL}]}),
    ("orders", {"records": [order_body(address=with_nul("x"))]}),
    ("orders", {"records": [order_body(receiver_name=NUL, carrier=NUL, tracking_number=NUL)]}),
    ("orders", {"records": [order_body(items=[{"title": with_nul("x"), "quantity": 1, "unit_price": "1"}])]}),
]


@pytest.mark.parametrize(("path", "body"), INTEGRATION_NUL_CASES)
def test_a_nul_in_any_pushed_string_is_422_and_stores_nothing(
    client: Client, key_a: str, buyer_b1: Buyer, path: str, body: dict[str, Any]
) -> None:
    response = push(client, key_a, path, body)
    assert response.status_code == 422, response.content
    assert "NUL" in json.dumps(response.json()["detail"])
    assert Buyer.objects.get().nickname == buyer_b1.nickname and Buyer.objects.get().tags == buyer_b1.tags
    assert not Product.objects.exists() and not Order.objects.exists()


@pytest.mark.parametrize("path", ["buyers", "products", "orders"])
def test_a_nul_in_a_looked_up_platform_id_is_422(client: Client, key_a: str, path: str) -> None:
    assert client.get(f"/api/v1/{path}/a%00b", HTTP_X_API_KEY=key_a).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        '{"records": [{"platform_id": "b1", "nickname": "\\ud800"}]}',
        '{"records": [{"platform_id": "b1", "nickname": "x", "tags": {"\\udfff": "v"}}]}',
    ],
)
def test_a_lone_surrogate_in_json_is_422(client: Client, key_a: str, buyer_b1: Buyer, body: str) -> None:
    assert push(client, key_a, "buyers", body).status_code == 422
    assert Buyer.objects.get().nickname == buyer_b1.nickname


def staff_nul_cases(chat: Conversation, teammate: StaffAccount) -> list[tuple[str, str, dict[str, Any]]]:
    conv = f"/api/v1/routing/conversations/{chat.pk}"
    return [
        ("post", f"{conv}/messages", {"text": with_nul("你好")}),
        ("post", f"{conv}/messages", {"text": "你好", "client_msg_id": NUL}),
        ("post", f"{conv}/transfer", {"to_agent_id": teammate.pk, "note": with_nul("内部备注")}),
        ("post", "/api/v1/phrases/", {"content": "亲，在的", "keywords": [with_nul("在吗")]}),
        ("post", "/api/v1/phrases/", {"content": "亲，在的", "code": NUL}),
        ("post", "/api/v1/phrases/groups", {"name": with_nul("售后")}),
        ("post", "/api/v1/phrases/render", {"content": "{买家昵称}", "context": {"buyer_nickname": NUL}}),
        ("post", "/api/v1/phrases/templates/import", {"scenarios": [NUL]}),
    ]


def test_a_nul_in_any_staff_string_is_422_and_stores_nothing(
    teammate_client: Client, chat: Conversation, teammate: StaffAccount
) -> None:
    messages = Message.objects.count()
    for method, url, body in staff_nul_cases(chat, teammate):
        response = api_call(teammate_client, method, url, body)
        assert response.status_code == 422, (url, body, response.content)
    assert Message.objects.count() == messages
    assert not Transfer.objects.exists() and not Phrase.objects.exists() and not PhraseGroup.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/routing/products?q=%00",
        "/api/v1/routing/proactive/buyers?q=a%00",
        "/api/v1/phrases/?q=%00",
        "/api/v1/phrases/suggest?text=%00",
        "/api/v1/phrases/templates?scenario=%00",
    ],
)
def test_a_nul_in_a_search_parameter_is_422(teammate_client: Client, url: str) -> None:
    response = teammate_client.get(url)
    assert response.status_code == 422, response.content
    assert "NUL" in response.content.decode()
    assert teammate_client.get(url.replace("%00", "greeting")).status_code == 200


def test_clean_text_refuses_nul_lone_surrogates_and_length_naming_the_field() -> None:
    assert validation.clean_text("你好", 2) == "你好"
    for bad in [f"a{NUL}", "\ud800", "abc"]:
        with pytest.raises(Invalid) as raised:
            validation.clean_text(bad, 2, field="text")
        assert raised.value.errors[0]["field"] == "text"
    assert validation.is_clean_text("emoji 😀 and 中文") and not validation.is_clean_text("\udc00")


# --- lengths ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["url", "image_url"])
def test_a_product_url_longer_than_its_column_is_422_and_one_that_fits_is_stored(
    client: Client, key_a: str, shop_a: Shop, field: str
) -> None:
    base = "https://shop.example.com/item/"
    fits = base + "x" * (500 - len(base))
    too_long = fits + "x"
    record = {"platform_id": "p1", "title": "杯子", "price": "1"}
    assert push(client, key_a, "products", {"records": [{**record, field: too_long}]}).status_code == 422
    assert not Product.objects.exists()
    assert push(client, key_a, "products", {"records": [{**record, field: fits}]}).status_code == 200
    assert getattr(Product.objects.get(), field) == fits


# --- ids in query strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["²", "١", "-1", "1.0", " 1", "99999999999999999999", "", "0"])
def test_a_malformed_product_id_on_the_chat_page_is_ignored(
    client: Client, buyer_b1: Buyer, raw: str
) -> None:
    factories.product(buyer_b1.shop)
    url = reverse("routing:buyer-chat", args=[buyer_b1.shop_id])
    response = client.get(f"{url}?{urlencode({'token': buyer_token(buyer_b1), 'product': raw})}")
    assert response.status_code == 200
    assert response.context["initial"]["product"] is None


def test_a_product_id_of_the_shop_on_the_chat_page_is_kept(client: Client, buyer_b1: Buyer) -> None:
    product = factories.product(buyer_b1.shop)
    url = reverse("routing:buyer-chat", args=[buyer_b1.shop_id])
    response = client.get(f"{url}?{urlencode({'token': buyer_token(buyer_b1), 'product': str(product.pk)})}")
    assert response.context["initial"]["product"] == product.pk


@pytest.mark.parametrize("bad", [0, -1, 2**63, 2**100])
def test_an_id_outside_a_bigint_in_an_api_body_or_query_is_422(
    teammate_client: Client, teammate: StaffAccount, bad: int
) -> None:
    """SQLite could not even compare 2**100 in ``pk__in`` (a 500); PostgreSQL answered a 404."""
    create = {"content": "亲，在的", "product_ids": [bad]}
    assert api_call(teammate_client, "post", "/api/v1/phrases/", create).status_code == 422
    assert teammate_client.get(f"/api/v1/phrases/?product_id={bad}").status_code == 422
    proactive = api_call(teammate_client, "post", "/api/v1/routing/proactive", {"buyer_id": bad})
    assert proactive.status_code == 422
    assert not Phrase.objects.exists()


def test_parse_id_takes_ascii_digits_of_a_bigint_only() -> None:
    assert validation.parse_id("42") == 42
    assert validation.parse_id(str(validation.MAX_ID)) == validation.MAX_ID
    for raw in [None, "", "0", "²", "٣", "+1", "1e3", str(validation.MAX_ID + 1)]:
        assert validation.parse_id(raw) is None


# --- admin lists -------------------------------------------------------------------------------------------


def changelists() -> list[str]:
    """The shops' admin lists (every ``ShopScopedAdmin``); the stock platform pages are not ours."""
    return [
        f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, ShopScopedAdmin)
    ]


@pytest.mark.parametrize("name", changelists())
def test_a_nul_in_an_admin_search_or_filter_is_not_a_500(
    name: str, owner: StaffAccount, superuser: Any, chat: Conversation
) -> None:
    """Every admin list: the search box and every list filter's parameters, as the owner and as a platform
    superuser (who has the shop filter too)."""
    url = reverse(name)
    for person in (owner, superuser):
        client = login_client(person)
        page = client.get(url)
        if page.status_code != 200:  # a list this person may not open
            continue
        params = [{"q": f"a{NUL}"}]
        for spec in page.context["cl"].filter_specs:
            params += [{param: NUL} for param in spec.expected_parameters()]
        for query in params:
            response = client.get(url, query)
            assert response.status_code in (200, 302), (url, query, response.status_code)


def test_a_malformed_group_filter_in_the_phrase_admin_is_not_a_500(owner: StaffAccount) -> None:
    group = phrase_services.create_group(actor=owner, scope=phrase_services.TEAM, name="售后")
    client = login_client(owner)
    url = reverse("admin:phrases_phrase_changelist")
    assert client.get(url, {"group": group.pk}).status_code == 200
    for raw in ["abc", "²", "99999999999999999999"]:
        assert client.get(url, {"group": raw}).status_code in (200, 302), raw


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("crowd", tag_choice("member_level", NUL)),
        ("crowd", tag_choice(f"a{NUL}", "金卡")),
        ("crowd", NUL),
        ("intents", f"refund{NUL}"),
        ("order_states", f"none{NUL}"),
        ("products", f"1{NUL}"),
        ("products", str(validation.MAX_ID + 1)),  # SQLite cannot even compare it
    ],
)
def test_a_nul_or_an_impossible_id_in_a_group_scope_is_a_form_error(
    owner: StaffAccount, field: str, raw: str
) -> None:
    """The scope widgets take only what they offered; nothing reaches the database."""
    form = {"name": "售后组", "products": [], field: [raw]}
    response = login_client(owner).post(reverse("admin:routing_agentgroup_add"), form)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not AgentGroup.objects.exists()


def test_json_text_error_finds_a_bad_string_at_any_depth() -> None:
    deep: Any = ["ok", {"k": [NUL]}]
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    assert validation.json_text_error(deep) is not None
    assert validation.json_text_error({"k": ["v", 1, None, {"n": 2.5}]}) is None
