"""The chat sockets under attack and after access ends (issue 13): what a buyer's socket receives of each
event, revocation (logout, a disabled account, IM removed, an expired token), limits per buyer across
sockets, the Origin check, odd characters and deep JSON (an error event, never a 1011 close)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from backoffice import services as shop_services
from backoffice.asgi import application
from backoffice.models import Buyer, Shop, StaffAccount
from routing import consumers, limits, services, tokens
from routing.models import Conversation, Message
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client
from tests.routing.sockets import (
    SITE,
    TIMEOUT,
    agent,
    agent_socket,
    buyer,
    buyer_socket,
    connect,
    layer,
    session_socket,
    until,
    until_any,
)

__all__ = ["agent", "buyer", "layer"]  # fixtures
pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]
NOTE = "内部备注：此买家难缠"


async def closed_with(comm: Any) -> int:
    """Skip frames until the server closes the socket; its close code."""
    while True:
        output = await comm.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return int(output.get("code", 1000))


# --- what a buyer's socket receives ------------------------------------------------------------------------

BUYER_FIELDS = {
    "ack": {"type", "client_msg_id", "conversation", "id", "seq", "created_at"},
    "message": {"type", "conversation", "id", "seq", "sender", "agent_name", "text", "card", "client_msg_id"}
    | {"created_at"},
    "queued": {"type", "conversation", "position", "wait_seconds"},
    "assigned": {"type", "conversation", "agent_name"},
    "transferred": {"type", "conversation", "agent_name"},
    "rating_invite": {"type", "conversation", "agent_name"},
    "rated": {"type", "conversation", "stars", "thanks"},
    "ended": {"type", "conversation", "by"},
}


async def test_a_buyer_socket_receives_only_what_a_buyer_may_see_of_every_event(
    shop_a: Shop, agent: StaffAccount, buyer: Buyer
) -> None:
    """Before: ``transferred`` carried the note one agent left another, ``assigned`` the routing rule and
    staff ids. Each event type a buyer receives is checked field by field."""
    colleague = await database_sync_to_async(factories.staff)(shop_a, "colleague", "售后-小林")
    await database_sync_to_async(services.set_agent_status)(staff=agent, status="busy")
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)

    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b1", "text": "在吗"})
    queued = await until(buyer_ws, "queued")  # busy is not offline: the chat waits for its agent
    await database_sync_to_async(services.set_agent_status)(staff=agent, status="online")
    await until(buyer_ws, "assigned")
    conv = await database_sync_to_async(Conversation.objects.get)(pk=queued["conversation"])
    await agent_ws.send_json_to(
        {"type": "send", "conversation": conv.pk, "client_msg_id": "a1", "text": "在的"}
    )
    await until(buyer_ws, "message", client_msg_id="a1")
    await database_sync_to_async(services.set_agent_status)(staff=colleague, status="online")
    await database_sync_to_async(services.transfer)(
        conversation=conv, to_agent=colleague, by=agent, note=NOTE
    )
    await until(buyer_ws, "transferred")
    await database_sync_to_async(services.invite_rating)(agent=colleague, conversation=conv)
    await until(buyer_ws, "rating_invite")
    await buyer_ws.send_json_to({"type": "rate", "conversation": conv.pk, "stars": 4})
    await until(buyer_ws, "rated")
    await database_sync_to_async(services.end_conversation)(conversation=conv, reason="agent", by=colleague)
    await until(buyer_ws, "ended")
    await buyer_ws.send_json_to({"type": "resume", "after": {str(conv.pk): 0}})
    await until(buyer_ws, "resumed")
    await buyer_ws.disconnect()
    await agent_ws.disconnect()

    seen = buyer_ws.seen  # type: ignore[attr-defined]
    for frame in seen:
        assert NOTE not in json.dumps(frame, ensure_ascii=False)
        if frame["type"] in BUYER_FIELDS:
            assert set(frame) == BUYER_FIELDS[frame["type"]], frame
    assert set(BUYER_FIELDS) <= {frame["type"] for frame in seen}  # every kind was checked


@pytest.fixture(autouse=True)
def record_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket keeps the frames it received (``comm.seen``), whichever helper read them."""
    from channels.testing import WebsocketCommunicator

    original = WebsocketCommunicator.receive_json_from

    async def receive_json_from(self: Any, timeout: float = 1) -> Any:
        frame = await original(self, timeout)
        if not hasattr(self, "seen"):
            self.seen = []
        self.seen.append(frame)
        return frame

    monkeypatch.setattr(WebsocketCommunicator, "receive_json_from", receive_json_from)


