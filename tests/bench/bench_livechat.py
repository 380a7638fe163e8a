"""Live-chat benchmark: C buyer/agent pairs over real WebSockets against daphne + Redis + PostgreSQL, and the
same clients against a bare ``websockets`` relay (``livechat_relay.py``) measured in the same run.

Run with ``make bench`` (or ``pytest tests/bench/bench_livechat.py -s -q``; needs DATABASE_URL=postgres://...
and REDIS_URL). Knobs: BENCH_PAIRS (C, default 200), BENCH_MESSAGES (M per buyer, default 20), BENCH_RATE
(messages a second per buyer, default 4: under the buyer throttle of 5 a second), BENCH_DAPHNES (daphne
processes, default 1; pair i's buyer connects to process i mod N and its agent to the next one),
BENCH_TIMEOUT (seconds to wait for deliveries after the last send, default 300) and BENCH_QUIET (stop waiting
when no ack or delivery arrived for this many seconds, default 10), BENCH_PROFILE (a file: daphne runs under
cProfile, which sees its event-loop thread), BENCH_UVICORN (default 1: the stack is measured a second time
under uvicorn, the documented alternative to daphne, in the same run; 0 skips it), BENCH_FLOOR (default 1:
the relay's protocol as a bare Channels consumer under daphne, ``livechat_channels.py``, the floor of any
Channels deployment; 0 skips it). The stack processes get
the test database, REDIS_URL, a channel-layer prefix of their own and the production settings (DEBUG=0,
ALLOWED_HOSTS=127.0.0.1, the test run's SECRET_KEY, which signed the sessions and buyer tokens); everything
else comes from the environment (DB_POOL and the pool's sizes, say: by default each process takes its
connections from psycopg's pool, ``backoffice/settings.py``).

Set-up: C agents with a reception limit of 1, C buyers, each routed by ``request_human`` to its own agent, all
committed. Each pair opens the agent socket (session cookie) and the buyer socket (signed token); every buyer
sends M messages at a steady BENCH_RATE, the buyers' start times spread over one interval, so the offered
load is C x BENCH_RATE messages a second whatever the server does (an open loop: senders do not wait for
acks). The relay gets the same pairs, pacing and clients, and answers with the same two frames (the ack to
the buyer, the message to the agent: the sending socket gets no echo, ``routing/PROTOCOL.md``).

Measured per server:
- delivered messages a second: messages the agents received / (last delivery - first send);
- p50 / p99 latency: the agent's receive time - the buyer's (first) send time, same process and clock; the
  buyer's ack latency is printed too (for daphne: the stored message, before the broadcast reaches the agent);
- lost: acked but never received by the agent when the run ended (all delivered, BENCH_QUIET seconds without
  progress, or BENCH_TIMEOUT); duplicated: received twice by the agent;
- RSS per connection: the server's VmRSS after all 2C sockets are open minus before, over the sockets
  (one pair is opened first as warm-up, so the one-off cost of the first connection is not counted).
A ``throttled`` error is answered by resending the same client_msg_id 0.3 s later (what a client does).

The same clients also run against the relay with ``RELAY_DATABASE_URL`` set, which commits each message to
PostgreSQL (group commit, async psycopg) before acking and relaying it: the floor of persist-first without
Django, Channels or Redis. The last columns are each stack's ratio to it. It also prints the database
round trips of one buyer batch as a stack process stores it (``tests/roundtrips.py``).

Targets (issue 20; printed, not asserted): against the persist-first relay, at 1 message a second a buyer
(BENCH_RATE=1, 200 msgs/s) p99 at most 5x and p50 at most 3x, at 4 a second (800 msgs/s) p99 at most 8x;
at least 97% of the offered rate delivered; zero lost and zero duplicated (asserted). The older targets
against the bare relay (p99 under 3x, throughput at least 0.25x) are printed too.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect

from backoffice import services as backoffice_services
from backoffice.models import Buyer, Role, Shop, StaffAccount
from routing import services
from routing.models import ConversationState
from routing.tokens import buyer_token
from tests.bench.common import percentile
from tests.conftest import PASSWORD, login_client
from tests.live import ROOT, free_port, served_database_url, start_server, stop
from tests.roundtrips import loop_round_trips

PAIRS = int(os.environ.get("BENCH_PAIRS", "200"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "20"))
RATE = float(os.environ.get("BENCH_RATE", "4"))
DAPHNES = int(os.environ.get("BENCH_DAPHNES", "1"))
DRAIN_TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "300"))
QUIET = float(os.environ.get("BENCH_QUIET", "10"))
PROFILE = os.environ.get("BENCH_PROFILE", "")
UVICORN = os.environ.get("BENCH_UVICORN", "1") != "0"  # also measure the stack under uvicorn, same run
FLOOR = os.environ.get("BENCH_FLOOR", "1") != "0"  # also measure the Channels floor (livechat_channels.py)
CONNECT_CONCURRENCY = 10  # daphne closes a handshake its consumer has not accepted within 5 s
RESEND_AFTER = 0.3
TARGET_THROUGHPUT = 0.25
TARGET_P99 = 3.0
# Against the persist-first reference (the relay committing to PostgreSQL), issue 20: p99 and p50 at 1 msg/s
# a buyer, p99 at 4 a second.
TARGET_P99_PERSISTED = 5.0 if RATE <= 1 else 8.0
TARGET_P50_PERSISTED = 3.0

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    or not os.environ.get("REDIS_URL"),
    reason="needs PostgreSQL and Redis: set DATABASE_URL=postgres://... and REDIS_URL=redis://... "
    "(daphne subprocesses share the test database and the channel layer)",
)


@dataclass
class Endpoint:
    """One buyer/agent pair as the clients see it: where each end connects and with what."""

    pair: int  # the conversation id (the relay's pair id)
    buyer_url: str
    agent_url: str
    origin: str
    agent_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    sent: dict[str, float] = field(default_factory=dict)  # client_msg_id -> first send (perf_counter)
    acked: dict[str, float] = field(default_factory=dict)  # client_msg_id -> first ack
    received: dict[str, float] = field(default_factory=dict)  # client_msg_id -> first receipt by the agent
    outstanding: set[str] = field(default_factory=set)  # sent, not yet both acked and received
    duplicated: int = 0
    misrouted: int = 0  # on an agent's socket, a message of another conversation or one nobody sent
    throttled: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    measured_sockets: int = 0
    connect_seconds: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return [at - self.sent[cid] for cid, at in self.received.items()]

    @property
    def ack_latencies(self) -> list[float]:
        return [at - self.sent[cid] for cid, at in self.acked.items()]

    @property
    def lost(self) -> int:
        return len(self.acked.keys() - self.received.keys())

    @property
    def unacked(self) -> int:
        return len(self.sent.keys() - self.acked.keys())

    @property
    def rate(self) -> float:
        if not self.received:
            return 0.0
        return len(self.received) / (max(self.received.values()) - min(self.sent.values()))

    @property
    def rss_per_socket_kb(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / max(1, self.measured_sockets)


# --- clients -----------------------------------------------------------------------------------------------


async def open_socket(url: str, origin: str, headers: dict[str, str] | None = None) -> ClientConnection:
    ws = await connect(
        url,
        origin=origin,  # type: ignore[arg-type]  # websockets types it as a NewType of str
        additional_headers=headers,
        compression=None,  # daphne does not negotiate permessage-deflate; the relay must not either
        ping_interval=None,
        open_timeout=60,
        close_timeout=2,
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert hello["type"] == "hello", hello
    return ws


async def read_agent(ws: ClientConnection, pair: int, result: Result) -> None:
    async for raw in ws:
        now = time.perf_counter()
        frame = json.loads(raw)
        if frame.get("type") != "message" or frame.get("sender") != "buyer":
            continue
        cid = frame.get("client_msg_id")
        if frame.get("conversation") != pair or cid not in result.sent:
            result.misrouted += 1
            continue
        if cid in result.received:
            result.duplicated += 1
            continue
        result.received[cid] = now
        if cid in result.acked:
            result.outstanding.discard(cid)


async def read_buyer(ws: ClientConnection, frames: dict[str, str], result: Result) -> None:
    async def resend(cid: str) -> None:
        await asyncio.sleep(RESEND_AFTER)
        await ws.send(frames[cid])

    resends: set[asyncio.Task[None]] = set()
    async for raw in ws:
        now = time.perf_counter()
        frame = json.loads(raw)
        kind, cid = frame.get("type"), frame.get("client_msg_id")
        if kind == "ack" and cid in frames:
            result.acked.setdefault(cid, now)
            if cid in result.received:
                result.outstanding.discard(cid)
        elif kind == "error" and frame.get("code") == "throttled" and cid in frames:
            result.throttled += 1
            task = asyncio.create_task(resend(cid))
            resends.add(task)
            task.add_done_callback(resends.discard)
        elif kind == "error":
            result.errors[str(frame.get("code"))] += 1


async def send_paced(
    ws: ClientConnection, pair: int, start: float, frames: dict[str, str], result: Result
) -> None:
    loop = asyncio.get_running_loop()
    for k in range(MESSAGES):
        await asyncio.sleep(max(0.0, start + k / RATE - loop.time()))
        cid = f"{pair}-{k}-{uuid.uuid4().hex[:12]}"
        frames[cid] = json.dumps(
            {"type": "send", "client_msg_id": cid, "text": f"bench {pair} #{k}: 什么时候发货？"},
            ensure_ascii=False,
        )
        result.sent[cid] = time.perf_counter()
        result.outstanding.add(cid)
        await ws.send(frames[cid])


async def drive(
    endpoints: Sequence[Endpoint], rss_kb: Callable[[], int], stop_servers: Callable[[], Awaitable[None]]
) -> Result:
    """Open every pair, send, wait for the deliveries, stop the servers, then close the sockets (so that a
    stopped daphne runs no disconnect handlers: no presence writes, no tasks queued)."""
    result = Result()

    async def open_pair(ep: Endpoint) -> tuple[ClientConnection, ClientConnection]:
        agent = await open_socket(ep.agent_url, ep.origin, ep.agent_headers)
        return agent, await open_socket(ep.buyer_url, ep.origin)

    sockets = [await open_pair(endpoints[0])]  # warm-up: first-connection costs are not per-socket costs
    result.rss_before_kb = rss_kb()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def gated(ep: Endpoint) -> tuple[ClientConnection, ClientConnection]:
        async with gate:
            return await open_pair(ep)

    t0 = time.perf_counter()
    sockets += await asyncio.gather(*(gated(ep) for ep in endpoints[1:]))
    result.connect_seconds = time.perf_counter() - t0
    await asyncio.sleep(0.5)  # let the servers settle before reading their RSS
    result.rss_after_kb = rss_kb()
    result.measured_sockets = 2 * (len(endpoints) - 1)

    loop = asyncio.get_running_loop()
    frames: list[dict[str, str]] = [{} for _ in endpoints]
    pairs = list(zip(endpoints, sockets, strict=True))
    readers = [
        asyncio.create_task(coro)
        for i, (ep, (agent, buyer)) in enumerate(pairs)
        for coro in (read_agent(agent, ep.pair, result), read_buyer(buyer, frames[i], result))
    ]
    start = loop.time() + 0.2
    await asyncio.gather(
        *(
            send_paced(buyer, ep.pair, start + i / len(endpoints) / RATE, frames[i], result)
            for i, (ep, (_agent, buyer)) in enumerate(pairs)
        )
    )
    deadline, progress, quiet_since = loop.time() + DRAIN_TIMEOUT, -1, loop.time()
    while result.outstanding and loop.time() < deadline and loop.time() - quiet_since < QUIET:
        await asyncio.sleep(0.05)
        if (now := len(result.acked) + len(result.received)) != progress:
            progress, quiet_since = now, loop.time()
    await asyncio.sleep(0.2)  # late duplicates, if any, arrive now
    await stop_servers()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(ws.close() for pair in sockets for ws in pair), return_exceptions=True)
    return result


# --- servers -----------------------------------------------------------------------------------------------


def rss_of(procs: Sequence[subprocess.Popen[bytes]]) -> int:
    """VmRSS of the processes together, in kB."""
    total = 0
    for proc in procs:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def run_against(procs: list[subprocess.Popen[bytes]], endpoints: Sequence[Endpoint]) -> Result:
    async def stop_servers() -> None:
        await asyncio.to_thread(stop, procs)

    try:
        return asyncio.run(drive(endpoints, lambda: rss_of(procs), stop_servers))
    finally:
        stop(procs)


def run_relay(pairs: Sequence[tuple[int, Buyer, StaffAccount]], logs: Path, persist: bool = False) -> Result:
    """The bare relay; with ``persist`` it commits each message to PostgreSQL before relaying it."""
    port = free_port()
    env = {**os.environ, "RELAY_DATABASE_URL": served_database_url()} if persist else dict(os.environ)
    relay = start_server(
        [str(ROOT / "tests/bench/livechat_relay.py"), str(port)],
        port,
        env,
        logs / ("relay-persist.log" if persist else "relay.log"),
    )
    base = f"ws://127.0.0.1:{port}"
    endpoints = [
        Endpoint(conv, f"{base}/buyer/{conv}", f"{base}/agent/{conv}", f"http://127.0.0.1:{port}")
        for conv, _buyer, _agent in pairs
    ]
    return run_against([relay], endpoints)


def server_args(server: str, port: int) -> list[str]:
    """The command line of one stack process: daphne (the default deployment) or uvicorn (the option)."""
    if server == "uvicorn":
        return [
            *("-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
            *("--no-access-log", "--ws", "websockets", "backoffice.asgi:application"),
        ]
    return ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backoffice.asgi:application"]


def stack_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": served_database_url(),
        "CHANNELS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "DEBUG": "0",  # production settings (DEBUG records every query)
        "SECRET_KEY": settings.SECRET_KEY,  # the sessions and tokens made here are signed with it
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
    }


def run_channels_floor(pairs: Sequence[tuple[int, Buyer, StaffAccount]], logs: Path) -> Result:
    """The bare relay's protocol as a Channels consumer under daphne (``livechat_channels.py``): what daphne
    and Channels cost before any of the chat's work (no database, no Redis, no checks)."""
    port = free_port()
    args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.bench.livechat_channels:application"]
    proc = start_server(args, port, stack_env(), logs / "channels-floor.log")
    base = f"ws://127.0.0.1:{port}"
    endpoints = [
        Endpoint(conv, f"{base}/buyer/{conv}", f"{base}/agent/{conv}", f"http://127.0.0.1:{port}")
        for conv, _buyer, _agent in pairs
    ]
    return run_against([proc], endpoints)


