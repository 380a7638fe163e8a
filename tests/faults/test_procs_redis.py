"""Fault 3 (issue 18): restart Redis (the suite's private one, nothing persisted) in the middle of
conversations between two daphne processes. Nothing acknowledged is lost, the clients resume, the servers'
publishers and subscribers reconnect (a message after the restart crosses from one process to the other
live) and the Celery worker takes tasks again."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import AgentState, Conversation, Message
from routing.tokens import buyer_token
from tests.conftest import login_client, requires_postgres
from tests.faults import harness
from tests.faults.clients import Peer
from tests.faults.conftest import make_agents, make_buyers
from tests.live import wait_until

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

PAIRS = 4


def cookie(staff: StaffAccount) -> dict[str, str]:
    return {"Cookie": f"sessionid={login_client(staff).cookies['sessionid'].value}"}


async def say(peer: Peer, n: int, conv: int | None = None) -> str:
    cid = f"{uuid.uuid4().hex[:8]}-{n}"
    frame: dict[str, Any] = {"type": "send", "client_msg_id": cid, "text": f"第{n}条"}
    if conv is not None:
        frame["conversation"] = conv
    await peer.send(frame)
    return cid


async def until(condition: Any, what: str) -> None:
    """Wait (in a worker thread, the loop keeps reading the sockets) until ``condition()``."""
    await database_sync_to_async(wait_until)(condition, lambda: what)


def test_redis_restart_loses_nothing_acknowledged_and_everything_reconnects(
    shop_a: Shop, owner: StaffAccount
) -> None:
    agents = make_agents(shop_a, owner, PAIRS, 1)
    convs = [services.request_human(buyer=b)[0] for b in make_buyers(shop_a, PAIRS)]
    by_agent = {s.pk: s for s in agents}
    with harness.stack(daphnes=2, workers=1) as stack:
        d0, d1 = stack.hosts
        pairs = []
        for chat in convs:
            buyer = Peer([d0, d1], f"/ws/buyer/?token={buyer_token(chat.buyer)}")
            agent = Peer([d1, d0], "/ws/agent/", cookie(by_agent[int(chat.agent_id or 0)]))
            agent.messages[chat.pk] = {}
            pairs.append((chat.pk, buyer, agent))

        def has(peer: Peer, conv: int, cid: str) -> bool:
            return any(m.get("client_msg_id") == cid for m in peer.messages.get(conv, {}).values())

        async def exchange(n: int) -> None:
            """Each buyer says something and each agent answers; both ends see both (live or resumed)."""
            sent = [(conv, buyer, agent, await say(buyer, n)) for conv, buyer, agent in pairs]
            await until(
                lambda: all(has(a, c, cid) for c, _b, a, cid in sent), f"agents miss buyer message {n}"
            )
            sent = [(conv, buyer, agent, await say(agent, n, conv)) for conv, buyer, agent in pairs]
            await until(
                lambda: all(has(b, c, cid) for c, b, _a, cid in sent), f"buyers miss agent message {n}"
            )

        async def run() -> None:
            for _conv, buyer, agent in pairs:
                await buyer.connect()
                await agent.connect()
            await exchange(0)
            # Sends in flight while Redis goes away and comes back empty.
            during = [(conv, buyer, await say(buyer, 1)) for conv, buyer, _agent in pairs]
            stack.redis.restart()
            await until(
                lambda: all(not b.unacked for _c, b, _cid in during), "sends across the restart unacked"
            )
            for _round in range(2, 5):
                await exchange(_round)
            for _conv, buyer, agent in pairs:
                await buyer.close()
                await agent.close()

        asyncio.run(run())

        # Celery recovers: the worker takes a task queued on the new Redis.
        AgentState.objects.filter(staff=agents[0]).update(load=0)  # a drift for reconcile_loads to fix
        stack.send_task("routing.reconcile_loads")
        wait_until(
            lambda: AgentState.objects.get(staff=agents[0]).load == 1,
            lambda: f"the worker took no task after the restart:\n{stack.logs_tail()}",
        )

    for conv, buyer, agent in pairs:
        stored = list(
            Message.objects.filter(conversation_id=conv).order_by("seq").values_list("seq", "client_msg_id")
        )
        assert [s for s, _c in stored] == list(range(1, len(stored) + 1))
        assert {c for _s, c in stored} == {*buyer.acks, *agent.acks}  # every acked message stored, once
        assert len(stored) == 2 * 4 + 1
        for peer in (buyer, agent):  # both ends have every message in the end
            assert sorted(peer.messages[conv]) == [s for s, _c in stored]
    assert Conversation.objects.filter(pk__in=[c for c, _b, _a in pairs], state="active").count() == PAIRS
