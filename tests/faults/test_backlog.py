"""Fault 7, the outage backlog (issue 18): BACKLOG_SESSIONS (default 20,000) chats go idle at once, as after
an outage in which no buyer wrote for 15 minutes; the auto-end beat task ends them all in bounded batches
(one transaction of at most 500 chats each, ``routing.services.sessions.auto_end_idle``) while live buyers
keep chatting with their agents through a real daphne. The live buyer-to-agent latency (the agent's receive
time minus the buyer's send time, one clock) is measured without the sweep and during it, in the same run,
and printed as a table; nothing live is lost and the p99 during the sweep stays within a bounded factor of
the p99 without it.

Knobs: BACKLOG_SESSIONS, BACKLOG_PAIRS (live buyer/agent pairs, default 10), BACKLOG_RATE (messages a second
per live buyer, default 4, under the throttle of 5) and BACKLOG_QUIET_SECONDS (the measurement without the
sweep, default 8)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.models import Buyer, Shop, StaffAccount
from routing.models import AgentState, Conversation, ConversationState, EndReason
from routing.tasks import auto_end_idle
from routing.tokens import buyer_token
from tests.bench.bench_livechat import open_socket, setup_pairs
from tests.bench.common import percentile
from tests.conftest import login_client, requires_postgres
from tests.live import SAFETY_TIMEOUT, daphne, server_env, unique_prefix
from tests.routing.test_concurrency import new_agent

requires_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]

SESSIONS = int(os.environ.get("BACKLOG_SESSIONS", "20000"))
PAIRS = int(os.environ.get("BACKLOG_PAIRS", "10"))
RATE = float(os.environ.get("BACKLOG_RATE", "4"))
QUIET_SECONDS = float(os.environ.get("BACKLOG_QUIET_SECONDS", "8"))
BATCH = 500  # auto_end_idle's batch: the most chats one transaction of the sweep holds
BACKLOG_AGENTS = 20


def idle_backlog(shop: Shop, count: int) -> None:
    """``count`` active chats, answered and silent for 16 minutes, spread over offline agents whose loads
    count them (as the outage left them)."""
    agents = [new_agent(shop, f"backlog{n}", online=False) for n in range(BACKLOG_AGENTS)]
    buyers = Buyer.objects.bulk_create(
        Buyer(shop=shop, platform_id=f"idle{n}", nickname=f"买家{n}") for n in range(count)
    )
    silent = timezone.now() - timedelta(minutes=16)
    Conversation.objects.bulk_create(
        (
            Conversation(
                shop=shop,
                buyer=buyer,
                state=ConversationState.ACTIVE,
                agent=agents[n % BACKLOG_AGENTS],
                assigned_at=silent,
                silent_since=silent,
            )
            for n, buyer in enumerate(buyers)
        ),
        batch_size=2000,
    )
    for n, agent in enumerate(agents):
        AgentState.objects.filter(staff=agent).update(load=len(range(n, count, BACKLOG_AGENTS)))


def sweep(statements: list[str]) -> int:
    """The beat task as a worker runs it, on this thread's own connection; the conversation UPDATEs it
    made go to ``statements``."""
    try:
        with CaptureQueriesContext(connection) as seen:
            ended = int(auto_end_idle.apply().get())
        statements.extend(
            q["sql"] for q in seen.captured_queries if q["sql"].startswith('UPDATE "routing_conversation"')
        )
        return ended
    finally:
        connection.close()


async def agent_reads(ws: Any, received: dict[str, float]) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") == "message" and frame.get("sender") == "buyer":
            received.setdefault(frame["client_msg_id"], time.perf_counter())


async def buyer_reads(ws: Any, frames: dict[str, str], errors: list[str]) -> None:
    """Read the buyer's socket: a ``throttled`` send is resent with the same client_msg_id 0.3 s later (what
    the pages do; a burst after a stall can exceed the 5 a second); any other error is recorded."""
    resends: set[asyncio.Task[None]] = set()

    async def resend(cid: str) -> None:
        await asyncio.sleep(0.3)
        await ws.send(frames[cid])

    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") != "error":
            continue
        if frame.get("code") == "throttled" and frame.get("client_msg_id") in frames:
            task = asyncio.create_task(resend(frame["client_msg_id"]))
            resends.add(task)
            task.add_done_callback(resends.discard)
        else:
            errors.append(str(frame.get("code")))


async def buyer_sends(
    ws: Any, tag: str, sent: dict[str, float], frames: dict[str, str], stop: asyncio.Event
) -> None:
    """Send at RATE until ``stop`` is set (an open loop: no waiting for acks); ids ``<tag>-<n>``, new in
    each phase (a reused id is a resend: stored once and not relayed again)."""
    pair = int(tag.rsplit("p", 1)[1])
    n = 0
    next_at = time.perf_counter() + pair / (PAIRS * RATE)  # the buyers' starts spread over one interval
    while not stop.is_set():
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        cid = f"{tag}-{n}"
        sent[cid] = time.perf_counter()
        frames[cid] = json.dumps({"type": "send", "client_msg_id": cid, "text": f"在吗 {n}"})
        await ws.send(frames[cid])
        n += 1
        next_at += 1 / RATE


async def live_traffic(
    host: str, phase: str, credentials: list[tuple[str, str]], stop: asyncio.Event
) -> dict[str, tuple[float, float]]:
    """Every live buyer (credentials: the agent's session cookie, the buyer's token) sends at RATE until
    ``stop`` is set; {client_msg_id: (sent, received by the agent)} (received is 0 when it never arrived
    within the safety timeout after the stop)."""
    origin = f"http://{host}"
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    agents, buyers = [], []
    for cookie, token in credentials:
        agents.append(await open_socket(f"ws://{host}/ws/agent/", origin, {"Cookie": cookie}))
        buyers.append(await open_socket(f"ws://{host}/ws/buyer/?token={token}", origin))
    readers = [asyncio.create_task(agent_reads(ws, received)) for ws in agents]
    frames: dict[str, str] = {}
    errors: list[str] = []
    readers += [asyncio.create_task(buyer_reads(ws, frames, errors)) for ws in buyers]
    await asyncio.gather(
        *(buyer_sends(ws, f"{phase}p{i}", sent, frames, stop) for i, ws in enumerate(buyers))
    )
    deadline = time.perf_counter() + SAFETY_TIMEOUT
    while len(received) < len(sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    for ws in agents + buyers:
        await ws.close()
    assert not errors, errors
    return {cid: (at, received.get(cid, 0.0)) for cid, at in sent.items()}


def latencies(times: dict[str, tuple[float, float]]) -> list[float]:
    return sorted(got - at for at, got in times.values() if got)


def test_an_outage_backlog_is_ended_in_bounded_batches_without_delaying_live_chats(
    shop_a: Shop, owner: StaffAccount
) -> None:
    pairs = setup_pairs(shop_a, owner, PAIRS)
    credentials = [
        (f"sessionid={login_client(agent).cookies['sessionid'].value}", buyer_token(buyer))
        for _conv, buyer, agent in pairs
    ]
    idle_backlog(shop_a, SESSIONS)
    statements: list[str] = []
    swept: list[int] = []
    window: dict[str, float] = {}

    async def run(host: str) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
        quiet_stop = asyncio.Event()
        asyncio.get_running_loop().call_later(QUIET_SECONDS, quiet_stop.set)
        quiet = await live_traffic(host, "quiet", credentials, quiet_stop)

        during_stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def sweeping() -> None:
            window["start"] = time.perf_counter()
            swept.append(sweep(statements))
            window["end"] = time.perf_counter()
            loop.call_soon_threadsafe(during_stop.set)

        thread = threading.Thread(target=sweeping)
        traffic = asyncio.create_task(live_traffic(host, "sweep", credentials, during_stop))
        await asyncio.sleep(0.5)  # the live sockets are open and sending before the sweep starts
        thread.start()
        during = await traffic
        thread.join(SAFETY_TIMEOUT)
        return quiet, during

    with daphne(server_env(unique_prefix())) as (host, _proc):
        quiet, during_all = asyncio.run(run(host))

    during = {cid: t for cid, t in during_all.items() if window["start"] <= t[0] <= window["end"]}
    rows = [("without the sweep", quiet), ("during the sweep", during)]
    print(f"\nbacklog of {SESSIONS} idle chats ended in {window['end'] - window['start']:.1f} s")
    print(f"{'live buyer->agent':<20}{'messages':>10}{'lost':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, times in rows:
        lat = latencies(times)
        print(
            f"{label:<20}{len(times):>10}{len(times) - len(lat):>6}{percentile(lat, 50) * 1000:>9.1f}"
            f"{percentile(lat, 99) * 1000:>9.1f}{max(lat, default=0) * 1000:>9.1f}"
        )

    assert swept == [SESSIONS]
    assert Conversation.objects.filter(end_reason=EndReason.AUTO).count() == SESSIONS
    assert (
        not AgentState.objects.filter(staff__display_name__startswith="客服-backlog").exclude(load=0).exists()
    )
    assert len(statements) == math.ceil(SESSIONS / BATCH)  # bounded: one UPDATE of at most BATCH chats each
    for times in (quiet, during_all):
        assert all(got for _at, got in times.values()), "a live message never reached its agent"
    assert during, "no live message was sent during the sweep"
    quiet_p99 = percentile(latencies(quiet), 99)
    assert percentile(latencies(during), 99) <= max(5 * quiet_p99, quiet_p99 + 0.5)
