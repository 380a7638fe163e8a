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
from django.test import Client

from backoffice.models import StaffAccount
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_url(django_db_setup: Any) -> Iterator[str]:
    """One daphne server for the session, on the test database, with its own channel-layer prefix."""
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
            client = Client()
            client.force_login(staff.user)
            cookie = client.cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_url}])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
