"""Routing benchmark: a burst of N arrivals on K agents, routed by T concurrent routers, against the raw
PostgreSQL claim rate measured in the same run.

Run with ``make bench`` (or ``pytest tests/bench/bench_routing.py -s -q``; needs DATABASE_URL=postgres://...).
Knobs: BENCH_N (arrivals, default 2000), BENCH_K (agents, default 50), BENCH_T (threads, default 8).

Three measurements, same N and T:
- burst: N arrivals are recorded at once (the rows ``request_human`` writes, state "routing"), then T threads
  call ``route_pending`` together: the routing engine's decisions per second. Decision latency is the time
  from the router picking a batch to its commit; burst latency is from the burst's start to the commit.
- raw claim: N rows of a plain table claimed by T threads with
  ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING id`` in autocommit. Claim latency is
  one statement; burst latency is from the start to the claim. The burst/raw ratio is the figure.
- end to end: N/4 buyers of a second shop call ``request_human`` from T threads (arrival, routing by
  whichever caller holds the shop's turn, result read back), with its latency per call.

The limits add up to N/2, so half of each burst is queued. Targets: burst throughput >= 0.25 x the raw
claim rate (printed, not asserted), zero agents over their limit and zero double assignments (asserted).
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
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice import services as backoffice_services
from backoffice.models import Buyer, Role, Shop, StaffAccount
from routing import services
from routing.models import Conversation, ConversationState, RoutingDecision
from routing.services import arrivals, load_matches_open_sessions, routing_settings, set_agent_status
from tests.bench.common import percentile
from tests.conftest import PASSWORD, requires_postgres

N = int(os.environ.get("BENCH_N", "2000"))
K = int(os.environ.get("BENCH_K", "50"))
T = int(os.environ.get("BENCH_T", "8"))
TARGET_RATIO = 0.25
CLAIM_TABLE = "bench_claims"
Timing = tuple[float, float]  # (latency, seconds from the burst start to done)


def run_threads(work: Callable[[int], list[tuple[float, float]]], threads: int) -> tuple[float, list[Timing]]:
    """Run ``work(thread_index)`` in ``threads`` threads released together. ``work`` returns (latency, done
    at) pairs from perf_counter; returns the wall time and (latency, seconds from the start to done)."""
    barrier = threading.Barrier(threads + 1)
    results: list[list[tuple[float, float]]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
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
    return wall, [(lat, done - started) for part in results for lat, done in part]


# --- routing -----------------------------------------------------------------------------------------------


def setup_shop(shop: Shop, owner: StaffAccount, n: int) -> tuple[list[Buyer], dict[int, int]]:
    """K online agents whose limits add up to n/2, and n buyers (plus one spare)."""
    set_agent_status(staff=owner, status="offline")
    settings = routing_settings(shop)
    settings.no_queue = False
    settings.save(update_fields=["no_queue"])
    seats = max(K, n // 2)
    limits: dict[int, int] = {}
    for i in range(K):
        staff = backoffice_services.create_staff_account(
            shop=shop,
            login=f"bench{shop.pk}-{i}",
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
    records = [{"platform_id": f"bench-b{i}", "nickname": f"买家{i}"} for i in range(n + 1)]
    for start in range(0, len(records), 1000):
        backoffice_services.upsert_buyers(shop=shop, records=records[start : start + 1000])
    buyers = list(Buyer.objects.filter(shop=shop, platform_id__startswith="bench-b").order_by("pk"))
    return buyers, limits


def bench_burst(
    shop: Shop, buyers: list[Buyer], monkeypatch: pytest.MonkeyPatch
) -> tuple[float, list[Timing]]:
    """Record N arrivals at once, then T routers drain them; each decision's timing comes from its batch."""
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(shop=shop, buyer=b, state=ConversationState.ROUTING, last_buyer_message_at=now)
        for b in buyers
    )
    batches: list[tuple[float, float, int]] = []
    original = arrivals.route_batch

    def timed(shop_id: int, settings: Any, convs: list[Conversation]) -> Any:
        t0 = time.perf_counter()
        result = original(shop_id, settings, convs)
        transaction.on_commit(
            lambda: batches.append((time.perf_counter() - t0, time.perf_counter(), len(convs)))
        )
        return result

    monkeypatch.setattr(arrivals, "route_batch", timed)

    def work(index: int) -> list[tuple[float, float]]:
        services.route_pending(shop_id=shop.pk)
        return []

    wall, _none = run_threads(work, T)
    monkeypatch.undo()
    started = (
        max(done for _lat, done, _n in batches) - wall
    )  # the burst started when the threads were released
    return wall, [(lat, done - started) for lat, done, n in batches for _ in range(n)]


