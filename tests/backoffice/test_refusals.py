"""Refusals stay small and lead somewhere: a 403 is one log line, and a ``next`` refused as unsafe (sign-in,
shop switch) lands on the console's home page instead of a 404."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from backoffice import services
from backoffice.models import Role, Shop, StaffAccount
from tests.backoffice.factories import sign_in, signed_in
from tests.conftest import PASSWORD, login_client

UNSAFE = ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", ""]


def logged_lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    """What the console handler would write for ``logger``'s records (message plus any traceback)."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return [formatter.format(r) for r in caplog.records if r.name == logger]


def test_a_permission_denied_is_logged_as_one_short_line(
    teammate_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    path = reverse("admin:backoffice_staffaccount_changelist")
    with caplog.at_level(logging.WARNING):
        assert teammate_client.get(path).status_code == 403
    [line] = logged_lines(caplog, "django.request")
    assert line == f"WARNING django.request Forbidden (Permission denied): {path}"


def test_a_csrf_refusal_is_logged_as_one_short_line(
    owner: StaffAccount, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    with caplog.at_level(logging.WARNING):
        assert client.post(reverse("switch-shop"), {"shop": owner.shop_id}).status_code == 403
    [line] = logged_lines(caplog, "django.security.csrf")
    assert "\n" not in line and len(line) < 200


@pytest.mark.parametrize("target", UNSAFE)
def test_a_sign_in_with_a_refused_next_lands_on_the_home_page(owner: StaffAccount, target: str) -> None:
    client = Client()
    response = sign_in(client, "owner_a", PASSWORD, next=target)
    assert signed_in(client)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(response["Location"]).status_code == 200


def test_a_sign_in_with_a_safe_next_goes_there(owner: StaffAccount) -> None:
    response = sign_in(Client(), "owner_a", PASSWORD, next="/admin/backoffice/order/")
    assert response["Location"] == "/admin/backoffice/order/"


@pytest.mark.parametrize("target", UNSAFE)
def test_a_shop_switch_with_a_refused_next_lands_on_the_home_page(
    teammate: StaffAccount, shop_b: Shop, target: str
) -> None:
    services.create_staff_account(
        shop=shop_b, login="agent_a", password=PASSWORD, display_name="外包", role=Role.AGENT, im_enabled=True
    )
    client = login_client(teammate)
    response = client.post(reverse("switch-shop"), {"shop": shop_b.pk, "next": target})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").json()["shop"]["id"] == shop_b.pk
