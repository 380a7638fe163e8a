"""The bare relay the live-chat benchmark compares the daphne stack with (``bench_livechat.py`` starts it as a
subprocess: ``python tests/bench/livechat_relay.py PORT``).

A plain ``websockets`` server with no database, channel layer or authentication. ``/agent/<pair>`` and
``/buyer/<pair>`` are paired by ``<pair>``; for each buyer ``send`` it numbers the message and answers with
the same two frames the chat consumers produce (``ack`` to the buyer, ``message`` to the pair's agent; the
sender's socket gets no echo), so the benchmark's clients do the same work against both servers.

With ``RELAY_DATABASE_URL`` set it persists first: each message is inserted into PostgreSQL and committed
(async psycopg, all messages waiting at that moment in one transaction, as the stack's group commit does)
before it is acked and relayed. That is the floor of persist-first without Django, Channels or Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from typing import Any

import psycopg
from websockets.asyncio.server import ServerConnection, serve

agents: dict[str, ServerConnection] = {}
last_seq: defaultdict[str, int] = defaultdict(int)


class Store:
    """Group commit into PostgreSQL: whatever arrives while a transaction runs goes into the next one."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.waiting: list[tuple[tuple[int, int, str, str], asyncio.Future[None]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def save(self, pair: str, seq: int, cid: str, text: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(((int(pair), seq, cid, text), done))
        if self.writer is None:
            self.writer = asyncio.create_task(self.write())
        await done

    async def write(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            async with self.conn.transaction(), self.conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO bench_relay_message (pair, seq, client_msg_id, text) "
                    "VALUES (%s, %s, %s, %s)",
                    [row for row, _done in batch],
                )
            for _row, done in batch:
                done.set_result(None)
        self.writer = None


store: Store | None = None


async def handler(ws: ServerConnection) -> None:
    parts = (ws.request.path if ws.request else "").strip("/").split("/")
    if len(parts) != 2 or parts[0] not in ("agent", "buyer"):
        await ws.close(4404)
        return
    role, pair = parts
    await ws.send(json.dumps({"type": "hello"}))
    if role == "agent":
        agents[pair] = ws
        try:
            await ws.wait_closed()
        finally:
            if agents.get(pair) is ws:
                del agents[pair]
        return
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") != "send":
            continue
        last_seq[pair] += 1
        seq, cid = last_seq[pair], frame["client_msg_id"]
        ack = {"type": "ack", "client_msg_id": cid, "conversation": int(pair), "id": seq, "seq": seq}
        event = json.dumps(
            {
                "type": "message",
                "conversation": int(pair),
                "seq": seq,
                "sender": "buyer",
                "text": frame["text"],
                "client_msg_id": cid,
            },
            ensure_ascii=False,
        )
        if store is not None:
            await store.save(pair, seq, cid, frame["text"])
        await ws.send(json.dumps(ack))
        agent = agents.get(pair)
        if agent is not None:
            await agent.send(event)


async def main(port: int) -> None:
    global store
    if url := os.environ.get("RELAY_DATABASE_URL"):
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_relay_message (id bigserial PRIMARY KEY, pair int, seq int, "
            "client_msg_id text, text text, created_at timestamptz DEFAULT now())"
        )
        store = Store(conn)
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
