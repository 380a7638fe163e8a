"""The live monitor: its snapshot, its socket (pushed on routing's events, supervisors only) and the
supervisor's reassignment of a live chat."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.core.cache import cache

from backoffice.asgi import application
from backoffice.models import Shop, StaffAccount
from reports import consumers, monitor
from routing import services
from routing.models import Conversation, ConversationState, Transfer
from tests.backoffice import factories
from tests.conftest import login_client
from tests.routing.sockets import SITE, TIMEOUT, layer, session_cookie  # noqa: F401  (a fixture)


@pytest.fixture
def role_groups(transactional_db: None) -> None:
    """The roles' groups, which the flush after an earlier transactional test removed (migration 0002 made
    them): the supervisor's report right comes from their role's group."""
    importlib.import_module("backoffice.migrations.0002_role_groups").create_role_groups(apps, None)


def monitor_socket(cookie: bytes | None) -> WebsocketCommunicator:
    headers = [*SITE, *([(b"cookie", cookie)] if cookie else [])]
    return WebsocketCommunicator(application, "/ws/monitor/", headers=headers)


def live_chat(shop: Shop, owner: StaffAccount, agent: StaffAccount, pid: str = "m1") -> Conversation:
    services.set_agent_status(staff=owner, status="offline")
    services.set_agent_status(staff=agent, status="online")
    conv, _decision = services.request_human(buyer=factories.buyer(shop, pid, f"监控买家{pid}"))
    conv.refresh_from_db()
    assert conv.agent_id == agent.pk
    return conv


def test_snapshot_shows_queues_loads_and_oldest_unanswered(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    conv = live_chat(shop_a, owner, teammate)
    services.set_agent_status(staff=teammate, status="busy")
    services.request_human(buyer=factories.buyer(shop_a, "q1", "排队买家"))
    frame = monitor.snapshot(shop_a)
    assert frame["type"] == "monitor"
    assert [(g["queued"], g["longest_since"] is not None) for g in frame["groups"]] == [(1, True)]
    mine = next(a for a in frame["agents"] if a["id"] == teammate.pk)
    assert (mine["status"], mine["load"], mine["limit"]) == ("busy", 1, teammate.max_concurrent)
    conv.refresh_from_db()
    assert conv.waiting_since is not None
    assert mine["oldest_waiting_since"] == conv.waiting_since.isoformat()  # assigned, not answered yet
    assert mine["chats"] == [
        {"id": conv.pk, "buyer": "监控买家m1", "waiting_since": conv.waiting_since.isoformat()}
    ]
    services.post_agent_message(agent=teammate, conversation=conv, text="您好")
    mine = next(a for a in monitor.snapshot(shop_a)["agents"] if a["id"] == teammate.pk)
    assert mine["oldest_waiting_since"] is None
    assert monitor.snapshot(shop_a)["today"]["response_rate_3m"] is None  # today's figures: cached a while
    cache.clear()
    assert monitor.snapshot(shop_a)["today"]["response_rate_3m"] == 1.0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_monitor_socket_pushes_a_snapshot_when_routing_publishes(
    layer: None,  # noqa: F811
    role_groups: None,
    shop_a: Shop,
    owner: StaffAccount,
    teammate: StaffAccount,
    supervisor: StaffAccount,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(consumers, "REFRESH_DELAY", 0.0)
    await database_sync_to_async(services.set_agent_status)(staff=teammate, status="online")
    comm = monitor_socket(await database_sync_to_async(session_cookie)(supervisor))
    connected, _code = await comm.connect(timeout=TIMEOUT)
    assert connected
    first = await comm.receive_json_from(timeout=TIMEOUT)
    assert first["type"] == "monitor"
    assert all(a["load"] == 0 for a in first["agents"])
    await database_sync_to_async(live_chat)(shop_a, owner, teammate)
    while True:  # the next snapshots, until one shows the new chat (every event may make one)
        frame = await comm.receive_json_from(timeout=TIMEOUT)
        if any(a["load"] == 1 for a in frame["agents"]):
            break
    await comm.send_json_to({"type": "ping"})
    while (await comm.receive_json_from(timeout=TIMEOUT))["type"] != "pong":
        pass
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_monitor_socket_is_for_supervisors_only(
    layer: None,  # noqa: F811
    role_groups: None,
    teammate: StaffAccount,
) -> None:
    assert await monitor_socket(None).connect(timeout=TIMEOUT) == (False, 4401)
    agent = monitor_socket(await database_sync_to_async(session_cookie)(teammate))
    assert await agent.connect(timeout=TIMEOUT) == (False, 4403)
    foreign = WebsocketCommunicator(
        application, "/ws/monitor/", headers=[(b"origin", b"http://evil.example"), (b"host", b"testserver")]
    )
    assert await foreign.connect(timeout=TIMEOUT) == (False, 4403)


def test_live_page_for_supervisors(supervisor: StaffAccount, teammate: StaffAccount) -> None:
    page = login_client(supervisor).get("/reports/live/")
    assert page.status_code == 200
    assert 'id="monitor"' in page.content.decode() and 'id="monitor-strings"' in page.content.decode()
    assert login_client(teammate).get("/reports/live/").status_code == 403


def test_supervisor_reassigns_a_live_chat_from_its_transcript(
    shop_a: Shop,
    owner: StaffAccount,
    teammate: StaffAccount,
    colleague: StaffAccount,
    supervisor: StaffAccount,
) -> None:
    conv = live_chat(shop_a, owner, teammate)
    services.set_agent_status(staff=colleague, status="online")
    client = login_client(supervisor)
    page = client.get(f"/reports/history/{conv.pk}/").content.decode()
    assert 'id="transfer-form"' in page and f'value="{colleague.pk}"' in page
    response = client.post(
        f"/reports/history/{conv.pk}/transfer/", {"to_agent": colleague.pk, "note": "请接手"}
    )
    assert response.status_code == 302
    conv.refresh_from_db()
    assert conv.agent_id == colleague.pk
    assert Transfer.objects.get().note == "请接手"
    again = client.post(f"/reports/history/{conv.pk}/transfer/", {"to_agent": colleague.pk})
    assert again.status_code == 422  # already with that agent: the service's own refusal, shown
    assert client.post(f"/reports/history/{conv.pk}/transfer/", {"to_agent": "999999"}).status_code == 404


def test_agents_and_outsiders_cannot_reassign(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount, outsider: StaffAccount
) -> None:
    conv = live_chat(shop_a, owner, teammate)
    services.set_agent_status(staff=colleague, status="online")
    url = f"/reports/history/{conv.pk}/transfer/"
    assert login_client(teammate).post(url, {"to_agent": colleague.pk}).status_code == 403
    assert login_client(outsider).post(url, {"to_agent": colleague.pk}).status_code == 404
    conv.refresh_from_db()
    assert (conv.agent_id, conv.state) == (teammate.pk, ConversationState.ACTIVE)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_monitor_closes_when_the_supervisor_loses_the_right(
    layer: None,  # noqa: F811
    role_groups: None,
    supervisor: StaffAccount,
) -> None:
    from backoffice import services as shop_services
    from backoffice.models import Role

    comm = monitor_socket(await database_sync_to_async(session_cookie)(supervisor))
    assert (await comm.connect(timeout=TIMEOUT))[0]
    assert (await comm.receive_json_from(timeout=TIMEOUT))["type"] == "monitor"
    await database_sync_to_async(StaffAccount.objects.filter(pk=supervisor.pk).update)(role=Role.AGENT)
    supervisor.role = Role.AGENT
    await database_sync_to_async(shop_services.revoke_sockets)([supervisor.pk])
    while (frame := await comm.receive_output(timeout=TIMEOUT))["type"] != "websocket.close":
        pass
    assert frame["code"] == 4403
