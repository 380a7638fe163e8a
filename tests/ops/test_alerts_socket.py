"""The operations page's socket (/ws/ops/, PROTOCOL.md "Operations alerts"): the newest alerts with the
account's unread count at connect, the ones a beat task records afterwards pushed without a reload, only to
the shop's supervisors."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.apps import apps

from backoffice import events, services, tasks
from backoffice.asgi import application
from backoffice.models import Role, StaffAccount
from backoffice.operations import alerts
from tests.ops.conftest import to_ship
from tests.routing.sockets import SITE, TIMEOUT, layer, session_cookie  # noqa: F401  (a fixture)


@pytest.fixture
def role_groups(transactional_db: None) -> None:
    """The roles' groups, which the flush after an earlier transactional test removed (migration 0002)."""
    importlib.import_module("backoffice.migrations.0002_role_groups").create_role_groups(apps, None)


def ops_socket(cookie: bytes | None, query: str = "") -> WebsocketCommunicator:
    headers = [*SITE, *([(b"cookie", cookie)] if cookie else [])]
    return WebsocketCommunicator(application, f"/ws/ops/{query}", headers=headers)


async def opened(staff: StaffAccount) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    comm = ops_socket(await database_sync_to_async(session_cookie)(staff))
    connected, _code = await comm.connect(timeout=TIMEOUT)
    assert connected
    return comm, await comm.receive_json_from(timeout=TIMEOUT)


def late_order_flagged(shop: Any, number: str) -> None:
    to_ship(shop, number, ship_in=-timedelta(minutes=1))
    tasks.late_shipments()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_alert_recorded_by_the_beat_task_reaches_the_open_page_with_the_unread_count(
    layer: None,  # noqa: F811
    role_groups: None,
    supervisor: StaffAccount,
    shop_a: Any,
) -> None:
    await database_sync_to_async(late_order_flagged)(shop_a, "EARLIER")
    comm, first = await opened(supervisor)
    assert first["type"] == "alerts"
    assert (first["unread"], [i["ref"] for i in first["items"]]) == (1, ["EARLIER"])
    assert first["items"][0]["kind"] == "late_shipment"
    await database_sync_to_async(late_order_flagged)(shop_a, "LIVE")
    pushed = await comm.receive_json_from(timeout=TIMEOUT)
    assert pushed["type"] == "alerts"
    assert (pushed["unread"], [i["ref"] for i in pushed["items"]]) == (2, ["LIVE"])  # only what is new
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    await comm.send_json_to({"type": "send", "text": "x"})
    assert (await comm.receive_json_from(timeout=TIMEOUT))["code"] == "bad_frame"
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_lost_event_is_repaired_by_the_next_one_and_another_shops_alerts_never_arrive(
    layer: None,  # noqa: F811
    role_groups: None,
    supervisor: StaffAccount,
    shop_a: Any,
    shop_b: Any,
    monkeypatch: Any,
) -> None:
    comm, first = await opened(supervisor)
    assert (first["unread"], first["items"]) == (0, [])
    publish = events.publish
    monkeypatch.setattr(events, "publish", lambda sends: list(sends) and None)  # the hint is lost
    await database_sync_to_async(late_order_flagged)(shop_a, "MISSED")
    await database_sync_to_async(late_order_flagged)(shop_b, "OTHER-SHOP")
    monkeypatch.setattr(events, "publish", publish)
    await database_sync_to_async(late_order_flagged)(shop_b, "OTHER-SHOP-2")
    await database_sync_to_async(late_order_flagged)(shop_a, "NEXT")
    pushed = await comm.receive_json_from(timeout=TIMEOUT)
    assert (pushed["unread"], [i["ref"] for i in pushed["items"]]) == (2, ["NEXT", "MISSED"])
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_ops_socket_is_for_the_shops_supervisors_only(
    layer: None,  # noqa: F811
    role_groups: None,
    supervisor: StaffAccount,
    teammate: StaffAccount,
    shop_b: Any,
) -> None:
    assert await ops_socket(None).connect(timeout=TIMEOUT) == (False, 4401)
    agent = ops_socket(await database_sync_to_async(session_cookie)(teammate))
    assert await agent.connect(timeout=TIMEOUT) == (False, 4403)
    foreign = WebsocketCommunicator(
        application, "/ws/ops/", headers=[(b"origin", b"http://evil.example"), (b"host", b"testserver")]
    )
    assert await foreign.connect(timeout=TIMEOUT) == (False, 4403)
    named = ops_socket(await database_sync_to_async(session_cookie)(supervisor), f"?shop={shop_b.pk}")
    await named.connect(timeout=TIMEOUT)
    assert (await named.receive_output(timeout=TIMEOUT))["code"] == 4409


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_socket_closes_when_the_account_loses_the_right(
    layer: None,  # noqa: F811
    role_groups: None,
    supervisor: StaffAccount,
) -> None:
    comm, _first = await opened(supervisor)

    def demote() -> None:
        services.update_staff_account(
            staff=supervisor,
            display_name=supervisor.display_name,
            role=Role.AGENT,
            im_enabled=True,
            is_active=True,
            rights=[],
        )

    await database_sync_to_async(demote)()
    assert (await comm.receive_output(timeout=TIMEOUT)) == {"type": "websocket.close", "code": 4403}


def test_the_frame_counts_unread_per_account(
    shop_a: Any, supervisor: StaffAccount, owner: StaffAccount
) -> None:
    late_order_flagged(shop_a, "L1")
    alerts.mark_read(supervisor)
    late_order_flagged(shop_a, "L2")
    assert alerts.frame(supervisor)["unread"] == 1 and alerts.frame(owner)["unread"] == 2
    assert [i["ref"] for i in alerts.frame(owner, after=alerts.frame(owner)["items"][1]["id"])["items"]] == [
        "L2"
    ]