def run_stack(pairs: Sequence[tuple[int, Buyer, StaffAccount]], logs: Path, server: str = "daphne") -> Result:
    env = stack_env()
    ports = [free_port() for _ in range(DAPHNES)]
    endpoints = [
        Endpoint(
            conv,
            f"ws://127.0.0.1:{ports[i % DAPHNES]}/ws/buyer/?token={buyer_token(buyer)}",
            f"ws://127.0.0.1:{ports[(i + 1) % DAPHNES]}/ws/agent/",
            f"http://127.0.0.1:{ports[0]}",  # the Origin check compares the host with ALLOWED_HOSTS
            {"Cookie": f"sessionid={login_client(agent).cookies['sessionid'].value}"},
        )
        for i, (conv, buyer, agent) in enumerate(pairs)
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n, port in enumerate(ports):
            profile = ["-m", "cProfile", "-o", f"{PROFILE}.{n}" if n else PROFILE] if PROFILE else []
            args = [*profile, *server_args(server, port)]
            procs.append(start_server(args, port, env, logs / f"{server}{n}.log"))
        return run_against(procs, endpoints)
    finally:
        stop(procs)


# --- data --------------------------------------------------------------------------------------------------


def setup_pairs(shop: Shop, owner: StaffAccount, n: int) -> list[tuple[int, Buyer, StaffAccount]]:
    """n agents with a reception limit of 1 and n buyers, each buyer routed to an agent of their own:
    (conversation id, buyer, agent)."""
    services.set_agent_status(staff=owner, status="offline")
    for i in range(n):
        staff = backoffice_services.create_staff_account(
            shop=shop,
            login=f"chat{i}",
            password=PASSWORD,
            display_name=f"客服{i}",
            role=Role.AGENT,
            im_enabled=True,
        )
        StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=1)
        services.set_agent_status(staff=staff, status="online")
    records = [{"platform_id": f"chat-b{i}", "nickname": f"买家{i}"} for i in range(n)]
    for start in range(0, n, 500):
        backoffice_services.upsert_buyers(shop=shop, records=records[start : start + 500])
    agents = {s.pk: s for s in StaffAccount.objects.filter(shop=shop, role=Role.AGENT).select_related("user")}
    pairs = []
    for buyer in Buyer.objects.filter(shop=shop, platform_id__startswith="chat-b").order_by("pk"):
        conv, _decision = services.request_human(buyer=buyer)
        assert conv.state == ConversationState.ACTIVE and conv.agent_id in agents, (conv.state, conv.agent_id)
        pairs.append((conv.pk, buyer, agents[conv.agent_id]))
    assert len({agent.pk for _c, _b, agent in pairs}) == n, "two buyers share an agent"
    return pairs