def bench_end_to_end(buyers: list[Buyer]) -> tuple[float, list[Timing]]:
    slices = [buyers[i::T] for i in range(T)]

    def work(index: int) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for buyer in slices[index]:
            t0 = time.perf_counter()
            services.request_human(buyer=buyer)
            out.append((time.perf_counter() - t0, time.perf_counter()))
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
        services.request_human(buyer=buyer)
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


def bench_raw_claims() -> tuple[float, list[Timing], int, int]:
    """Returns (wall seconds, per-claim timings, rows claimed, duplicate claims)."""
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

    def work(index: int) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        cur = conns[index].cursor()
        while True:
            t0 = time.perf_counter()
            row = cur.execute(sql).fetchone()
            if row is None:
                return out
            done = time.perf_counter()
            out.append((done - t0, done))
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


def lat(timings: list[Timing], pct: float, burst: bool = False) -> float:
    return percentile([t[1] if burst else t[0] for t in timings], pct)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_routing_benchmark(
    shop_a: Shop, owner: StaffAccount, shop_b: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    buyers, limits = setup_shop(shop_a, owner, N)
    burst_wall, burst = bench_burst(shop_a, buyers, monkeypatch)
    result = check_routing(shop_a, limits)

    e2e_buyers, e2e_limits = setup_shop(
        shop_b, StaffAccount.objects.get(shop=shop_b, role=Role.OWNER), N // 4
    )
    extra = e2e_buyers.pop()  # profiled alone after the run
    e2e_wall, e2e = bench_end_to_end(e2e_buyers)
    e2e_result = check_routing(shop_b, e2e_limits)
    queries = profile_one(extra)

    raw_wall, raw, raw_claimed, raw_dupes = bench_raw_claims()

    burst_rate, raw_rate = len(buyers) / burst_wall, raw_claimed / raw_wall
    e2e_rate = len(e2e_buyers) / e2e_wall
    ratio = burst_rate / raw_rate

    def mean(timings: list[Timing]) -> str:
        return ms(statistics.fmean(t[0] for t in timings))

    def burst_ratio(pct: float) -> str:
        return f"{lat(burst, pct, True) / lat(raw, pct, True):.1f}x"

    header = ("metric", "routing burst", "raw claim", "burst/raw", "request_human e2e")
    rows = [
        (
            "decisions or claims /s",
            f"{burst_rate:,.0f}",
            f"{raw_rate:,.0f}",
            f"{ratio:.3f}",
            f"{e2e_rate:,.0f}",
        ),
        (
            "assignments /s",
            f"{result['assigned'] / burst_wall:,.0f}",
            "",
            "",
            f"{e2e_result['assigned'] / e2e_wall:,.0f}",
        ),
        ("p50 decision / claim / call", ms(lat(burst, 50)), ms(lat(raw, 50)), "", ms(lat(e2e, 50))),
        ("p99 decision / claim / call", ms(lat(burst, 99)), ms(lat(raw, 99)), "", ms(lat(e2e, 99))),
        ("p50 from burst start", ms(lat(burst, 50, True)), ms(lat(raw, 50, True)), burst_ratio(50), ""),
        ("p99 from burst start", ms(lat(burst, 99, True)), ms(lat(raw, 99, True)), burst_ratio(99), ""),
        ("mean decision / claim / call", mean(burst), mean(raw), "", mean(e2e)),
        ("wall time", f"{burst_wall:.2f} s", f"{raw_wall:.2f} s", "", f"{e2e_wall:.2f} s"),
        ("ops", f"{len(buyers)}", f"{raw_claimed}", "", f"{len(e2e_buyers)}"),
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print()
    seats = sum(limits.values())
    print(f"routing benchmark: N={len(buyers)} arrivals, K={K} agents, T={T} threads, seats={seats}")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    for name, res in (("burst", result), ("end to end", e2e_result)):
        print(
            f"{name}: assigned={res['assigned']} queued={res['queued']} other={res['other']} "
            f"over limit={res['over_limit']} double assigned={res['double_assign']} "
            f"load mismatches={res['load_mismatch']}"
        )
    print(f"raw duplicate claims={raw_dupes}")
    print(f"queries per request_human (queued case, alone): {sum(queries.values())} {dict(queries)}")
    over = result["over_limit"] + e2e_result["over_limit"]
    double = result["double_assign"] + e2e_result["double_assign"]
    checks = [
        (f"burst throughput ratio >= {TARGET_RATIO}", ratio >= TARGET_RATIO, f"{ratio:.3f}"),
        ("zero agents over their limit", over == 0, str(over)),
        ("zero double assignments", double == 0, str(double)),
    ]
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")

    for res in (result, e2e_result):
        assert res["over_limit"] == 0
        assert res["double_assign"] == 0
        assert res["load_mismatch"] == 0
        assert res["assigned"] == sum(limits.values() if res is result else e2e_limits.values())
    assert raw_dupes == 0 and raw_claimed == N
