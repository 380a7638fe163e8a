"""The bare relay the live-chat benchmark compares the daphne stack with (``bench_livechat.py`` starts it as a
subprocess: ``python tests/bench/livechat_relay.py PORT``).

A plain ``websockets`` server with no database, channel layer or authentication. ``/agent/<pair>`` and
``/buyer/<pair>`` are paired by ``<pair>``; for each buyer ``send`` it numbers the message and answers with
the same three frames the chat consumers produce (``ack`` to the buyer, ``message`` to the buyer,
``message`` to the pair's agent), so the benchmark's clients do the same work against both servers.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict

from websockets.asyncio.server import ServerConnection, serve

agents: dict[str, ServerConnection] = {}
last_seq: defaultdict[str, int] = defaultdict(int)


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
            {"type": "message", "conversation": int(pair), "seq": seq, "sender": "buyer",
             "text": frame["text"], "client_msg_id": cid}, ensure_ascii=False,
        )  # fmt: skip
        await ws.send(json.dumps(ack))
        await ws.send(event)
        agent = agents.get(pair)
        if agent is not None:
            await agent.send(event)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
