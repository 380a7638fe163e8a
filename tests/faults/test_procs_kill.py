"""Fault 2 (issue 18): SIGKILL a daphne process in the middle of conversations. Its clients reconnect with
jittered backoff to the other one, resume from their last seq, resend what was not acked and end with every
message exactly once, in order; the killed process's agents (a tab that never comes back) go offline within
a bounded time: the process's presence lease lapses (routing/presence.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import AgentState, AgentStatus, Conversation, Message
from routing.tokens import buyer_token
from tests.conftest import login_client, requires_postgres
from tests.faults import harness
from tests.faults.clients import Peer
from tests.faults.conftest import make_agents, make_buyers
from tests.live import wait_until

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

PAIRS = 6
MESSAGES = 8  # each buyer and each agent, a quarter sent before the kill
LEASE, HEARTBEAT, GRACE = 2, 1, 1
# A dead process's agent is offline within the lease, the grace and one heartbeat, plus the time the
# (here: emulated) beat takes to run; the slack is for a busy machine.
OFFLINE_BOUND = LEASE + GRACE + HEARTBEAT + 15


def cookie(staff: StaffAccount) -> dict[str, str]:
    return {"Cookie": f"sessionid={login_client(staff).cookies['sessionid'].value}"}


async def talk(peers: list[tuple[Peer, int | None]], start: int, stop: int) -> None:
    """Every peer sends messages ``start`` .. ``stop - 1`` (a buyer's have no conversation), paced under the
    buyer throttle; returns when all are acked."""

    async def one(peer: Peer, conv: int | None) -> None:
        for n in range(start, stop):
            frame: dict[str, Any] = {
                "type": "send",
                "client_msg_id": f"{uuid.uuid4().hex[:8]}-{n}",
                "text": f"第{n}条",
            }
            if conv is not None:
                frame["conversation"] = conv
            await peer.send(frame)
            await asyncio.sleep(0.25)
        while peer.unacked:
            peer.changed.clear()
            await asyncio.wait_for(peer.changed.wait(), 60)

    await asyncio.gather(*(one(p, c) for p, c in peers))


def check_conversation(conv: int, buyer: Peer, agent: Peer) -> None:
    """Stored once each, no gap, each side's messages in the order it sent them, and both ends saw exactly
    what is stored."""
    stored = list(
        Message.objects.filter(conversation_id=conv)
        .order_by("seq")
        .values_list("seq", "client_msg_id", "sender")
    )
    assert [s for s, _cid, _who in stored] == list(range(1, 2 * MESSAGES + 1))
    assert sorted([*buyer.acks, *agent.acks]) == sorted(cid for _s, cid, _who in stored)
    for who in ("buyer", "agent"):
        order = [int(cid.rsplit("-", 1)[1]) for _s, cid, w in stored if w == who]
        assert order == list(range(MESSAGES)), (who, order)
    for peer in (buyer, agent):
        seen = [peer.messages[conv][s].get("client_msg_id") for s, _c, _w in stored]
        assert seen == [c for _s, c, _w in stored]


def test_killed_server_clients_resume_on_the_other_exactly_once_in_order_and_its_agents_go_offline(
    shop_a: Shop, owner: StaffAccount
) -> None:
    agents = make_agents(shop_a, owner, PAIRS, 1)
    convs = [services.request_human(buyer=b)[0] for b in make_buyers(shop_a, PAIRS)]
    ghost = make_agents(shop_a, owner, 1, 3, login="ghost")[0]  # its only tab is on the killed process
    env = {"PRESENCE_LEASE_SECONDS": str(LEASE), "PRESENCE_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    env["PRESENCE_GRACE_SECONDS"] = str(GRACE)
    with harness.stack(daphnes=2, workers=1, **env) as stack:
        doomed, survivor = stack.daphnes
        hosts = [doomed.host, survivor.host]
        by_agent = {s.pk: s for s in agents}
        pairs = []
        for i, chat in enumerate(convs):
            buyer = Peer(hosts, f"/ws/buyer/?token={buyer_token(chat.buyer)}")
            agent = Peer(hosts, "/ws/agent/", cookie(by_agent[int(chat.agent_id or 0)]))
            agent.messages[chat.pk] = {}
            pairs.append((i, chat.pk, buyer, agent))
        ghost_tab = Peer([doomed.host], "/ws/agent/", cookie(ghost), follow=False)

        def offline() -> bool:
            if time.monotonic() - getattr(offline, "sent", 0.0) > 0.5:  # beat's expire_presence, emulated
                stack.send_task("routing.expire_presence")
                offline.sent = time.monotonic()  # type: ignore[attr-defined]
            return AgentState.objects.filter(staff=ghost, status=AgentStatus.OFFLINE).exists()

        def delivered() -> bool:
            last = dict(
                Conversation.objects.filter(pk__in=[c.pk for c in convs]).values_list("pk", "last_seq")
            )
            return all(
                set(peer.messages.get(conv, {})) == set(range(1, last[conv] + 1))
                for _i, conv, buyer, agent in pairs
                for peer in (buyer, agent)
            )

        async def run() -> float:
            # Half the pairs' buyers on the doomed process and their agents on the other, half the reverse.
            for i, _conv, buyer, agent in pairs:
                await buyer.connect(preferred=i % 2)
                await agent.connect(preferred=(i + 1) % 2)
            await ghost_tab.connect()
            everyone: list[tuple[Peer, int | None]] = [(p, None) for _i, _c, p, _a in pairs]
            everyone += [(a, c) for _i, c, _b, a in pairs]
            await talk(everyone, 0, MESSAGES // 4)
            sending = asyncio.create_task(talk(everyone, MESSAGES // 4, MESSAGES))
            await asyncio.sleep(0.5)  # mid-conversation: some messages sent, some still to come
            harness.sigkill(doomed)
            killed_at = time.monotonic()
            await sending
            # The database waits run in a worker thread while this loop keeps reading the sockets.
            await database_sync_to_async(wait_until)(
                offline, lambda: "the killed process's agent is still not offline", OFFLINE_BOUND
            )
            went_offline = time.monotonic() - killed_at
            await database_sync_to_async(wait_until)(delivered, lambda: "not every peer has every message")
            for _i, _c, buyer, agent in pairs:
                await buyer.close()
                await agent.close()
            await ghost_tab.close()
            return went_offline

        went_offline = asyncio.run(run())

    assert went_offline < OFFLINE_BOUND
    assert sum(b.reconnects + a.reconnects for _i, _c, b, a in pairs) == PAIRS  # one end of each pair moved
    for _i, conv, buyer, agent in pairs:
        check_conversation(conv, buyer, agent)
    # The agents whose tabs moved stay online; only the ghost went offline.
    assert set(AgentState.objects.filter(staff__in=agents).values_list("status", flat=True)) == {
        AgentStatus.ONLINE
    }
