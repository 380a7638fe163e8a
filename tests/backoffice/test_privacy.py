"""Buyer privacy (backoffice/privacy.py): phone numbers and addresses masked for accounts without the right
``view_full_phone`` in the admin's order and buyer pages, their searches and autocomplete, and the
workbench's buyer panel; shown in full to the owner (and those granted the right) and each showing recorded;
the staff API returns no contact details; the integration API keeps them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from backoffice import services
from backoffice.access import Right, has_right
from backoffice.models import ContactView, Order, Role, Shop, StaffAccount
from backoffice.privacy import mask_address, mask_contact_line, mask_phone
from backoffice.urls import api
from routing import services as routing_services
from routing.models import Conversation
from tests.backoffice import factories
from tests.conftest import login_client

PHONE, ADDRESS = "13912345678", "浙江省杭州市西湖区文三路1号阳光花园3栋"
NEW_PHONE, NEW_ADDRESS = "18687654321", "上海市浦东新区世纪大道100号"
ORDERS = "/admin/backoffice/order/"
BUYERS = "/admin/backoffice/buyer/"


# --- the masking rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),  # separators dropped
        ("138-1234-5678", "138****5678"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("+8613812345678", "+86 138****5678"),
        ("008613812345678", "+86 138****5678"),
        ("8613812345678", "+86 138****5678"),  # 86 before an 11-digit mobile number
        ("0571-88886666", "057*****6666"),  # a landline: 12 digits, 5 hidden
        ("0571-88886666-801", "057********6801"),
        ("+1 415 555 2671", "+141****2671"),  # another country's code: digits like the rest
        ("12345678", "123*5678"),  # 8 digits: the shortest with a middle
        ("1234567", "*****67"),  # 3-7 digits: only the last 2
        ("95588", "***88"),
        ("123", "*23"),
        ("12", "****"),
        ("+86 12", "****"),
        ("暂无", "****"),  # no digits at all
        ("１３８１２３４５６７８", "****"),  # full-width digits are no ASCII digits: nothing shown
        ("", ""),
        ("   ", ""),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("浙江省杭州市西湖区文三路1号", "浙江省杭州市西湖区****"),
        ("广东省广州市天河区人民路123号阳光花园3栋1单元1203室", "广东省广州市天河区****"),
        ("上海市浦东新区世纪大道100号", "上海市浦东新区****"),
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("广西壮族自治区南宁市青秀区民族大道1号", "广西壮族自治区南宁市青秀区****"),
        ("新疆维吾尔自治区伊犁哈萨克自治州伊宁市解放路1号", "新疆维吾尔自治区伊犁哈萨克自治州伊宁市****"),
        ("浙江省杭州市", "浙江省杭州市"),  # only a region: nothing to hide
        ("甲店地址·青石巷七号", "甲店地****"),  # no region: the first third
        ("Flat 3, 12 Baker Street, London", "Flat 3****"),
        ("", ""),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("王小明 13800000000 浙江省杭州市西湖区文三路1号", "王小明 138****0000 浙江省杭州市西湖区****"),
        (
            "王小明 +86 138-0000-0000 浙江省杭州市西湖区文三路1号",
            "王小明 +86 138****0000 浙江省杭州市西湖区****",
        ),
        ("王小明 浙江省杭州市西湖区文三路1号", "王小明 浙江省杭州市西湖区****"),
        ("浙江省杭州市西湖区文三路1号", "浙江省杭州市西湖区****"),
        ("13800000000", "138****0000"),
    ],
)
def test_mask_contact_line(line: str, masked: str) -> None:
    assert mask_contact_line(line) == masked


# --- who sees full numbers ---------------------------------------------------------------------------------


def test_the_owner_and_administrators_see_full_numbers_agents_and_supervisors_do_not(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, supervisor: StaffAccount
) -> None:
    admin = factories.staff(shop_a, "admin_a", "管理员-阿宁", role=Role.ADMIN)
    operations = factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS)
    assert [has_right(s, Right.VIEW_FULL_PHONE) for s in (owner, admin)] == [True, True]
    assert [has_right(s, Right.VIEW_FULL_PHONE) for s in (teammate, supervisor, operations)] == [False] * 3
    # The owner grants it per account, like every fine-grained right.
    assert services.grantable_rights().filter(codename="view_full_phone").exists()
    services.update_staff_account(
        staff=supervisor,
        display_name=supervisor.display_name,
        role=supervisor.role,
        im_enabled=True,
        is_active=True,
        rights=services.grantable_rights().filter(codename="view_full_phone"),
    )
    assert has_right(StaffAccount.objects.get(pk=supervisor.pk), Right.VIEW_FULL_PHONE)


# --- the admin ---------------------------------------------------------------------------------------------


@pytest.fixture
def changed_order(shop_a: Shop) -> Order:
    """An order whose address was changed once (an address change with both phone numbers)."""
    factories.order(shop_a, "O-PRIV-1", "b1", receiver_phone=PHONE, address=ADDRESS)
    return factories.order(shop_a, "O-PRIV-1", "b1", receiver_phone=NEW_PHONE, address=NEW_ADDRESS)


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return str(response.content.decode())


def test_admin_order_list_and_page_mask_contacts_for_an_agent_and_record_nothing(
    teammate_client: Client, changed_order: Order
) -> None:
    listed = page(teammate_client, ORDERS)
    assert "186****4321" in listed and NEW_PHONE not in listed

    shown = page(teammate_client, f"{ORDERS}{changed_order.pk}/change/")
    assert "186****4321" in shown and "上海市浦东新区****" in shown
    assert "王小明 139****5678 浙江省杭州市西湖区****" in shown  # the address change, old side
    for secret in (PHONE, NEW_PHONE, "世纪大道", "文三路"):
        assert secret not in shown
    assert not ContactView.objects.exists()


def test_admin_shows_the_owner_full_contacts_and_records_each_showing(
    owner: StaffAccount, owner_client: Client, changed_order: Order, shop_a: Shop
) -> None:
    other = factories.order(shop_a, "O-PRIV-2", "b2", receiver_phone="", address="")  # nothing private

    assert NEW_PHONE in page(owner_client, ORDERS)
    listed = list(ContactView.objects.values_list("order_id", "place", "staff_id", "user_id", "buyer_id"))
    assert listed == [(changed_order.pk, "admin_list", owner.pk, owner.user_id, changed_order.buyer_id)]
    assert other.pk not in [row[0] for row in listed]

    shown = page(owner_client, f"{ORDERS}{changed_order.pk}/change/")
    assert NEW_PHONE in shown and NEW_ADDRESS in shown and f"王小明 {PHONE} {ADDRESS}" in shown
    viewed = ContactView.objects.order_by("-pk").first()
    assert viewed is not None and (viewed.place, viewed.order_id) == ("admin_form", changed_order.pk)
    assert viewed.at is not None and abs(viewed.at - timezone.now()) < timedelta(minutes=1)


def test_only_those_with_the_right_find_orders_and_buyers_by_full_phone_number(
    teammate_client: Client, owner_client: Client, changed_order: Order
) -> None:
    assert "O-PRIV-1" in page(owner_client, f"{ORDERS}?q={NEW_PHONE}")
    assert "买家小王" in page(owner_client, f"{BUYERS}?q={NEW_PHONE}")

    # An agent's search by a phone number finds nothing, so it cannot tell whether the number is a buyer's.
    assert "O-PRIV-1" not in page(teammate_client, f"{ORDERS}?q={NEW_PHONE}")
    assert "买家小王" not in page(teammate_client, f"{BUYERS}?q={NEW_PHONE}")
    assert "O-PRIV-1" not in page(teammate_client, f"{ORDERS}?q=4321")  # nor a part of it
    # The order number still finds it, masked.
    found = page(teammate_client, f"{ORDERS}?q=O-PRIV-1")
    assert "O-PRIV-1" in found and NEW_PHONE not in found


def test_the_admin_autocomplete_finds_no_order_by_phone_for_an_agent(
    teammate_client: Client, owner_client: Client, changed_order: Order
) -> None:
    url = (
        f"/admin/autocomplete/?app_label=backoffice&model_name=contactview&field_name=order&term={NEW_PHONE}"
    )
    assert json.loads(page(teammate_client, url))["results"] == []
    # For the owner it finds the order, named by its number only.
    assert json.loads(page(owner_client, url))["results"] == [
        {"id": str(changed_order.pk), "text": "O-PRIV-1"}
    ]


def test_another_shops_buyer_and_order_are_404_in_admin(
    outsider_client: Client, changed_order: Order
) -> None:
    assert outsider_client.get(f"{ORDERS}{changed_order.pk}/change/").status_code == 404
    assert outsider_client.get(f"{BUYERS}{changed_order.buyer_id}/change/").status_code == 404
    assert not ContactView.objects.exists()


def test_the_record_of_full_views_is_the_owners_to_read_and_nobodys_to_change(
    owner_client: Client, teammate_client: Client, shop_a: Shop, changed_order: Order, outsider_client: Client
) -> None:
    page(owner_client, f"{ORDERS}{changed_order.pk}/change/")
    record = ContactView.objects.get()
    admin = login_client(factories.staff(shop_a, "admin_a", "管理员-阿宁", role=Role.ADMIN))
    url = "/admin/backoffice/contactview/"

    assert "O-PRIV-1" in page(owner_client, url)
    assert "O-PRIV-1" in page(owner_client, f"{url}{record.pk}/change/")
    assert owner_client.get(f"{url}add/").status_code == 403
    owner_client.post(f"{url}{record.pk}/delete/", {"post": "yes"})
    assert ContactView.objects.filter(pk=record.pk).exists()
    for client in (teammate_client, admin):
        assert client.get(url).status_code == 403
        assert client.get(f"{url}{record.pk}/change/").status_code == 403
    assert outsider_client.get(f"{url}{record.pk}/change/").status_code == 404


# --- the workbench's buyer panel ---------------------------------------------------------------------------


def chat_with(shop: Shop, agent: StaffAccount) -> Conversation:
    for account in StaffAccount.objects.for_shop(shop).exclude(pk=agent.pk):
        routing_services.set_agent_status(staff=account, status="offline")
    routing_services.set_agent_status(staff=agent, status="online")
    conversation, _decision = routing_services.request_human(buyer=factories.buyer(shop, "b1"))
    conversation.refresh_from_db()
    assert conversation.agent_id == agent.pk
    return conversation


def test_buyer_panel_masks_contacts_for_an_agent(
    shop_a: Shop, teammate: StaffAccount, teammate_client: Client, changed_order: Order
) -> None:
    conversation = chat_with(shop_a, teammate)
    shown = page(teammate_client, f"/workbench/buyer/{conversation.pk}/")
    assert '<span class="phone">186****4321</span>' in shown and "上海市浦东新区****" in shown
    for secret in (PHONE, NEW_PHONE, "世纪大道", "文三路"):
        assert secret not in shown
    assert not ContactView.objects.exists()


def test_buyer_panel_shows_the_owner_full_contacts_and_records_it(
    shop_a: Shop, owner: StaffAccount, owner_client: Client, changed_order: Order
) -> None:
    conversation = chat_with(shop_a, owner)
    shown = page(owner_client, f"/workbench/buyer/{conversation.pk}/")
    assert f'<span class="phone">{NEW_PHONE}</span>' in shown and NEW_ADDRESS in shown
    assert f"王小明 {PHONE} {ADDRESS}" in shown
    assert list(ContactView.objects.values_list("order_id", "place", "staff_id")) == [
        (changed_order.pk, "workbench", owner.pk)
    ]


def test_buyer_panel_labels_each_amount_and_says_an_unpaid_order_is_not_paid(
    shop_a: Shop, teammate: StaffAccount, teammate_client: Client
) -> None:
    items = [
        {"title": "北欧风陶瓷马克杯", "product_platform_id": None, "quantity": 3, "unit_price": "259.00"}
    ]
    factories.order(
        shop_a,
        "O-UNPAID",
        "b1",
        status="unpaid",
        items=items,
        total_amount="747.00",
        discount_amount="30.00",
        paid_amount="0",
        paid_at=None,
    )
    factories.order(shop_a, "O-PAID", "b1", created_at=timezone.now() - timedelta(days=3))
    conversation = chat_with(shop_a, teammate)

    shown = page(teammate_client, f"/workbench/buyer/{conversation.pk}/")
    unpaid = shown[shown.index('data-number="O-UNPAID"') : shown.index('data-number="O-PAID"')]
    assert '<span class="amount-goods">' in unpaid and "¥777.00" in unpaid  # 3 x 259.00, before discount
    assert '<span class="amount-discount">' in unpaid and "−¥30.00" in unpaid
    assert '<span class="amount-due">' in unpaid and "¥747.00" in unpaid
    assert 'class="amount-unpaid"' in unpaid and "amount-paid" not in unpaid and "¥0.00" not in unpaid
    paid = shown[shown.index('data-number="O-PAID"') :]
    assert '<span class="amount-paid">' in paid and "¥79.80" in paid and "amount-unpaid" not in paid


# --- the APIs ----------------------------------------------------------------------------------------------

CONTACT_WORDS = ("phone", "address", "receiver")


def properties(schema: dict[str, Any], node: Any) -> set[str]:
    """Every property name of a response schema, following its references."""
    names: set[str] = set()
    pending, seen = [node], set()
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if ref := item.get("$ref"):
                if ref not in seen:
                    seen.add(ref)
                    pending.append(schema["components"]["schemas"][ref.rsplit("/", 1)[-1]])
                continue
            names |= set(item.get("properties", {}))
            pending += list(item.values())
        elif isinstance(item, list):
            pending += item
    return names


def test_no_staff_api_operation_returns_contact_details() -> None:
    """The staff (session) API answers no receiver phone number or address at all, so there is nothing to
    mask there; an operation that adds one fails here until it masks it (``backoffice.privacy``)."""
    schema = api.get_openapi_schema()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "integration" in operation.get("tags", []):
                continue
            for name in properties(schema, operation.get("responses", {})):
                if any(word in name.lower() for word in CONTACT_WORDS):
                    found.append(f"{method.upper()} {path}: {name}")
    assert found == []


def test_the_integration_api_reads_full_contacts_back(
    client: Client, key_a: str, changed_order: Order
) -> None:
    """The shop's own systems pushed these details: the integration keeps reading them in full."""
    response = client.get("/api/v1/orders/O-PRIV-1", HTTP_AUTHORIZATION=f"Bearer {key_a}")
    body = response.json()
    assert body["address"] == NEW_ADDRESS
    assert body["address_changes"][0]["old_address"] == f"王小明 {PHONE} {ADDRESS}"