# --- revocation --------------------------------------------------------------------------------------------


def signed_in(staff: StaffAccount) -> tuple[Client, bytes]:
    client = login_client(staff)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_logout_closes_that_sessions_sockets_at_once_and_not_another_sessions(
    agent: StaffAccount,
) -> None:
    (client, cookie), (_other, other_cookie) = await database_sync_to_async(
        lambda: (signed_in(agent), signed_in(agent))
    )()
    ws, other_ws = session_socket(cookie), session_socket(other_cookie)
    await connect(ws)
    await connect(other_ws)
    response = await database_sync_to_async(client.post)("/admin/logout/")
    assert response.status_code == 200
    assert await closed_with(ws) == 4401
    await other_ws.send_json_to({"type": "ping"})  # the agent's other browser is still signed in
    await until(other_ws, "pong")
    await other_ws.disconnect()


@pytest.mark.parametrize(("change", "code"), [({"is_active": False}, 4401), ({"im_enabled": False}, 4403)])
async def test_disabling_the_account_or_removing_im_closes_its_sockets(
    agent: StaffAccount, change: dict[str, bool], code: int
) -> None:
    ws = await agent_socket(agent)
    await connect(ws)

    def save() -> None:
        fields = {"im_enabled": agent.im_enabled, "is_active": agent.is_active, **change}
        shop_services.update_staff_account(
            staff=agent, display_name=agent.display_name, role=agent.role, rights=[], **fields
        )

    await database_sync_to_async(save)()
    assert await closed_with(ws) == code


async def test_every_agent_frame_checks_the_account_even_when_the_event_was_lost(
    agent: StaffAccount, buyer: Buyer
) -> None:
    """Before: the socket kept the account it resolved at connect and went on sending."""
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    ws = await agent_socket(agent)
    await connect(ws)
    await database_sync_to_async(StaffAccount.objects.filter(pk=agent.pk).update)(
        im_enabled=False
    )  # no event
    await ws.send_json_to(
        {"type": "send", "conversation": conv.pk, "client_msg_id": "late", "text": "还能发吗"}
    )
    assert await closed_with(ws) == 4403
    assert not await database_sync_to_async(Message.objects.filter(client_msg_id="late").exists)()


