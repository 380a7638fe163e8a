"""The framework floor of the live-chat benchmark: the bare relay's protocol (``livechat_relay.py``:
``/agent/<pair>`` and ``/buyer/<pair>``, an ack to the buyer and the message to the pair's agent) as a
Channels consumer served by daphne (``bench_livechat.py`` starts
``python -m daphne tests.bench.livechat_channels:application``).

No database, no channel layer, no authentication, no throttle: a buyer's frame is parsed, numbered, acked
and handed to the agent's socket in the same process. What it costs above the bare relay is daphne's and
Channels' own per-frame work, which every Channels deployment pays before any of the chat's rules.
"""

from __future__ import annotations

import gc
import json
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

agents: dict[int, AsyncWebsocketConsumer] = {}
last_seq: dict[int, int] = {}


class Relay(AsyncWebsocketConsumer):
    role = "buyer"

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Without Channels' close_old_connections hop (the chat consumers skip it too): no database here.
        handler = getattr(self, message["type"].replace(".", "_"))
        await handler(message)

    async def connect(self) -> None:
        self.pair = int(self.scope["url_route"]["kwargs"]["pair"])
        await self.accept()
        await self.send(text_data='{"type": "hello"}')
        if self.role == "agent":
            agents[self.pair] = self

    async def disconnect(self, code: int) -> None:
        if agents.get(self.pair) is self:
            del agents[self.pair]

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = json.loads(text_data or "{}")
        if self.role != "buyer" or frame.get("type") != "send":
            return
        seq = last_seq[self.pair] = last_seq.get(self.pair, 0) + 1
        cid = frame["client_msg_id"]
        ack = {"type": "ack", "client_msg_id": cid, "conversation": self.pair, "id": seq, "seq": seq}
        event = {"type": "message", "conversation": self.pair, "seq": seq, "sender": "buyer"}
        event |= {"text": frame["text"], "client_msg_id": cid}
        await self.send(text_data=json.dumps(ack))
        agent = agents.get(self.pair)
        if agent is not None:
            await agent.send(text_data=json.dumps(event, ensure_ascii=False))


class AgentRelay(Relay):
    role = "agent"


application: Any = URLRouter(
    [
        path("agent/<int:pair>", AgentRelay.as_asgi()),  # type: ignore[arg-type,list-item]
        path("buyer/<int:pair>", Relay.as_asgi()),  # type: ignore[arg-type,list-item]
    ]
)
gc.freeze()  # as backoffice/asgi.py does
