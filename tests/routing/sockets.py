"""WebSocket test helpers shared by the consumer tests: the Redis layer with a prefix per test, sockets for an
agent (their session cookie) and a buyer (their token), and waits that end on the frame they wait for."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from backoffice.asgi import application
from backoffice.models import Buyer, Shop, StaffAccount
from routing import services
from tests.backoffice import factories
from tests.conftest import login_client

TIMEOUT = 30  # a safety net for a busy machine: every wait ends on the frame it waits for
SITE = [(b"origin", b"http://testserver"), (b"host", b"testserver")]


def use_layer(settings: Any, backend: str, redis_url: str) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": backend,
            "CONFIG": {"hosts": [redis_url], "prefix": f"t{uuid.uuid4().hex[:8]}"},
        }
    }
    channel_layers.backends.clear()


@pytest.fixture
def layer(redis_url: str, settings: Any) -> Iterator[None]:
    """The Redis pub/sub channel layer of the settings (the running Redis in CI), a prefix per test."""
    use_layer(settings, "backoffice.events.ChatLayer", redis_url)
    yield
    channel_layers.backends.clear()


def session_cookie(staff: StaffAccount) -> bytes:
    return f"sessionid={login_client(staff).cookies['sessionid'].value}".encode()


def session_socket(cookie: bytes) -> WebsocketCommunicator:
    """An agent socket of the page that holds this session cookie."""
    return WebsocketCommunicator(application, "/ws/agent/", headers=[*SITE, (b"cookie", cookie)])


async def agent_socket(
    staff: StaffAccount | None, headers: list[tuple[bytes, bytes]] | None = None
) -> WebsocketCommunicator:
    sent = list(SITE if headers is None else headers)
    if staff is not None:
        sent.append((b"cookie", await database_sync_to_async(session_cookie)(staff)))
    return WebsocketCommunicator(application, "/ws/agent/", headers=sent)


def buyer_socket(token: str, headers: list[tuple[bytes, bytes]] | None = None) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/buyer/?token={token}", headers=list(SITE if headers is None else headers)
    )


async def connect(comm: WebsocketCommunicator) -> dict[str, Any]:
    connected, code = await comm.connect(timeout=TIMEOUT)
    assert connected, code
    hello: dict[str, Any] = await comm.receive_json_from(timeout=TIMEOUT)
    assert hello["type"] == "hello"
    return hello


async def until(comm: WebsocketCommunicator, kind: str, **match: Any) -> dict[str, Any]:
    """The next frame of ``kind`` (and matching fields), skipping others."""
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def until_any(comm: WebsocketCommunicator, *kinds: str) -> dict[str, Any]:
    """The next frame of any of ``kinds``, skipping others."""
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout=TIMEOUT)
        if frame["type"] in kinds:
            return frame


async def frames_until(comm: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    out = []
    while True:
        frame = await comm.receive_json_from(timeout=TIMEOUT)
        out.append(frame)
        if frame["type"] == kind:
            return out


@pytest.fixture
def agent(shop_a: Shop, owner: StaffAccount) -> StaffAccount:
    """The only online agent of shop A (the owner is offline)."""
    services.set_agent_status(staff=owner, status="offline")
    staff = factories.staff(shop_a, "agent_ws", "售前-小美")
    services.set_agent_status(staff=staff, status="online")
    return staff


@pytest.fixture
def buyer(shop_a: Shop) -> Buyer:
    return factories.buyer(shop_a, "ws-b1", "买家甲")
