"""Routing benchmark: N simultaneous arrivals on K agents from T threads, against the raw PostgreSQL claim
rate.

Run with ``make bench`` (or ``pytest tests/bench -s -q``; needs DATABASE_URL=postgres://...). Knobs: BENCH_N
(arrivals, default 2000), BENCH_K (agents, default 50), BENCH_T (threads, default 8).

The routing run measures decisions per second of ``request_human`` (assigned or queued), assignments per
second, and the p50/p99 decision latency. The limits add up to N/2, so half the arrivals are queued. The
reference is the raw queue-claim primitive on the same machine: T threads looping
``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING id`` in autocommit on a plain table.

Targets: routing throughput >= 0.25 x the raw claim rate (printed, not asserted), zero agents over their
limit and zero double assignments (asserted).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from backoffice import services as backoffice_services
from backoffice.models import Buyer, Role, Shop, StaffAccount
from routing.models import Conversation, ConversationState, RoutingDecision
from routing.services import load_matches_open_sessions, request_human, routing_settings, set_agent_status
from tests.conftest import PASSWORD, requires_postgres

N = int(os.environ.get("BENCH_N", "2000"))
K = int(os.environ.get("BENCH_K", "50"))
T = int(os.environ.get("BENCH_T", "8"))
TARGET_RATIO = 0.25
CLAIM_TABLE = "bench_claims"


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def run_threads(work: Callable[[int], list[float]], threads: int) -> tuple[float, list[float]]:
    """Run ``work(thread_index)`` in ``threads`` threads released together; returns (wall seconds, latencies).
    ``work`` returns the latencies (seconds) of the operations it did."""
    barrier = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            barrier.wait()
            latencies[index] = work(index)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=runner, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    assert not errors, errors[:3]
    return wall, [x for part in latencies for x in part]


# --- routing -----------------------------------------------------------------------------------------------


def setup_shop(shop: Shop, owner: StaffAccount) -> tuple[list[Buyer], dict[int, int]]:
    set_agent_status(staff=owner, status="offline")
    settings = routing_settings(shop)
    settings.no_queue = False
    settings.save(update_fields=["no_queue"])
    seats = max(K, N // 2)
    limits: dict[int, int] = {}
    for i in range(K):
        staff = backoffice_services.create_staff_account(
            shop=shop,
            login=f"bench{i}",
            password=PASSWORD,
            display_name=f"客服{i}",
            role=Role.AGENT,
            im_enabled=True,
        )
        limit = seats // K + (1 if i < seats % K else 0)
        StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=limit)
        staff.refresh_from_db()
        set_agent_status(staff=staff, status="online")
        limits[staff.pk] = limit
    records = [{"platform_id": f"bench-b{i}", "nickname": f"买家{i}"} for i in range(N + 1)]
    for start in range(0, len(records), 1000):
        backoffice_services.upsert_buyers(shop=shop, records=records[start : start + 1000])
    buyers = list(Buyer.objects.filter(shop=shop, platform_id__startswith="bench-b").order_by("pk"))
    return buyers, limits


def bench_routing(buyers: list[Buyer]) -> tuple[float, list[float]]:
    slices = [buyers[i::T] for i in range(T)]

    def work(index: int) -> list[float]:
        out: list[float] = []
        for buyer in slices[index]:
            t0 = time.perf_counter()
            request_human(buyer=buyer)
            out.append(time.perf_counter() - t0)
        return out

    return run_threads(work, T)


def check_routing(shop: Shop, limits: dict[int, int]) -> dict[str, Any]:
    active = dict(
        Conversation.objects.filter(shop=shop, state=ConversationState.ACTIVE)
        .values_list("agent_id")
        .annotate(n=Count("pk"))
        .values_list("agent_id", "n")
    )
    over_limit = sum(1 for agent_id, n in active.items() if n > limits.get(agent_id, 0))
    open_per_buyer = Counter(
        Conversation.objects.filter(shop=shop)
        .exclude(state=ConversationState.ENDED)
        .values_list("buyer_id", flat=True)
    )
    buyers_twice = sum(1 for n in open_per_buyer.values() if n > 1)
    assigned_per_conv = Counter(
        RoutingDecision.objects.filter(conversation__shop=shop, outcome="assigned").values_list(
            "conversation_id", flat=True
        )
    )
    convs_twice = sum(1 for n in assigned_per_conv.values() if n > 1)
    states = Counter(Conversation.objects.filter(shop=shop).values_list("state", flat=True))
    return {
        "assigned": states.get(ConversationState.ACTIVE, 0),
        "queued": states.get(ConversationState.QUEUED, 0),
        "other": sum(n for s, n in states.items() if s not in (ConversationState.ACTIVE, "queued")),
        "over_limit": over_limit,
        "double_assign": buyers_twice + convs_twice,
        "load_mismatch": len(load_matches_open_sessions(shop)),
    }


def profile_one(buyer: Buyer) -> Counter[str]:
    """Queries issued by one request_human (queue already non-empty: every agent is full)."""
    with CaptureQueriesContext(connection) as ctx:
        request_human(buyer=buyer)
    kinds: Counter[str] = Counter()
    for q in ctx.captured_queries:
        sql = q["sql"].lstrip().upper()
        kind = sql.split(None, 1)[0] if sql else "?"
        if kind == "SELECT" and "FOR UPDATE" in sql:
            kind = "SELECT FOR UPDATE"
        kinds[kind] += 1
    return kinds


# --- raw claim ---------------------------------------------------------------------------------------------


def dsn_kwargs() -> dict[str, Any]:
    s = connection.settings_dict
    kwargs: dict[str, Any] = {"dbname": s["NAME"], "user": s.get("USER") or None, "autocommit": True}
    for key, name in (("HOST", "host"), ("PORT", "port"), ("PASSWORD", "password")):
        if s.get(key):
            kwargs[name] = s[key]
    return {k: v for k, v in kwargs.items() if v is not None}


def bench_raw_claims() -> tuple[float, list[float], int, int]:
    """Returns (wall seconds, per-claim latencies, rows claimed, duplicate claims)."""
    with psycopg.connect(**dsn_kwargs()) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {CLAIM_TABLE}")
        conn.execute(f"CREATE UNLOGGED TABLE {CLAIM_TABLE} (id serial PRIMARY KEY, claimed bool NOT NULL)")
        fill = f"INSERT INTO {CLAIM_TABLE} (claimed) SELECT false FROM generate_series(1, %s)"  # noqa: S608
        conn.execute(fill, (N,))
        conn.execute(f"ANALYZE {CLAIM_TABLE}")
    claimed: list[list[int]] = [[] for _ in range(T)]
    sql = (
        f"UPDATE {CLAIM_TABLE} SET claimed = true WHERE id = (SELECT id FROM {CLAIM_TABLE} WHERE NOT claimed "  # noqa: S608
        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
    )
    conns = [psycopg.connect(**dsn_kwargs()) for _ in range(T)]

    def work(index: int) -> list[float]:
        out: list[float] = []
        cur = conns[index].cursor()
        while True:
            t0 = time.perf_counter()
            row = cur.execute(sql).fetchone()
            if row is None:
                return out
            out.append(time.perf_counter() - t0)
            claimed[index].append(row[0])

    try:
        wall, latencies = run_threads(work, T)
    finally:
        for c in conns:
            c.close()
        with psycopg.connect(**dsn_kwargs()) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {CLAIM_TABLE}")
    ids = [i for part in claimed for i in part]
    return wall, latencies, len(set(ids)), len(ids) - len(set(ids))


# --- report ------------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_routing_benchmark(shop_a: Shop, owner: StaffAccount) -> None:
    buyers, limits = setup_shop(shop_a, owner)
    extra = buyers.pop()  # profiled alone after the run

    route_wall, route_lat = bench_routing(buyers)
    result = check_routing(shop_a, limits)
    queries = profile_one(extra)
    raw_wall, raw_lat, raw_claimed, raw_dupes = bench_raw_claims()

    decisions_per_s = len(buyers) / route_wall
    assigned_per_s = result["assigned"] / route_wall
    claims_per_s = raw_claimed / raw_wall
    ratio = decisions_per_s / claims_per_s
    p50, p99 = percentile(route_lat, 50), percentile(route_lat, 99)
    raw_p50, raw_p99 = percentile(raw_lat, 50), percentile(raw_lat, 99)

    rows = [
        (
            "throughput (decisions or claims /s)",
            f"{decisions_per_s:,.0f}",
            f"{claims_per_s:,.0f}",
            f"{ratio:.3f}",
        ),
        (
            "assignments /s",
            f"{assigned_per_s:,.0f}",
            f"{claims_per_s:,.0f}",
            f"{assigned_per_s / claims_per_s:.3f}",
        ),
        ("p50 latency", ms(p50), ms(raw_p50), f"{p50 / raw_p50:.1f}x"),
        ("p99 latency", ms(p99), ms(raw_p99), f"{p99 / raw_p99:.1f}x"),
        ("mean latency", ms(statistics.fmean(route_lat)), ms(statistics.fmean(raw_lat)), ""),
        ("wall time", f"{route_wall:.2f} s", f"{raw_wall:.2f} s", ""),
        ("ops", f"{len(buyers)}", f"{raw_claimed}", ""),
    ]
    widths = [max(len(r[i]) for r in [("metric", "routing", "raw claim", "ratio"), *rows]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print()
    print(
        f"routing benchmark: N={len(buyers)} arrivals, K={K} agents, T={T} threads, "
        f"seats={sum(limits.values())}"
    )
    print(line(("metric", "routing", "raw claim", "ratio")))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print(
        f"outcome: assigned={result['assigned']} queued={result['queued']} other={result['other']} "
        f"load mismatches={result['load_mismatch']} raw duplicate claims={raw_dupes}"
    )
    print(f"queries per request_human (queued case): {sum(queries.values())} {dict(queries)}")
    checks = [
        (f"throughput ratio >= {TARGET_RATIO}", ratio >= TARGET_RATIO, f"{ratio:.3f}"),
        ("zero agents over their limit", result["over_limit"] == 0, str(result["over_limit"])),
        ("zero double assignments", result["double_assign"] == 0, str(result["double_assign"])),
    ]
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")

    assert result["over_limit"] == 0
    assert result["double_assign"] == 0
    assert result["load_mismatch"] == 0
    assert raw_dupes == 0 and raw_claimed == N
