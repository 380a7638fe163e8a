"""Two daphne processes on one Redis: a buyer connected to one and the agent to the other still talk."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
import websockets
from websockets.typing import Origin

from backoffice import services as shop_services
from backoffice.models import Shop, StaffAccount
from routing import services, tokens
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client, requires_postgres
from tests.live import daphne, server_env, unique_prefix

requires_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (one Redis, two servers)"
)


async def next_of(ws: Any, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))  # a safety net only
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


@requires_postgres
@requires_redis
@pytest.mark.django_db(transaction=True)
def test_buyer_on_one_server_and_agent_on_another_talk(shop_a: Shop, owner: StaffAccount) -> None:
    services.set_agent_status(staff=owner, status="offline")
    agent = shop_services.create_staff_account(
        shop=shop_a,
        login="two_proc",
        password=PASSWORD,
        display_name="售前-小美",
        role="agent",
        im_enabled=True,
    )
    services.set_agent_status(staff=agent, status="online")
    buyer = factories.buyer(shop_a, "tp1", "买家甲")
    token = tokens.buyer_token(buyer)
    cookie = f"sessionid={login_client(agent).cookies['sessionid'].value}"
    env = server_env(unique_prefix())

    async def talk(buyer_host: str, agent_host: str) -> None:
        async with (
            websockets.connect(
                f"ws://{buyer_host}/ws/buyer/?token={token}", origin=Origin(f"http://{buyer_host}")
            ) as b,
            websockets.connect(
                f"ws://{agent_host}/ws/agent/",
                origin=Origin(f"http://{agent_host}"),
                additional_headers={"Cookie": cookie},
            ) as a,
        ):
            await next_of(b, "hello")
            await next_of(a, "hello")
            await b.send(json.dumps({"type": "send", "client_msg_id": "b1", "text": "你好，在吗"}))
            assigned = await next_of(a, "assigned")  # routed in server 1, pushed by server 2
            conv = assigned["conversation"]
            await a.send(json.dumps({"type": "resume", "after": {str(conv): 0}}))
            first = await next_of(a, "message", conversation=conv)
            assert first["text"] == "你好，在吗"
            await a.send(
                json.dumps({"type": "send", "conversation": conv, "client_msg_id": "a1", "text": "在的亲"})
            )
            reply = await next_of(b, "message", sender="agent")
            assert (reply["text"], reply["agent_name"]) == ("在的亲", "售前-小美")
            await b.send(json.dumps({"type": "send", "client_msg_id": "b2", "text": "好的谢谢"}))
            assert (await next_of(a, "message", seq=3))["text"] == "好的谢谢"

    with daphne(env) as (host_1, _p1), daphne(env) as (host_2, _p2):
        asyncio.run(talk(host_1, host_2))
