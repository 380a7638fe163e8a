"""Browser tests: Playwright driving Debian's Chromium against a real daphne server (HTTP + WebSocket) that
serves the test database. pytest-django's ``live_server`` is WSGI only, so the server is a daphne subprocess
(``tests.live``) pointed at the database pytest-django created; the tests use
``django_db(transaction=True)`` so that what they create is committed and visible to it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice import services as shop_services
from backoffice.models import Role, Shop, StaffAccount
from routing import services
from routing.tokens import buyer_token
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client
from tests.live import daphne, server_env, unique_prefix

CHROMIUM = "/usr/bin/chromium"

# Playwright's sync API drives its event loop from the test's thread, which makes Django believe it is called
# from async code; the tests' ORM calls are plain synchronous calls between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

requires_live_stack = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    or not os.environ.get("REDIS_URL"),
    reason="browser tests need a real server on PostgreSQL and Redis: set DATABASE_URL=postgres://... and "
    "REDIS_URL=redis://...",
)
requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Package-scoped: Playwright's sync API keeps an event loop running until it stops, which would break
    the asyncio tests collected after this package."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def live_url(django_db_setup: Any) -> Iterator[str]:
    """One daphne server for the browser tests, on the test database, with its own channel-layer prefix."""
    with daphne(server_env(unique_prefix())) as (host, _process):
        yield f"http://{host}"


@pytest.fixture
def page_errors() -> Iterator[list[str]]:
    """Uncaught script errors of the pages opened in watched contexts (``watch``); any fails the test."""
    errors: list[str] = []
    yield errors
    assert errors == [], f"script errors on the page: {errors}"


@pytest.fixture
def watch(page_errors: list[str]) -> Any:
    def attach(context: Any) -> Any:
        context.on("page", lambda page: page.on("pageerror", lambda exc: page_errors.append(str(exc))))
        return context

    return attach


@pytest.fixture
def new_context(browser: Any, live_url: str, watch: Any) -> Iterator[Any]:
    """Browser contexts (separate cookie jars: a buyer and an agent), closed after the test."""
    contexts: list[Any] = []

    def make(staff: StaffAccount | None = None) -> Any:
        context = watch(browser.new_context(base_url=live_url, locale="zh-CN", timezone_id="Asia/Shanghai"))
        context.set_default_timeout(10_000)
        if staff is not None:
            cookie = login_client(staff).cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_url}])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


# --- people and pages --------------------------------------------------------------------------------------


def make_agent(
    shop: Shop, login: str, name: str, *, status: str = "online", limit: int = 10, routing: bool = True
) -> StaffAccount:
    staff = shop_services.create_staff_account(
        shop=shop, login=login, password=PASSWORD, display_name=name, role=Role.AGENT, im_enabled=True
    )
    StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=limit)
    staff.refresh_from_db()
    services.configure_agent(staff=staff, routing=routing)
    services.set_agent_status(staff=staff, status=status)
    return staff


@pytest.fixture
def agent(shop_a: Shop, owner: StaffAccount) -> StaffAccount:
    """The shop's only online agent (the owner is offline)."""
    services.set_agent_status(staff=owner, status="offline")
    return make_agent(shop_a, "live_agent", "售前-小美")


def open_workbench(new_context: Any, staff: StaffAccount, init_script: str = "") -> Any:
    context = new_context(staff)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto("/workbench/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    return page


def open_chat(new_context: Any, shop: Shop, platform_id: str, nickname: str) -> Any:
    buyer = factories.buyer(shop, platform_id, nickname)
    page = new_context().new_page()
    page.goto(f"/chat/{shop.pk}/?token={buyer_token(buyer)}")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    return page