# --- report ------------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:,.2f}x" if b else "n/a"


def report(
    stacks: dict[str, Result],
    relay: Result,
    persisted: Result,
    load: tuple[float, float, float],
    round_trips: tuple[tuple[int, int], tuple[int, int]],
    floor: Result | None = None,
) -> list[tuple[str, bool, str]]:
    """The table: each stack server (daphne, and uvicorn when measured), the bare relay, the relay that
    commits each message to PostgreSQL first (the floor of persist-first) and each stack's ratios to it (the
    targets of issue 20) and to the bare relay (the older targets)."""
    columns: dict[str, Result] = {
        **{f"{name} stack ({DAPHNES} proc)": result for name, result in stacks.items()},
        "bare relay": relay,
        **({"Channels floor": floor} if floor is not None else {}),
        "relay + PG commit": persisted,
    }
    compared = {**stacks, **({"Channels floor": floor} if floor is not None else {})}

    def p(r: Result, q: float) -> float:
        return percentile(r.latencies, q)

    def row(
        name: str, pick: Callable[[Result], str], ratio_of: Callable[[Result], float] | None = None
    ) -> list[str]:
        cells = [name, *(pick(r) for r in columns.values())]
        for result in compared.values():
            cells.append(ratio(ratio_of(result), ratio_of(persisted)) if ratio_of else "")
        return cells

    header = ["metric", *columns, *(f"{name} / PG relay" for name in compared)]
    rows = [
        row("delivered msgs/s", lambda r: f"{r.rate:,.0f}", lambda r: r.rate),
        row("p50 buyer->agent", lambda r: ms(p(r, 50)), lambda r: p(r, 50)),
        row("p99 buyer->agent", lambda r: ms(p(r, 99)), lambda r: p(r, 99)),
        row("max buyer->agent", lambda r: ms(max(r.latencies, default=0))),
        row("mean buyer->agent", lambda r: ms(statistics.fmean(r.latencies or [0]))),
        row(
            "p50 / p99 buyer->ack",
            lambda r: f"{ms(percentile(r.ack_latencies, 50))} / {ms(percentile(r.ack_latencies, 99))}",
        ),
        row("lost", lambda r: str(r.lost)),
        row("duplicated", lambda r: str(r.duplicated)),
        row("RSS/connection", lambda r: f"{r.rss_per_socket_kb:,.1f} kB", lambda r: r.rss_per_socket_kb),
        row(
            "RSS before -> after",
            lambda r: f"{r.rss_before_kb / 1024:,.0f} -> {r.rss_after_kb / 1024:,.0f} MB",
        ),
        row("sent / acked / delivered", lambda r: f"{len(r.sent)} / {len(r.acked)} / {len(r.received)}"),
        row("throttled (resent)", lambda r: str(r.throttled)),
        row(f"connect {2 * PAIRS - 2} sockets", lambda r: f"{r.connect_seconds:.1f} s"),
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print()
    print(
        f"live-chat benchmark: C={PAIRS} pairs, M={MESSAGES} messages per buyer at {RATE:g}/s "
        f"(offered {PAIRS * RATE:,.0f} msgs/s), {2 * PAIRS} sockets per server; "
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    for name, res in columns.items():
        errors = dict(res.errors) or "none"
        print(f"{name}: unacked={res.unacked} misrouted={res.misrouted} other errors={errors}")
    (loop, worker), (loop_resend, worker_resend) = round_trips
    print(
        f"database round trips per buyer batch of {ROUND_TRIP_BATCH} messages, stored as a stack process "
        f"stores them: {loop} on the event loop's connection + {worker} in worker threads; with a resend "
        f"among them (declined on the loop, stored in a worker thread): {loop_resend} + {worker_resend}"
    )
    r99 = p(relay, 99)
    f50, f99 = p(persisted, 50), p(persisted, 99)
    checks = [
        ("zero lost (stacks / relays)", all(r.lost == 0 for r in columns.values()), ""),
        ("zero duplicated (stacks / relays)", all(r.duplicated == 0 for r in columns.values()), ""),
    ]
    for name, stack in stacks.items():
        tput = stack.rate / relay.rate if relay.rate else 0.0
        offered = PAIRS * RATE
        checks += [
            (
                f"{name}: delivered >= 97% of offered",
                stack.rate >= 0.97 * offered,
                f"{stack.rate / offered:.3f}",
            ),
            (
                f"{name}: p99 / relay + PG commit <= {TARGET_P99_PERSISTED:g}",
                p(stack, 99) <= TARGET_P99_PERSISTED * f99,
                ratio(p(stack, 99), f99),
            ),
            (
                f"{name}: p50 / relay + PG commit <= {TARGET_P50_PERSISTED:g}",
                p(stack, 50) <= TARGET_P50_PERSISTED * f50,
                ratio(p(stack, 50), f50),
            ),
            (
                f"{name}: throughput / bare relay >= {TARGET_THROUGHPUT}",
                tput >= TARGET_THROUGHPUT,
                f"{tput:.3f}",
            ),
            (
                f"{name}: p99 / bare relay < {TARGET_P99:g}",
                p(stack, 99) < TARGET_P99 * r99,
                ratio(p(stack, 99), r99),
            ),
        ]
    return checks


ROUND_TRIP_BATCH = 20


def round_trips_per_batch(
    pairs: Sequence[tuple[int, Buyer, StaffAccount]], tag: str
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The database round trips of one batch of ROUND_TRIP_BATCH buyer messages stored as a stack process
    stores them (``routing.consumers.store_buyer_sends`` on an event loop: on the loop's own connection, and
    on pooled connections in worker threads when the loop declines), and of the same batch again with one
    resend among new messages (``tests.roundtrips.loop_round_trips``)."""
    from routing.consumers import Send, store_buyer_sends

    def send(cid: str) -> Send:
        return Send(type="send", client_msg_id=cid, text="什么时候发货？")

    buyers = [buyer for _conv, buyer, _agent in pairs[:ROUND_TRIP_BATCH]]
    fresh = [(b, send(f"{tag}-{b.pk}")) for b in buyers]
    again = [fresh[0], *((b, send(f"{tag}2-{b.pk}")) for b in buyers[1:])]
    return loop_round_trips(lambda: store_buyer_sends(fresh)), loop_round_trips(
        lambda: store_buyer_sends(again)
    )


@pytest.mark.django_db(transaction=True)
def test_livechat_benchmark(shop_a: Shop, owner: StaffAccount) -> None:
    pairs = setup_pairs(shop_a, owner, PAIRS)
    load = os.getloadavg()  # the machine may be shared; a busy one inflates every figure
    logs = Path(tempfile.mkdtemp(prefix="bench-livechat-"))
    relay = run_relay(pairs, logs)
    persisted = run_relay(pairs, logs, persist=True)
    stacks = {"daphne": run_stack(pairs, logs)}
    if UVICORN:
        stacks["uvicorn"] = run_stack(pairs, logs, "uvicorn")
    floor = run_channels_floor(pairs, logs) if FLOOR else None
    round_trips = round_trips_per_batch(pairs, uuid.uuid4().hex[:8])

    for name, ok, value in report(stacks, relay, persisted, load, round_trips, floor):
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    print(f"server logs: {logs}")
    for result in [*stacks.values(), relay, persisted, *([floor] if floor else [])]:
        assert result.lost == 0 and result.duplicated == 0