async def test_an_agent_socket_checks_its_session_again_after_a_while(
    agent: StaffAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logout whose event was lost still ends the socket at its next frame after SESSION_RECHECK."""
    client, cookie = await database_sync_to_async(signed_in)(agent)
    ws = session_socket(cookie)
    await connect(ws)
    await database_sync_to_async(client.session.flush)()  # the session is gone; nobody told the socket
    monkeypatch.setattr(consumers, "SESSION_RECHECK", 0.0)
    await ws.send_json_to({"type": "ping"})
    assert await closed_with(ws) == 4401


async def test_a_buyer_socket_ends_when_its_token_expires(buyer: Buyer, settings: Any) -> None:
    settings.BUYER_TOKEN_MAX_AGE = 3600

    def old_token() -> str:
        # Eight seconds left: a busy machine may take a second or more to connect (with one second left
        # the token sometimes expired before the socket opened, and the test tested nothing).
        with time_machine.travel(timezone.now() - timedelta(seconds=3592), tick=False):
            return tokens.buyer_token(buyer)

    ws = buyer_socket(await database_sync_to_async(old_token)())
    await connect(ws)
    assert await closed_with(ws) == 4401


# --- limits per buyer across sockets -----------------------------------------------------------------------


async def test_one_buyers_sockets_share_one_send_budget(
    agent: StaffAccount, buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: each socket had its own bucket, so ten sockets on one token sent ten times the limit."""
    monkeypatch.setattr(consumers, "SEND_LIMIT", (0.001, 3))  # a burst of 3, then (practically) nothing
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    sockets = [buyer_socket(token) for _ in range(3)]
    for ws in sockets:
        await connect(ws)
    for i, ws in enumerate(sockets):
        for k in range(2):
            await ws.send_json_to({"type": "send", "client_msg_id": f"{i}-{k}", "text": "刷屏"})
    answers = [await until_any(ws, "ack", "error") for ws in sockets for _ in range(2)]
    assert sorted(a["type"] for a in answers) == ["ack"] * 3 + ["error"] * 3
    assert {a["code"] for a in answers if a["type"] == "error"} == {"throttled"}
    assert await database_sync_to_async(Message.objects.filter(conversation__buyer=buyer).count)() == 3
    for ws in sockets:
        await ws.disconnect()


async def test_a_buyer_holds_at_most_the_cap_of_sockets(
    buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: 300 sockets on one token were accepted."""
    monkeypatch.setattr(consumers, "BUYER_SOCKETS", 2)
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    first, second, third = buyer_socket(token), buyer_socket(token), buyer_socket(token)
    await connect(first)
    await connect(second)
    assert await third.connect(timeout=TIMEOUT) == (False, consumers.CLOSE_TOO_MANY)
    await first.disconnect()
    again = buyer_socket(token)
    await connect(again)  # a closed socket frees its place
    await second.disconnect()
    await again.disconnect()


async def test_resume_and_ping_are_rate_limited_per_buyer(
    agent: StaffAccount, buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: 677 resume frames in 3 s made the server replay 23,018 messages."""
    monkeypatch.setattr(consumers, "RESUME_RATE", (0.001, 2))
    monkeypatch.setattr(consumers, "PING_RATE", (0.001, 2))
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    await database_sync_to_async(services.post_buyer_message)(buyer=buyer, text="一条", client_msg_id="m1")
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    one, two = buyer_socket(token), buyer_socket(token)
    await connect(one)
    await connect(two)
    resume = {"type": "resume", "after": {str(conv.pk): 0}}
    for ws in (one, two, one):
        await ws.send_json_to(resume)
    assert (await until_any(one, "resumed", "error"))["type"] == "resumed"
    assert (await until_any(two, "resumed", "error"))["type"] == "resumed"
    refused = await until_any(one, "resumed", "error")
    assert refused["code"] == "throttled"
    for ws in (two, one, two):
        await ws.send_json_to({"type": "ping"})
    assert [(await until_any(ws, "pong", "error"))["type"] for ws in (two, one, two)] == [
        "pong",
        "pong",
        "error",
    ]
    await one.disconnect()
    await two.disconnect()


async def test_the_limiter_counts_across_callers_and_refills(redis_url: str) -> None:
    who = "buyer:limiter-test"
    assert [await limits.allow("t", who, rate=0.001, burst=2) for _ in range(3)] == [True, True, False]
    assert await limits.allow("t", "buyer:someone-else", rate=0.001, burst=2)
    assert [await limits.allow("fast", who, rate=1000.0, burst=1) for _ in range(1)] == [True]


# --- the Origin check --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [b"http://testserver:8080", b"https://testserver", b"http://evil.example", b"null", None],
)
async def test_a_socket_from_another_origin_is_refused(buyer: Buyer, origin: bytes | None) -> None:
    """Before: only the host name was compared, so a page on another port or scheme rode the session."""
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    headers = [(b"host", b"testserver")] + ([(b"origin", origin)] if origin else [])
    assert await buyer_socket(token, headers).connect(timeout=TIMEOUT) == (False, 4403)


async def test_the_same_origin_and_trusted_origins_are_accepted(buyer: Buyer, settings: Any) -> None:
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    same_port = buyer_socket(token, [(b"host", b"testserver:8000"), (b"origin", b"http://testserver:8000")])
    await connect(same_port)
    await same_port.disconnect()
    settings.CSRF_TRUSTED_ORIGINS = ["https://shop.example.com"]
    trusted = buyer_socket(token, [(b"host", b"testserver"), (b"origin", b"https://shop.example.com")])
    await connect(trusted)
    await trusted.disconnect()


# --- odd input ---------------------------------------------------------------------------------------------

ODD_FRAMES = [
    '{"type":"send","client_msg_id":"s1","text":"\\ud800"}',  # a lone surrogate
    '{"type":"send","client_msg_id":"s2","text":"a\\u0000b"}',  # NUL
    '{"type":"send","client_msg_id":"\\u0000","text":"ok"}',
    '{"type":"resume","after":{"\\udfff":1}}',
    "[" * 1000 + "]" * 1000,
    '{"type":"send","client_msg_id":"deep","text":' + "[" * 900 + "]" * 900 + "}",
    '{"type":"resume","after":' + '{"1":' * 500 + "1" + "}" * 500 + "}",
    "\ud800",
]


@pytest.mark.parametrize("end", ["buyer", "agent"])
async def test_odd_characters_and_deep_json_get_an_error_event_not_a_1011_close(
    agent: StaffAccount, buyer: Buyer, end: str
) -> None:
    if end == "buyer":
        ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    else:
        ws = await agent_socket(agent)
    await connect(ws)
    for frame in ODD_FRAMES:
        await ws.send_to(text_data=frame)
        error = await until(ws, "error")
        assert error["code"] in {"bad_json", "invalid"}, (frame[:40], error)
    await ws.send_json_to({"type": "ping"})
    await until(ws, "pong")  # still open
    assert not await database_sync_to_async(Message.objects.exists)()
    await ws.disconnect()


# --- the trace and the transcript: one rule ----------------------------------------------------------------


async def test_a_former_agent_reads_the_chat_over_http_and_the_socket_alike(
    shop_a: Shop, agent: StaffAccount, buyer: Buyer
) -> None:
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    colleague = await database_sync_to_async(factories.staff)(shop_a, "colleague2", "售后-小林")
    await database_sync_to_async(services.set_agent_status)(staff=colleague, status="online")
    await database_sync_to_async(services.transfer)(conversation=conv, to_agent=colleague, by=agent, note="")
    client = await database_sync_to_async(login_client)(agent)
    response = await database_sync_to_async(client.get)(f"/api/v1/routing/conversations/{conv.pk}/messages")
    ws = await agent_socket(agent)
    await connect(ws)
    await ws.send_json_to({"type": "resume", "after": {str(conv.pk): 0}})
    resumed = await until(ws, "resumed")
    assert (response.status_code == 200) == (conv.pk in resumed["conversations"])
    assert response.status_code == 200  # the chat they served stays theirs to read (their history)
    await ws.disconnect()


# --- the page's shop (issue 14, two tabs, two shops) --------------------------------------------------------


def page_socket(cookie: bytes, shop: Any) -> WebsocketCommunicator:
    """The workbench's socket: it names the shop its page was rendered for."""
    return WebsocketCommunicator(application, f"/ws/agent/?shop={shop}", headers=[*SITE, (b"cookie", cookie)])


async def test_an_agent_socket_of_a_page_of_the_shop_the_session_left_is_closed_with_4409(
    shop_a: Shop, shop_b: Shop, agent: StaffAccount, buyer: Buyer
) -> None:
    """Tab A (shop A) reconnects after tab B switched the session to shop B: refused with 4409 (after the
    handshake, so that the page sees the code), not bound to shop B's account. A socket opened before the
    switch keeps acting for shop A's account; a socket naming no shop follows the session."""
    await database_sync_to_async(shop_services.create_staff_account)(
        shop=shop_b,
        login="agent_ws",
        password=PASSWORD,
        display_name="外包-小美",
        role="agent",
        im_enabled=True,
    )
    client = await database_sync_to_async(login_client)(agent)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    conv, _d = await database_sync_to_async(services.request_human)(buyer=buyer)

    before = page_socket(cookie, shop_a.pk)
    hello = await connect(before)
    assert hello["staff_id"] == agent.pk
    switched = await database_sync_to_async(client.post)("/switch-shop/", {"shop": shop_b.pk})
    assert switched.status_code == 302

    after = page_socket(cookie, shop_a.pk)
    connected, _code = await after.connect(timeout=TIMEOUT)
    assert connected  # accepted, then closed with the code the page reads
    assert (await after.receive_output(timeout=TIMEOUT)) == {"type": "websocket.close", "code": 4409}
    for named in ("", "abc", str(shop_a.pk) + "0"):
        refused = page_socket(cookie, named)
        assert (await refused.connect(timeout=TIMEOUT))[0]
        assert (await refused.receive_output(timeout=TIMEOUT))["code"] == 4409

    # The socket opened before the switch still sends in shop A's chat, as shop A's agent.
    await before.send_json_to(
        {"type": "send", "conversation": conv.pk, "client_msg_id": "m1", "text": "在的"}
    )
    ack = await until(before, "ack", client_msg_id="m1")
    message = await database_sync_to_async(Message.objects.get)(pk=ack["id"])
    assert message.agent_id == agent.pk and message.conversation_id == conv.pk
    await before.disconnect()

    of_b = page_socket(cookie, shop_b.pk)
    assert (await connect(of_b))["staff_id"] != agent.pk  # shop B's account
    await of_b.disconnect()
    plain = session_socket(cookie)
    assert (await connect(plain))["staff_id"] != agent.pk  # no shop named: the session's
    await plain.disconnect()
