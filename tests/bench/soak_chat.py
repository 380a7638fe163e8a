"""Fault 8, the soak (issue 18): a daphne process (the project's ASGI app on the test database and REDIS_URL)
under SOAK_CYCLES connect/disconnect cycles (default 10,000: buyer sockets, every 10th an agent's workbench
socket, each opened until its ``hello`` and closed) spread over SOAK_SECONDS (default 600), plus steady
traffic: SOAK_PAIRS buyer/agent pairs (default 10) chatting at BACKLOG_RATE messages a second per buyer
(default 4, the clients of ``tests/faults/test_backlog.py``). Printed at the start, every SOAK_EVERY seconds
(default 60) and at the end: the server's RSS, its open file descriptors, its PostgreSQL connections
(``pg_stat_activity`` by its ``application_name``) and its Redis connections (its TCP sockets to Redis'
port). They must stay flat; the run fails if a live message was lost or a cycle failed.

Not part of the CI suite (``tests/bench`` is not collected): run it with ``make soak`` (needs
DATABASE_URL=postgres://... and REDIS_URL). A short check: ``SOAK_SECONDS=60 SOAK_CYCLES=1000 SOAK_EVERY=15``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backoffice.models import Shop, StaffAccount
from routing.tokens import buyer_token
from tests.bench.bench_livechat import open_socket, setup_pairs
from tests.conftest import login_client, requires_postgres
from tests.faults.test_backlog import agent_reads, buyer_reads, buyer_sends
from tests.live import application_name, daphne, monitor, server_connections, server_env, unique_prefix

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
CYCLES = int(os.environ.get("SOAK_CYCLES", "10000"))
PAIRS = int(os.environ.get("SOAK_PAIRS", "10"))
EVERY = float(os.environ.get("SOAK_EVERY", "60"))
CYCLERS = 20  # sockets cycling at once (each its own buyer: under the buyer's cap of 10 sockets)


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def connections_to(pid: int, port: int) -> int:
    """The process's established TCP sockets whose remote port is ``port``."""
    mine = socket_inodes(pid)
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in mine:
                count += 1
    return count


def sample(pid: int, name: str, redis_port: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    with monitor() as db:
        pg = len(server_connections(db, name))
    return {
        "rss_mib": rss_kib / 1024,
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
        "pg": pg,
        "redis": connections_to(pid, redis_port),
    }


async def cycle(host: str, url: str, headers: dict[str, str] | None) -> None:
    ws = await open_socket(f"ws://{host}{url}", f"http://{host}", headers)
    await ws.close()


async def cyclers(host: str, targets: list[tuple[str, dict[str, str] | None]], done: list[int]) -> None:
    """CYCLES connect/disconnect cycles at an even pace over SECONDS, CYCLERS at a time."""
    start = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(CYCLES):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await asyncio.sleep(max(0.0, start + n * SECONDS / CYCLES - time.perf_counter()))
            url, headers = targets[n % len(targets)]
            await cycle(host, url, headers)
            done[0] += 1

    await asyncio.gather(*(worker() for _ in range(CYCLERS)))


def test_soak(shop_a: Shop, owner: StaffAccount) -> None:
    pairs = setup_pairs(shop_a, owner, PAIRS + CYCLERS // 10)
    live, spare = pairs[:PAIRS], pairs[PAIRS:]
    cookies = {
        agent.pk: f"sessionid={login_client(agent).cookies['sessionid'].value}" for _c, _b, agent in pairs
    }
    buyers = setup_buyers(shop_a)
    targets: list[tuple[str, dict[str, str] | None]] = []
    for n, token in enumerate(buyers):
        if n % 10 == 9 and spare:
            agent = spare[n // 10 % len(spare)][2]
            targets.append(("/ws/agent/", {"Cookie": cookies[agent.pk]}))
        else:
            targets.append((f"/ws/buyer/?token={token}", None))
    prefix = unique_prefix()
    redis_port = urlsplit(os.environ["REDIS_URL"]).port or 6379
    rows: list[tuple[str, int, int, dict[str, float]]] = []

    async def run(host: str, pid: int) -> tuple[dict[str, float], dict[str, float]]:
        origin = f"http://{host}"
        sent: dict[str, float] = {}
        received: dict[str, float] = {}
        stop = asyncio.Event()
        agents = [
            await open_socket(f"ws://{host}/ws/agent/", origin, {"Cookie": cookies[a.pk]}) for *_x, a in live
        ]
        socks = [
            await open_socket(f"ws://{host}/ws/buyer/?token={buyer_token(b)}", origin) for _c, b, _a in live
        ]
        readers = [asyncio.create_task(agent_reads(ws, received)) for ws in agents]
        frames: dict[str, str] = {}
        errors: list[str] = []
        readers += [asyncio.create_task(buyer_reads(ws, frames, errors)) for ws in socks]
        senders = [
            asyncio.create_task(buyer_sends(ws, f"soakp{i}", sent, frames, stop))
            for i, ws in enumerate(socks)
        ]
        done = [0]
        rows.append(("start", 0, 0, sample(pid, application_name(prefix), redis_port)))
        print_row(rows[-1])
        cycling = asyncio.create_task(cyclers(host, targets, done))
        started = time.perf_counter()
        minute = 0
        while not cycling.done():
            await asyncio.wait([cycling], timeout=EVERY)
            if not cycling.done():
                minute += 1
                row = sample(pid, application_name(prefix), redis_port)
                rows.append((f"{minute * EVERY:.0f} s", done[0], len(received), row))
                print_row(rows[-1])
        cycling.result()
        stop.set()
        await asyncio.gather(*senders)
        deadline = time.perf_counter() + 60
        while len(received) < len(sent) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        for task in readers:
            task.cancel()
        for ws in agents + socks:
            await ws.close()
        await asyncio.sleep(2)  # the server's disconnect handlers run (they are awaited nowhere else)
        end = sample(pid, application_name(prefix), redis_port)
        rows.append((f"end {time.perf_counter() - started:.0f} s", done[0], len(received), end))
        print_row(rows[-1])
        assert not errors, errors
        return sent, received

    print(f"\nsoak: {CYCLES} connect/disconnect cycles over {SECONDS:.0f} s, {PAIRS} pairs chatting")
    print(
        f"{'at':<12}{'cycles':>8}{'messages':>10}{'RSS MiB':>9}{'fds':>6}{'PG conns':>10}{'Redis conns':>12}"
    )
    with daphne(server_env(prefix)) as (host, proc):
        sent, received = asyncio.run(run(host, proc.pid))
    assert rows[-1][1] == CYCLES
    assert set(received) == set(sent), f"{len(set(sent) - set(received))} live messages lost"


def setup_buyers(shop: Shop) -> list[str]:
    """CYCLERS x 5 buyers of their own for the cycling sockets; their tokens."""
    from tests.backoffice import factories

    return [buyer_token(factories.buyer(shop, f"soak{n}", f"买家{n}")) for n in range(CYCLERS * 5)]


def print_row(row: tuple[str, int, int, dict[str, float]]) -> None:
    at, cycles, messages, s = row
    print(
        f"{at:<12}{cycles:>8}{messages:>10}{s['rss_mib']:>9.1f}{s['fds']:>6.0f}{s['pg']:>10.0f}{s['redis']:>12.0f}"
    )
