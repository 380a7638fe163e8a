"""Socket clients for the fault suite that follow routing/PROTOCOL.md: a buyer or agent that keeps the last
``seq`` it saw per conversation, keeps its unacked sends and, when its socket drops, reconnects with jittered
exponential backoff to any of the servers, resumes from its last seq and resends what was not acked."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin

# A wait for one frame: a safety net for a busy machine, not the time a step should take.
FRAME_TIMEOUT = 60.0
BACKOFF_FIRST = 0.1  # seconds before the first reconnect attempt, doubled each failure ...
BACKOFF_MAX = 2.0  # ... up to this, each wait drawn at random in [0.5, 1.0] x the step (jitter)


async def open_socket(host: str, path: str, headers: dict[str, str] | None = None) -> ClientConnection:
    """A socket to ``ws://host/path`` from a page of that host; returned after the server's ``hello``."""
    ws = await connect(
        f"ws://{host}{path}",
        origin=Origin(f"http://{host}"),
        additional_headers=headers,
        compression=None,
        ping_interval=None,
        open_timeout=FRAME_TIMEOUT,
        close_timeout=2,
    )
    return ws


async def next_frame(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next frame of ``kind`` whose fields match (others are skipped)."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


@dataclass
class Peer:
    """One end of chats that survives its server: ``hosts`` to (re)connect to, ``path`` (with the token or
    the page's shop), ``headers`` (the session cookie). ``messages`` holds every message it saw per
    conversation by seq (its own acked sends included); ``duplicates`` counts a seq seen twice."""

    hosts: Sequence[str]
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    ws: ClientConnection | None = None
    host: str = ""
    messages: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    unacked: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_msg_id -> frame
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    reconnects: int = 0
    hello: dict[str, Any] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None
    resending: set[asyncio.Future[None]] = field(default_factory=set)
    follow: bool = True  # reconnect when the socket drops, and resume at a seq gap (False: a tab that dies)
    closing: bool = False

    def last_seq(self) -> dict[str, int]:
        return {str(conv): max(seqs) for conv, seqs in self.messages.items() if seqs}

    def _seen(self, conv: int, seq: int, frame: dict[str, Any]) -> None:
        seqs = self.messages.setdefault(conv, {})
        if seq in seqs:
            self.duplicates += 1
        seqs[seq] = frame
        self.changed.set()

    async def connect(self, preferred: int = 0) -> None:
        """Connect to a live server, trying them in turn from ``preferred`` with jittered backoff; then
        resume every known conversation from its last seq and resend every unacked send, in the order they
        were first sent, before any new send goes out on the socket."""
        step, attempt = BACKOFF_FIRST, 0
        while True:
            host = self.hosts[(preferred + attempt) % len(self.hosts)]
            try:
                ws = await open_socket(host, self.path, self.headers)
                hello = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
                if hello.get("type") != "hello":
                    raise AssertionError(hello)
                conv = (hello.get("conversation") or {}).get("id")
                if conv is not None:
                    self.messages.setdefault(conv, {})
                if self.messages:
                    await ws.send(json.dumps({"type": "resume", "after": self.last_seq()}))
                resent: set[str] = set()
                while pending := [f for cid, f in self.unacked.items() if cid not in resent]:
                    for frame in pending:
                        await ws.send(json.dumps(frame))
                        resent.add(frame["client_msg_id"])
                break
            except (OSError, InvalidHandshake, InvalidStatus, ConnectionClosed, TimeoutError):
                attempt += 1
                await asyncio.sleep(step * random.uniform(0.5, 1.0))  # jitter, not crypto
                step = min(step * 2, BACKOFF_MAX)
        self.ws, self.host, self.hello = ws, host, hello  # no await since the last resend: order kept
        self.reader = asyncio.create_task(self._read(ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "ack":
                    self.acks[frame["client_msg_id"]] = frame
                    self.unacked.pop(frame["client_msg_id"], None)
                    self._seen(frame["conversation"], frame["seq"], {**frame, "own": True})
                elif kind == "message":
                    conv, seq = frame["conversation"], frame["seq"]
                    known = self.messages.get(conv, {})
                    if seq > max(known, default=0) + 1 and self.follow:  # a gap: the hint of one was lost
                        await ws.send(
                            json.dumps({"type": "resume", "after": {str(conv): max(known, default=0)}})
                        )
                    self._seen(conv, seq, frame)
                elif kind == "assigned":
                    self.messages.setdefault(frame["conversation"], {})
                    self.changed.set()
                elif kind == "error" and frame.get("code") == "throttled" and frame.get("client_msg_id"):
                    cid = frame["client_msg_id"]
                    asyncio.get_running_loop().call_later(0.3, self._resend, ws, cid)
        except ConnectionClosed:
            pass
        self.changed.set()
        if self.follow and not self.closing:  # the server went away: reconnect to any of them
            self.reconnects += 1
            await self.connect(preferred=self.hosts.index(self.host) + 1)

    def _resend(self, ws: ClientConnection, cid: str) -> None:
        if cid in self.unacked and ws is self.ws:
            task = asyncio.ensure_future(ws.send(json.dumps(self.unacked[cid])))
            self.resending.add(task)
            task.add_done_callback(self.resending.discard)

    async def send(self, frame: dict[str, Any]) -> None:
        """Send a frame with a ``client_msg_id``, kept until acked; while the socket is down it only waits in
        ``unacked`` (the reconnect sends it)."""
        self.unacked[frame["client_msg_id"]] = frame
        if self.ws is None or self.dropped:
            return
        try:
            await self.ws.send(json.dumps(frame))
        except ConnectionClosed:
            pass

    @property
    def dropped(self) -> bool:
        """The socket is down (closed, or its server gone) and not yet replaced."""
        return self.ws is None or self.ws.state.name != "OPEN"

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader
