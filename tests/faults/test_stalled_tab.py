"""Fault 4, a stalled tab (issue 18): a buyer's socket whose reader stops reading while its events keep
coming. A real daphne process (the project's ASGI app, ``routing.backpressure`` installed) and a raw TCP
client with a small receive buffer that does the WebSocket handshake and then reads nothing. The server's
peak memory stays bounded (far below what was sent to the socket), the socket is closed (4408 when the
client catches up in time, else dropped), and a new socket that resumes after the last seq it had gets
every message it missed from the database."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
import websockets
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from websockets.typing import Origin

from backoffice.events import buyer_group
from backoffice.models import Shop, StaffAccount
from routing import backpressure, services, tokens
from tests.backoffice import factories
from tests.conftest import requires_postgres
from tests.live import SAFETY_TIMEOUT, daphne, server_env, unique_prefix
from tests.routing.test_concurrency import new_agent

requires_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]

LIMIT = 64 * 1024  # the server's WS_SEND_BUFFER_LIMIT in this test
EVENT_BYTES = 8 * 1024
EVENTS = 4000  # 32 MiB pushed at the stalled socket


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def stalled_client(host: str, path: str) -> socket.socket:
    """A TCP socket with a 4 KiB receive buffer that has done the WebSocket handshake for ``path`` (read up
    to the end of the 101 response) and from then on reads nothing."""
    name, port = host.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(SAFETY_TIMEOUT)
    sock.connect((name, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def drain(sock: socket.socket) -> tuple[int, int | None]:
    """Read until the server has closed the connection: (bytes read, the close code if a close frame was
    read whole, else None: the connection was dropped before the client got that far)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return len(data), close_code(data)


def close_code(data: bytes) -> int | None:
    """The code of the close frame in a stream of unmasked server frames, if one is there whole."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = struct.unpack("!H", data[at : at + 2])[0], at + 2
        elif length == 127:
            length, at = struct.unpack("!Q", data[at : at + 8])[0], at + 8
        if at + length > len(data):
            return None
        if opcode == 0x8:
            return int(struct.unpack("!H", data[at : at + 2])[0])
        at += length
    return None


async def flood(prefix: str, group: str) -> None:
    config: Any = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    layer = RedisPubSubChannelLayer(hosts=config["hosts"], prefix=prefix)
    filler = "满" * (EVENT_BYTES // 3)
    for n in range(EVENTS):
        text = json.dumps({"type": "notice", "n": n, "text": filler}, ensure_ascii=False)
        await layer.group_send(group, {"type": "chat.event", "text": text})
    await layer.flush()


async def resume_after(host: str, token: str, conversation: int, seq: int) -> list[dict[str, Any]]:
    """A fresh socket that resumes ``conversation`` after ``seq``: the messages replayed."""
    async with websockets.connect(
        f"ws://{host}/ws/buyer/?token={token}", origin=Origin(f"http://{host}")
    ) as ws:
        await ws.send(json.dumps({"type": "resume", "after": {str(conversation): seq}}))
        got: list[dict[str, Any]] = []
        while len(got) < 3:
            frame = json.loads(await asyncio.wait_for(ws.recv(), SAFETY_TIMEOUT))
            if frame["type"] == "message" and frame["conversation"] == conversation:
                got.append(frame)
        return got


def test_a_tab_that_stops_reading_is_closed_with_memory_bounded_and_resumes(
    shop_a: Shop, owner_offline: StaffAccount
) -> None:
    agent = new_agent(shop_a, "stall_agent")
    buyer = factories.buyer(shop_a, "stall1", "买家甲")
    conversation = services.request_human(buyer=buyer)[0]
    token = tokens.buyer_token(buyer)
    prefix = unique_prefix()
    env = {**server_env(prefix), "WS_SEND_BUFFER_LIMIT": str(LIMIT)}

    with daphne(env) as (host, proc):
        sock = stalled_client(host, f"/ws/buyer/?token={token}")
        before = peak_rss_kib(proc.pid)
        asyncio.run(flood(prefix, buyer_group(buyer.pk)))
        received, code = drain(sock)  # returns once the server closed (or dropped) the connection
        sock.close()
        growth_kib = peak_rss_kib(proc.pid) - before
        sent = EVENTS * EVENT_BYTES
        print(
            f"sent {sent // 1024} KiB, read {received // 1024} KiB, close {code}, peak RSS +{growth_kib} KiB"
        )
        assert received < sent // 4  # the frames after the limit were dropped, not delivered late
        assert code in (backpressure.CLOSE_SLOW_READER, None)
        # Bounded: nowhere near the 32 MiB pushed at the socket (without the limit the peak grew ~56 MiB). The
        # peak also holds the channel layer's inbound queue while the consumer falls behind the flood, which
        # varies with the machine's load (measured +0.8 to +15.9 MiB with the limit; the queue is unbounded),
        # hence three quarters: still far under what an unlimited send buffer takes.
        assert growth_kib * 1024 < sent * 3 // 4

        # The messages the tab missed meanwhile are in the database: a resume replays them.
        for n in range(3):
            conversation = services.post_agent_message(
                agent=agent, conversation=conversation, text=f"回复{n}", client_msg_id=f"o{n}"
            ).conversation
        replayed = asyncio.run(resume_after(host, token, conversation.pk, 0))
        assert [m["text"] for m in replayed][-3:] == ["回复0", "回复1", "回复2"]
