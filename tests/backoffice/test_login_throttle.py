"""Sign-in throttling (django-axes, on in every test): a login and, separately, an address are locked out
after LOGIN_FAILURE_LIMIT failures, with the reason on the sign-in page; the admin's "add staff account"
password check counts the same way and answers without telling anything about other shops' logins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from backoffice.admin_site import client_address, lockout_message
from backoffice.models import Shop, StaffAccount
from tests.backoffice.factories import sign_in, signed_in
from tests.conftest import PASSWORD

HOME, AWAY = "192.0.2.10", "198.51.100.20"  # documentation addresses: the requests never leave the process
ADD_URL = reverse("admin:backoffice_staffaccount_add")


def limit() -> int:
    return int(settings.AXES_FAILURE_LIMIT)


def fail(login: str, times: int, address: str = HOME) -> Any:
    response = None
    for _ in range(times):
        response = sign_in(Client(), login, "wrong-password", address=address)
    return response


def assert_locked_out(response: Any, client: Client) -> None:
    assert response.status_code == 429
    assert lockout_message() in response.text
    assert 'id="login-form"' in response.text  # the sign-in page with the reason, not a bare error page
    assert not signed_in(client)


def test_wrong_passwords_lock_the_login_and_then_its_right_password_is_refused(owner: StaffAccount) -> None:
    assert fail("owner_a", limit() - 1).status_code == 200  # refused, not yet locked
    client = Client()
    assert_locked_out(sign_in(client, "owner_a", "wrong-password", address=HOME), client)
    assert_locked_out(sign_in(client, "owner_a", PASSWORD, address=HOME), client)
    # The login is locked on its own: from another address too.
    elsewhere = Client()
    assert_locked_out(sign_in(elsewhere, "owner_a", PASSWORD, address=AWAY), elsewhere)


def test_failures_for_many_logins_lock_their_address_only(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    for i in range(limit()):
        sign_in(Client(), f"guess{i}", "wrong-password", address=HOME)  # no single login near its limit
    client = Client()
    assert_locked_out(sign_in(client, "agent_a", PASSWORD, address=HOME), client)
    elsewhere = Client()
    assert sign_in(elsewhere, "agent_a", PASSWORD, address=AWAY).status_code == 302
    assert signed_in(elsewhere)


def test_a_lockout_ends_when_the_window_has_passed_since_the_last_failure(owner: StaffAccount) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail("owner_a", limit())
        clock.shift(settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
        client = Client()
        assert_locked_out(sign_in(client, "owner_a", PASSWORD, address=HOME), client)
        clock.shift(timedelta(seconds=2))  # the refused attempt above did not extend the lockout
        assert sign_in(client, "owner_a", PASSWORD, address=HOME).status_code == 302
        assert signed_in(client)


def test_spread_out_failures_do_not_add_up(owner: StaffAccount) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail("owner_a", limit() - 1)
        clock.shift(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
        fail("owner_a", limit() - 1)
        client = Client()
        assert sign_in(client, "owner_a", PASSWORD, address=HOME).status_code == 302


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "192.0.2.10"),  # no proxy configured: the header is the client's to write
        (1, "203.0.113.9, 203.0.113.5", "203.0.113.5"),  # the entry our proxy appended, not the spoofed one
        (2, "203.0.113.9, 203.0.113.5", "203.0.113.9"),
        (2, "203.0.113.5", "192.0.2.10"),  # fewer entries than proxies
        (1, "not-an-address", "192.0.2.10"),
    ],
)
def test_the_counted_address_trusts_only_the_configured_proxies(
    settings: Any, hops: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_HOPS = hops
    request = RequestFactory().get("/", REMOTE_ADDR=HOME, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


# --- the admin's "add staff account" form: a password check of another login -----------------------------


def add_staff(client: Client, login: str, password: str) -> Any:
    data = {"login": login, "password": password, "display_name": "新人", "role": "agent", "agent_weight": 1}
    return client.post(ADD_URL, data, REMOTE_ADDR=HOME)


def form_errors(response: Any) -> list[str]:
    assert response.status_code == 200
    return list(response.context["adminform"].form.non_field_errors())


def test_guessing_another_logins_password_in_the_add_form_is_throttled(
    shop_a: Shop, owner_client: Client, outsider: StaffAccount
) -> None:
    for _ in range(limit()):
        assert form_errors(add_staff(owner_client, "owner_b", "guess")) != [lockout_message()]
    # Locked: the right password is refused too, and nothing is linked.
    assert form_errors(add_staff(owner_client, "owner_b", PASSWORD)) == [lockout_message()]
    assert not StaffAccount.objects.filter(shop=shop_a, user__username="owner_b").exists()
    # The guesses were failed sign-ins of that login.
    client = Client()
    assert_locked_out(sign_in(client, "owner_b", PASSWORD, address=AWAY), client)


def test_a_locked_add_form_answers_alike_for_a_taken_and_a_free_login(
    owner_client: Client, outsider: StaffAccount
) -> None:
    fail("someone", limit(), address=HOME)  # the owner's address is locked out
    taken, free = (
        add_staff(owner_client, "owner_b", "guess"),
        add_staff(owner_client, "brand_new", "long-pass-1"),
    )
    assert form_errors(taken) == form_errors(free) == [lockout_message()]
    assert not StaffAccount.objects.filter(user__username="brand_new").exists()


def test_the_add_form_names_neither_the_login_nor_its_shop(
    owner_client: Client, outsider: StaffAccount, shop_b: Shop
) -> None:
    response = add_staff(owner_client, "owner_b", "guess")
    [error] = form_errors(response)
    assert "owner_b" not in error and "exist" not in error
    assert shop_b.name not in response.text and outsider.display_name not in response.text


def test_the_add_form_still_links_a_login_with_its_password(
    shop_a: Shop, owner_client: Client, outsider: StaffAccount
) -> None:
    assert add_staff(owner_client, "owner_b", PASSWORD).status_code == 302
    assert StaffAccount.objects.filter(shop=shop_a, user__username="owner_b").exists()
