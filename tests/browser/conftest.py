"""Browser tests: Playwright driving Debian's Chromium against a real daphne server (HTTP + WebSocket) that
serves the test database. pytest-django's ``live_server`` is WSGI only, so the server is a daphne subprocess
(``tests.live``) pointed at the database pytest-django created; the tests use
``django_db(transaction=True)`` so that what they create is committed and visible to it.

Waits are on what the page or the server shows (``expect``, a response, a socket frame); Playwright's
timeouts are a safety net for a busy machine (``SAFETY_TIMEOUT_MS``), not a measure of the time a step
should take. After each test, before pytest-django flushes the tables, the server is left with nothing to
do (``new_context``, ``server_released``)."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from django.apps import apps
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from backoffice import services as shop_services
from backoffice.models import Role, Shop, StaffAccount
from routing import services
from routing.tokens import buyer_token
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client
from tests.live import (
    SAFETY_TIMEOUT,
    application_name,
    daphne,
    release_database,
    server_env,
    unique_prefix,
    wait_until,
)

CHROMIUM = "/usr/bin/chromium"
SAFETY_TIMEOUT_MS = int(SAFETY_TIMEOUT * 1000)
# Every action, navigation and ``expect`` waits up to this for its event (Playwright's own defaults, 30 s for
# actions and 5 s for ``expect``, are pass/fail criteria on a machine busy with other work).
expect.set_options(timeout=SAFETY_TIMEOUT_MS)

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


@dataclass(frozen=True)
class LiveServer:
    url: str
    prefix: str  # of its channel-layer names; its database connections are ``application_name(prefix)``


@pytest.fixture(scope="package")
def live_server_process(django_db_setup: Any) -> Iterator[LiveServer]:
    """One daphne server for the browser tests, on the test database, with its own channel-layer prefix."""
    prefix = unique_prefix()
    with daphne(server_env(prefix)) as (host, _process):
        yield LiveServer(f"http://{host}", prefix)


@pytest.fixture(scope="package")
def live_url(live_server_process: LiveServer) -> str:
    return live_server_process.url


@pytest.fixture
def server_released(transactional_db: None, live_server_process: LiveServer) -> Iterator[None]:
    """At teardown, once ``new_context`` has closed the browser contexts (it depends on this fixture, so it
    tears down first) and before pytest-django flushes the tables (this depends on ``transactional_db``, so
    it tears down before the flush): the server has nothing left to do with the database.

    A closed page's sockets are not gone at once for the server: each consumer still handles the frames it
    had received, then runs its disconnect (a workbench's writes the agent's presence, routing/presence.py).
    A consumer that has finished has unsubscribed its channel-layer names (Redis pub/sub), so no channel
    of the server's prefix left means every consumer is done. Then
    ``release_database`` waits until the server's connections are idle and terminates them: the TRUNCATE
    cannot wait on, or deadlock with, a statement or a transaction of the server's. The server reconnects
    on its next request."""
    yield
    pattern = live_server_process.prefix + "*"
    try:
        with redis_lib.Redis.from_url(os.environ["REDIS_URL"]) as channels:
            wait_until(
                lambda: not channels.pubsub_channels(pattern),
                lambda: f"the live server's consumers still run: {channels.pubsub_channels(pattern)}",
            )
    finally:
        release_database(application_name(live_server_process.prefix))


# What Chromium logs to the console for each thing the Content-Security-Policy refused on the page.
CSP_REFUSAL = "Content Security Policy"


@pytest.fixture
def page_errors() -> Iterator[list[str]]:
    """Uncaught script errors and Content-Security-Policy refusals of the pages opened in watched contexts
    (``watch``); any fails the test."""
    errors: list[str] = []
    yield errors
    assert errors == [], f"script errors or CSP refusals on the page: {errors}"


@pytest.fixture
def watch(page_errors: list[str]) -> Any:
    def console(message: Any) -> None:
        if CSP_REFUSAL in message.text:
            page_errors.append(message.text)

    def page(page: Any) -> None:
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.on("console", console)

    def attach(context: Any) -> Any:
        context.on("page", page)
        return context

    return attach


class Requests:
    """A browser context's HTTP requests still waiting for their response (Playwright's request events)."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.pending: set[Any] = set()
        context.on("request", self.sent)
        context.on("response", self.answered)
        context.on("requestfailed", self.answered)

    def sent(self, request: Any) -> None:
        self.pending.add(request)

    def answered(self, request_or_response: Any) -> None:
        self.pending.discard(getattr(request_or_response, "request", request_or_response))

    def settle(self) -> None:
        """Refuse any new request and wait until those sent have their response: the server is done with
        them before the context closes (Django sends a response's head once the view has returned and the
        middleware has saved the session). Not the end of the body: a page need not read it, and then
        Playwright never sees it finish."""
        self.context.route("**/*", lambda route: route.abort())
        deadline = time.monotonic() + SAFETY_TIMEOUT
        while self.pending:
            if time.monotonic() > deadline:
                urls = [request.url for request in self.pending]
                raise AssertionError(f"no response after {SAFETY_TIMEOUT:.0f} s to {urls}")
            # Each response wakes this up; a request that fails instead (refused, aborted) wakes nothing,
            # so the set is looked at again every 100 ms.
            with suppress(PlaywrightTimeoutError):
                self.context.wait_for_event("response", timeout=100)


@pytest.fixture
def new_context(browser: Any, live_url: str, watch: Any, server_released: None) -> Iterator[Any]:
    """Browser contexts (separate cookie jars: a buyer and an agent) on the live server, or on
    ``base_url``. After the test, they send no new request and get the responses to those sent, then
    they are closed (``server_released`` then waits for the server to see their sockets close)."""
    contexts: list[Requests] = []

    def make(staff: StaffAccount | None = None, *, base_url: str = live_url) -> Any:
        context = watch(browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai"))
        context.set_default_timeout(SAFETY_TIMEOUT_MS)
        if staff is not None:
            cookie = login_client(staff).cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": base_url}])
        contexts.append(Requests(context))
        return context

    yield make
    try:
        for requests in contexts:
            requests.settle()
    finally:
        for requests in contexts:
            requests.context.close()


# An init script: the type of every frame the page's sockets receive, in ``window.__frames``, for a test to
# wait on one that changes nothing on the page:
# ``page.wait_for_function("() => window.__frames.includes(...)")``. A function, which Playwright evaluates
# once; a bare expression it evaluates at each poll, which the pages' Content-Security-Policy refuses (eval).
FRAMES = """
(() => {
  const frames = (window.__frames = []);
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        try {
          frames.push(JSON.parse(event.data).type);
        } catch (e) {
          /* not JSON */
        }
      });
    }
  };
})();
"""


# --- people and pages --------------------------------------------------------------------------------------


@pytest.fixture
def role_groups(transactional_db: None) -> None:
    """The roles' groups (and so the owner's admin rights), which the flush after an earlier transactional
    test removed: migration 0002 made them, and nothing makes them again."""
    importlib.import_module("backoffice.migrations.0002_role_groups").create_role_groups(apps, None)


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
