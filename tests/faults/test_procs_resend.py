"""Fault 5 (issue 18): a buyer resends the same ``client_msg_id`` after a timeout, to the other process: it is
stored once and acknowledged with the same id and seq. Also when both copies arrive at once (two tabs, two
servers), for a first message that starts the chat as for one in an open chat, and for an agent's reply."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from backoffice.models import Buyer, Shop, StaffAccount
from routing import services
from routing.models import Conversation, Message
from routing.tokens import buyer_token
from tests.conftest import login_client, requires_postgres
from tests.faults import harness
from tests.faults.clients import next_frame, open_socket
from tests.faults.conftest import make_agents, make_buyers

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

PAIRS = 20


def send(cid: str, text: str, **extra: Any) -> str:
    return json.dumps({"type": "send", "client_msg_id": cid, "text": text, **extra})


async def hello(host: str, path: str, headers: dict[str, str] | None = None) -> Any:
    ws = await open_socket(host, path, headers)
    await next_frame(ws, "hello")
    return ws


def test_resend_after_a_timeout_to_the_other_server_is_stored_once_with_the_same_ack(
    shop_a: Shop, owner: StaffAccount
) -> None:
    make_agents(shop_a, owner, 1, 3)
    (buyer,) = make_buyers(shop_a, 1)
    path = f"/ws/buyer/?token={buyer_token(buyer)}"
    with harness.stack(daphnes=2) as stack:
        first, other = stack.hosts

        async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            ws = await hello(first, path)
            await ws.send(send("b-1", "你好"))
            ack_1 = await next_frame(ws, "ack", client_msg_id="b-1")
            await ws.send(send("b-2", "什么时候发货？"))
            ack_2 = await next_frame(ws, "ack", client_msg_id="b-2")  # the ack the buyer "never saw"
            await ws.close()  # the buyer's timeout: it gives up on this socket and server
            ws = await hello(other, path)
            await ws.send(send("b-2", "什么时候发货？"))
            resent = await next_frame(ws, "ack", client_msg_id="b-2")
            await ws.close()
            assert ack_1["seq"] == 1
            return ack_1, ack_2, resent

        _ack_1, ack_2, resent = asyncio.run(run())
    assert (resent["id"], resent["seq"], resent["conversation"]) == (
        ack_2["id"],
        ack_2["seq"],
        ack_2["conversation"],
    )
    assert resent["created_at"] == ack_2["created_at"]
    assert Message.objects.filter(client_msg_id="b-2").count() == 1
    assert list(
        Message.objects.filter(conversation__buyer=buyer).values_list("seq", flat=True).order_by("seq")
    ) == [
        1,
        2,
    ]


def test_the_same_send_on_both_servers_at_once_is_stored_once_and_acked_alike(
    shop_a: Shop, owner: StaffAccount
) -> None:
    agents = make_agents(shop_a, owner, PAIRS, 3)
    starting = make_buyers(shop_a, PAIRS, "fs")  # their copies start a chat
    chatting = make_buyers(shop_a, PAIRS, "fc")  # their copies land in an open chat
    convs = [services.request_human(buyer=b)[0] for b in chatting]
    cookie = {s.pk: {"Cookie": f"sessionid={login_client(s).cookies['sessionid'].value}"} for s in agents}

    async def twice(hosts: list[str], path: str, frame: str, headers: dict[str, str] | None = None) -> Any:
        """The same frame on a socket to each server, sent together; both acks."""
        sockets = [await hello(h, path, headers) for h in hosts]
        cid = json.loads(frame)["client_msg_id"]
        await asyncio.gather(*(ws.send(frame) for ws in sockets))
        acks = await asyncio.gather(*(next_frame(ws, "ack", client_msg_id=cid) for ws in sockets))
        await asyncio.gather(*(ws.close() for ws in sockets))
        return acks

    with harness.stack(daphnes=2) as stack:
        hosts = stack.hosts

        async def run() -> list[Any]:
            buyer_sends = [
                twice(hosts, f"/ws/buyer/?token={buyer_token(b)}", send(f"dup-{b.pk}", "在吗"))
                for b in [*starting, *chatting]
            ]
            agent_sends = [
                twice(
                    hosts,
                    "/ws/agent/",
                    send(f"rep-{c.pk}", "在的亲", conversation=c.pk),
                    cookie[int(c.agent_id or 0)],
                )
                for c in convs
            ]
            return list(await asyncio.gather(*buyer_sends, *agent_sends))

        results = asyncio.run(run())
    for first, second in results:
        assert (first["id"], first["seq"], first["conversation"]) == (
            second["id"],
            second["seq"],
            second["conversation"],
        )
    buyers: list[Buyer] = [*starting, *chatting]
    assert Conversation.objects.filter(buyer__in=buyers).count() == len(buyers)  # no second chat
    for buyer in buyers:
        assert Message.objects.filter(client_msg_id=f"dup-{buyer.pk}").count() == 1
    for conv in convs:
        seqs = list(
            Message.objects.filter(conversation=conv).order_by("seq").values_list("seq", "client_msg_id")
        )
        assert len(seqs) == 2 and {cid for _s, cid in seqs} == {f"dup-{conv.buyer_id}", f"rep-{conv.pk}"}
        assert [s for s, _cid in seqs] == [1, 2]
