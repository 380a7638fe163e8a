"""A page belongs to one shop (issue 14, "two tabs, two shops"): its requests name the shop it was rendered
for (``X-Shop``), and once the person switched the session to another shop (in another tab) every staff
API operation and staff page refuses them with 409 ``shop_changed`` instead of answering with the other
shop's data. Requests naming no shop follow the session as before.

The staff operations are read from the OpenAPI schema (every operation with session auth), so a new
endpoint is covered without being listed here."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backoffice import services
from backoffice.models import Role, Shop, StaffAccount
from backoffice.tenancy import PAGE_SHOP_HEADER, SHOP_CHANGED
from backoffice.urls import api
from routing import services as routing_services
from routing.models import AgentState
from tests.conftest import PASSWORD, login_client


@functools.cache
def staff_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation signed-in staff call (session auth), path parameters filled."""
    schema = api.get_openapi_schema()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if {"SessionAuth": []} in operation.get("security", []):
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return sorted(found)


def key_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return sorted(
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if {"SessionAuth": []} not in operation.get("security", [])
    )


def named(shop: Any) -> dict[str, str]:
    """The header of a page rendered for ``shop``."""
    return {PAGE_SHOP_HEADER: str(shop)}


def ask(client: Client, method: str, path: str, shop: Any = None, **headers: str) -> Any:
    sent = {**headers, **({} if shop is None else named(shop))}
    call = getattr(client, method.lower())
    if method in {"POST", "PUT", "PATCH"}:
        return call(path, json.dumps({}), content_type="application/json", headers=sent)
    return call(path, headers=sent)


def is_shop_changed(response: Any) -> bool:
    if response.status_code != 409 or not response.get("Content-Type", "").startswith("application/json"):
        return False
    return bool(response.json().get("code") == SHOP_CHANGED)


@pytest.fixture
def outsourced(shop_a: Shop, shop_b: Shop, teammate: StaffAccount) -> StaffAccount:
    """The teammate of shop A also works for shop B (an outsourcing agency): its account there."""
    return services.create_staff_account(
        shop=shop_b,
        login="agent_a",
        password=PASSWORD,
        display_name="外包-小美",
        role=Role.AGENT,
        im_enabled=True,
    )


@pytest.fixture
def switched(teammate: StaffAccount, outsourced: StaffAccount, shop_b: Shop) -> Client:
    """The person's session, switched to shop B (tab B) after tab A was rendered for shop A."""
    client = login_client(teammate)
    assert client.post(reverse("switch-shop"), {"shop": shop_b.pk}).status_code == 302
    return client


def test_the_sweep_finds_the_staff_operations() -> None:
    operations = staff_operations()
    assert ("GET", "/api/v1/routing/products") in operations
    assert ("GET", "/api/v1/routing/agents") in operations
    assert ("GET", "/api/v1/phrases/suggest") in operations
    assert ("GET", "/api/v1/me") in operations
    assert len(operations) >= 40


@pytest.mark.parametrize(("method", "path"), staff_operations())
def test_every_staff_operation_refuses_a_page_of_the_shop_the_session_left(
    switched: Client, shop_a: Shop, shop_b: Shop, method: str, path: str
) -> None:
    response = ask(switched, method, path, shop=shop_a.pk)
    assert is_shop_changed(response), (response.status_code, response.content[:300])
    body = response.json()
    assert body["shop"] == {"id": shop_b.pk, "name": shop_b.name}
    assert shop_b.name in body["detail"] and shop_a.name in body["detail"]
    # The page of the current shop, and a caller naming no shop (curl with the session), are answered.
    assert not is_shop_changed(ask(switched, method, path, shop=shop_b.pk))
    assert not is_shop_changed(ask(switched, method, path))


def test_a_refused_request_changes_nothing(switched: Client, shop_a: Shop, outsourced: StaffAccount) -> None:
    routing_services.set_agent_status(staff=outsourced, status="offline")
    response = switched.put(
        "/api/v1/routing/me/status",
        json.dumps({"status": "online"}),
        content_type="application/json",
        headers=named(shop_a.pk),
    )
    assert is_shop_changed(response)
    assert AgentState.objects.get(staff=outsourced).status == "offline"


def test_the_workbench_pages_own_requests_are_refused_too(
    switched: Client, shop_a: Shop, shop_b: Shop
) -> None:
    """Not only the API: the buyer panel the workbench fetches, and any page asked with the header."""
    assert is_shop_changed(switched.get("/workbench/buyer/1/", headers=named(shop_a.pk)))
    assert is_shop_changed(switched.get("/workbench/", headers=named(shop_a.pk)))
    assert switched.get("/workbench/", headers=named(shop_b.pk)).status_code == 200


@pytest.mark.parametrize("named", ["", "abc", "0", "-1", "1.5", "99999999999999999999", "１"])
def test_a_header_that_is_not_an_id_names_no_shop_of_the_person(switched: Client, named: str) -> None:
    response = ask(switched, "GET", "/api/v1/me", shop=named)
    assert is_shop_changed(response)


def test_a_shop_the_person_has_no_account_in_is_refused_without_naming_it(
    teammate_client: Client, shop_a: Shop, shop_b: Shop
) -> None:
    response = ask(teammate_client, "GET", "/api/v1/routing/products", shop=shop_b.pk)
    assert is_shop_changed(response)
    body = response.json()
    assert body["shop"] == {"id": shop_a.pk, "name": shop_a.name}
    assert shop_b.name not in body["detail"]


def test_without_a_session_the_header_changes_nothing(client: Client, shop_a: Shop, key_a: str) -> None:
    """Signed out: the operation's own answer (401); an integration with its key is not a page."""
    assert ask(client, "GET", "/api/v1/routing/products", shop=shop_a.pk).status_code == 401
    for method, path in key_operations():
        response = ask(client, method, path, shop=999, Authorization=f"Bearer {key_a}")
        assert not is_shop_changed(response), (method, path)
