"""Every admin model is scoped to the current shop: lists, object URLs (404 for another shop's id) and
rights (403 without them). Fixtures: owner and teammate of shop A, outsider = owner of shop B."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backoffice import services
from backoffice.models import ApiKey, Buyer, Order, Product, Shop, StaffAccount
from tests.backoffice import factories
from tests.conftest import login_client

# model -> builder of one object in a shop, and the text its changelist row shows
ADMIN_MODELS: dict[type, Callable[[Shop, str], Any]] = {
    Shop: lambda shop, tag: shop,
    StaffAccount: lambda shop, tag: StaffAccount.objects.get(shop=shop, role="owner"),
    Buyer: lambda shop, tag: factories.buyer(shop, f"buyer-{tag}", f"买家{tag}"),
    Product: lambda shop, tag: factories.product(shop, f"prod-{tag}", f"商品{tag}"),
    Order: lambda shop, tag: factories.order(shop, f"ORDER-{tag}", f"ob-{tag}"),
    ApiKey: lambda shop, tag: services.create_api_key(shop=shop, name=f"key-{tag}", created_by=None)[0],
}


def listed(response: Any) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def admin_url(obj: Any, view: str) -> str:
    opts = obj._meta
    args = [obj.pk] if view != "changelist" else []
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m.__name__)
def test_owner_lists_and_opens_only_their_own_shop(
    model: type, shop_a: Shop, shop_b: Shop, owner_client: Client
) -> None:
    mine = ADMIN_MODELS[model](shop_a, "A")
    theirs = ADMIN_MODELS[model](shop_b, "B")

    listing = owner_client.get(admin_url(mine, "changelist"))
    assert listing.status_code == 200
    assert listed(listing) == {mine.pk}
    assert theirs.pk != mine.pk

    assert owner_client.get(admin_url(mine, "change")).status_code == 200
    assert owner_client.get(admin_url(theirs, "change")).status_code == 404
    assert owner_client.get(admin_url(theirs, "history")).status_code == 404
    assert owner_client.get(admin_url(theirs, "delete")).status_code in (403, 404)


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m.__name__)
def test_outsider_cannot_open_shop_a_objects(model: type, shop_a: Shop, outsider_client: Client) -> None:
    mine = ADMIN_MODELS[model](shop_a, "A")
    assert outsider_client.get(admin_url(mine, "change")).status_code == 404
    assert mine.pk not in listed(outsider_client.get(admin_url(mine, "changelist")))


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m.__name__)
def test_superuser_sees_every_shop(model: type, shop_a: Shop, shop_b: Shop, superuser: Any) -> None:
    client = login_client(superuser)
    a, b = ADMIN_MODELS[model](shop_a, "A"), ADMIN_MODELS[model](shop_b, "B")
    assert {a.pk, b.pk} <= listed(client.get(admin_url(a, "changelist")))
    assert client.get(admin_url(b, "change")).status_code == 200


@pytest.mark.parametrize("model", [StaffAccount, ApiKey, Shop], ids=lambda m: m.__name__)
def test_agent_without_the_right_gets_403(model: type, shop_a: Shop, teammate_client: Client) -> None:
    obj = ADMIN_MODELS[model](shop_a, "A")
    assert teammate_client.get(admin_url(obj, "changelist")).status_code == 403
    assert teammate_client.get(admin_url(obj, "change")).status_code == 403


def test_agent_sees_orders_read_only(shop_a: Shop, teammate_client: Client) -> None:
    order = factories.order(shop_a, "ORDER-RO")
    page = teammate_client.get(admin_url(order, "change"))
    assert page.status_code == 200
    assert 'name="_save"' not in page.text


def test_owner_sees_other_shops_nowhere_on_the_admin_index(
    shop_a: Shop, shop_b: Shop, owner_client: Client
) -> None:
    page = owner_client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert shop_b.name not in page.text


def test_api_key_created_in_admin_belongs_to_current_shop_and_is_shown_once(
    shop_a: Shop, owner_client: Client
) -> None:
    response = owner_client.post(reverse("admin:backoffice_apikey_add"), {"name": "ERP"})
    assert response.status_code == 200
    key = ApiKey.objects.get(name="ERP")
    assert key.shop == shop_a
    shown = re.findall(r"sk_[\w-]+", response.text)
    assert len(shown) == 1
    raw = shown[0]
    assert services.authenticate_api_key(raw) == shop_a
    assert "no-store" in response["Cache-Control"]
    # Not in any cookie (the messages framework keeps its messages in one), nor on any later page.
    assert all(raw not in morsel.value for morsel in response.cookies.values())
    assert all(raw not in morsel.value for morsel in owner_client.cookies.values())
    for later in (admin_url(key, "changelist"), admin_url(key, "change"), reverse("admin:index")):
        assert raw not in owner_client.get(later).text


def test_owner_revokes_api_key_in_admin(shop_a: Shop, owner_client: Client, key_a: str) -> None:
    key = ApiKey.objects.get(shop=shop_a)
    response = owner_client.post(
        reverse("admin:backoffice_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    assert services.authenticate_api_key(key_a) is None


def test_owner_cannot_revoke_another_shops_key_by_posting_its_id(
    shop_b: Shop, owner_client: Client, key_b: str, owner: StaffAccount
) -> None:
    key = ApiKey.objects.get(shop=shop_b)
    owner_client.post(
        reverse("admin:backoffice_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert services.authenticate_api_key(key_b) == shop_b
