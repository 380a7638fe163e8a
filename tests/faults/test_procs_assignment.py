"""Fault 1 (issue 18): two daphne processes and two Celery workers on one Redis and PostgreSQL; 200 buyers
start chats at once on agents with limits of 3. Every chat is assigned exactly once or queued, and nobody is
over their limit, as the database tells it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count, Q

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import (
    AgentState,
    Conversation,
    ConversationState,
    DecisionOutcome,
    EndReason,
    Message,
    RoutingDecision,
)
from routing.tokens import buyer_token
from tests.conftest import requires_postgres
from tests.faults import harness
from tests.faults.clients import Peer
from tests.faults.conftest import make_agents, make_buyers
from tests.live import wait_until

BUYERS = 200
AGENTS = 20
LIMIT = 3
ENDED = 30
CONNECT_AT_ONCE = 10  # daphne closes a handshake its consumer has not accepted within 5 s

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


async def burst(peers: list[Peer]) -> None:
    """Connect every buyer (a few at a time), then every buyer sends their first message at once; returns
    when every send is acked."""
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def connect(i: int, peer: Peer) -> None:
        async with gate:
            await peer.connect(preferred=i)

    await asyncio.gather(*(connect(i, p) for i, p in enumerate(peers)))
    await asyncio.gather(
        *(p.send({"type": "send", "client_msg_id": uuid.uuid4().hex, "text": "在吗？"}) for p in peers)
    )

    async def acked(peer: Peer) -> None:
        while peer.unacked:
            peer.changed.clear()
            await asyncio.wait_for(peer.changed.wait(), 60)

    await asyncio.gather(*(acked(p) for p in peers))
    await asyncio.gather(*(p.close() for p in peers))


def end_concurrently(convs: list[Conversation], threads: int = 6) -> None:
    """End the chats from ``threads`` threads at once (each ends every sixth), each on its own connection."""

    def run(part: list[Conversation]) -> None:
        try:
            for conv in part:
                services.end_conversation(conversation=conv, reason=EndReason.AGENT)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(convs[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_200_buyers_at_once_on_two_servers_each_assigned_once_or_queued_nobody_over_limit(
    shop_a: Shop, owner: StaffAccount
) -> None:
    agents = make_agents(shop_a, owner, AGENTS, LIMIT)
    buyers = make_buyers(shop_a, BUYERS)
    # The workers serve stranded arrivals and queues at once (no 30 s wait) and race the live routers.
    with harness.stack(daphnes=2, workers=2, ROUTING_STRANDED_SECONDS="0") as stack:
        peers = [Peer(stack.hosts, f"/ws/buyer/?token={buyer_token(b)}") for b in buyers]
        for _ in range(10):  # beat's routing work, queued on both workers while the burst lands
            stack.send_task("routing.route_stranded")
            stack.send_task("routing.reconcile_loads")
        asyncio.run(burst(peers))
        for _ in range(4):
            stack.send_task("routing.route_stranded")

        def settled() -> bool:
            routing = Conversation.objects.filter(shop=shop_a, state=ConversationState.ROUTING)
            return not routing.exists() and Conversation.objects.filter(shop=shop_a).count() == BUYERS

        wait_until(
            settled,
            lambda: f"chats still routing: {Counter(Conversation.objects.values_list('state', flat=True))}",
        )
        # Seats come free (30 chats ended from 6 threads) while both workers serve the queue too.
        ended = list(Conversation.objects.filter(shop=shop_a, state=ConversationState.ACTIVE).order_by("pk"))[
            :ENDED
        ]
        for _ in range(6):
            stack.send_task("routing.route_stranded")
        end_concurrently(ended)
        for _ in range(4):
            stack.send_task("routing.route_stranded")
        wait_until(
            lambda: (
                Conversation.objects.filter(shop=shop_a, state=ConversationState.ACTIVE).count()
                == AGENTS * LIMIT
            ),
            lambda: f"seats not refilled: {Counter(Conversation.objects.values_list('state', flat=True))}",
        )

    convs = list(Conversation.objects.filter(shop=shop_a))
    assert len(convs) == BUYERS and len({c.buyer_id for c in convs}) == BUYERS  # one chat per buyer
    assert Message.objects.filter(conversation__shop=shop_a, sender="buyer").count() == BUYERS  # stored once
    states = Counter(c.state for c in convs)
    assert set(states) <= {ConversationState.ACTIVE, ConversationState.QUEUED, ConversationState.ENDED}
    # every seat taken again after the ends, the rest queued
    assert (states["active"], states["ended"], states["queued"]) == (
        AGENTS * LIMIT,
        ENDED,
        BUYERS - 60 - ENDED,
    )
    active = Counter(c.agent_id for c in convs if c.state == ConversationState.ACTIVE)
    assert set(active) <= {a.pk for a in agents}
    assert max(active.values()) <= LIMIT, active
    loads = dict(AgentState.objects.filter(staff__in=agents).values_list("staff_id", "load"))
    assert loads == {a.pk: active[a.pk] for a in agents}  # the seat counts agree with the chats
    assigned = RoutingDecision.objects.filter(conversation__shop=shop_a, outcome=DecisionOutcome.ASSIGNED)
    per_conv = assigned.values("conversation").annotate(n=Count("pk"))
    assert {row["n"] for row in per_conv} == {1}  # assigned exactly once
    assert {row["conversation"] for row in per_conv} == {c.pk for c in convs if c.state != "queued"}
    assert not Conversation.objects.filter(Q(state="queued") & ~Q(agent=None)).exists()
