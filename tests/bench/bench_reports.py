"""Reports benchmark: the 30-day KPI page of one large shop, as a supervisor gets it, against a hand-written
SQL aggregate over the raw tables for the same figures, in the same run; and the rollup job's cost per day.

Run on PostgreSQL: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench pytest tests/bench/bench_reports.py
-s -q -p no:cacheprovider``. Knobs: BENCH_SESSIONS (default 100,000), BENCH_MESSAGES (default 1,000,000),
BENCH_DAYS (days of history, default 90), BENCH_AGENTS (default 20), BENCH_REPEAT (timed page requests,
default 5).

The shop's data is written with set-based SQL (``generate_series``): BENCH_SESSIONS ended sessions spread
over BENCH_DAYS days up to now, 10% robot-only, the rest with an agent, each with BENCH_MESSAGES /
BENCH_SESSIONS messages (buyer and agent or robot in turn), a reply delay per agent message (10-400 s), a
routing decision, a rating for half, a transfer for one in twenty, a rating invitation for one in four, and
two status changes per agent and day. Then:
1. the rollup job (``reports.rollups.roll_up``) brings every past day up to date; its time per day;
2. the raw aggregate: one hand-written SQL statement per figure family over the raw tables for the 30
   days (sessions, messages, reply delays, ratings, transfers, decisions);
3. the KPI page ``/reports/?from=..&to=..`` through the Django test client (session, middleware, rights,
   rollups of the complete days plus today's part computed live, template), median of BENCH_REPEAT;
4. the live part at its largest: yesterday (a whole day) computed from the raw tables, what today's part
   of the page costs just before midnight;
and asserts that the page's figures (``rollups.facts_between``) equal the raw aggregate's. Targets: the page
under 500 ms and at most half the raw aggregate's time (printed, not asserted: the machine is shared).
BENCH_PROFILE=1 also prints cProfile of one page request and of the whole day computed live, with their
slowest statements and the plans of the three slowest.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from backoffice.models import Shop, StaffAccount
from reports import kpis, rollups
from reports.models import RollupDay
from routing.models import (
    AgentState,
    AgentStatusChange,
    Conversation,
    Message,
    Rating,
    ReplyDelay,
    RoutingDecision,
    Transfer,
)
from tests.backoffice import factories
from tests.conftest import is_postgres, login_client

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "100000"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "1000000"))
DAYS = int(os.environ.get("BENCH_DAYS", "90"))
AGENTS = int(os.environ.get("BENCH_AGENTS", "20"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
PAGE_TARGET_MS = 500.0

pytestmark = [
    pytest.mark.skipif(not is_postgres(), reason="the reports benchmark runs on PostgreSQL (DATABASE_URL)"),
    pytest.mark.django_db(transaction=True),
]


def table(model: Any) -> str:
    return str(model._meta.db_table)


def sql(template: str) -> str:
    """A statement with the tables' names filled in (from the models; the values are parameters)."""
    names = {
        "conv": Conversation,
        "msg": Message,
        "rd": ReplyDelay,
        "dec": RoutingDecision,
        "rating": Rating,
        "tr": Transfer,
        "status": AgentStatusChange,
    }
    return template.format(**{key: table(model) for key, model in names.items()})


def build(shop: Shop, agents: list[StaffAccount], buyers: list[int]) -> None:
    """The shop's history, set-based (see the module docstring)."""
    per = max(2, MESSAGES // SESSIONS)
    now = timezone.now()
    span = DAYS * 86400
    with connection.cursor() as cur:
        cur.execute(
            sql("""
            INSERT INTO {conv} (shop_id, buyer_id, state, agent_id, priority, intent,
                handoff_reason, proactive, created_at, queued_at, assigned_at, ended_at, end_reason,
                last_buyer_message_at, first_response_seconds, last_seq)
            SELECT %(shop)s, (%(buyers)s::bigint[])[1 + i %% %(nb)s], 'ended',
                CASE WHEN i %% 10 = 0 THEN NULL ELSE (%(agents)s::bigint[])[1 + i %% %(na)s] END,
                false, '', CASE WHEN i %% 10 = 0 THEN '' ELSE 'buyer_asked' END, false,
                t, CASE WHEN i %% 3 = 0 THEN t END,
                CASE WHEN i %% 10 = 0 THEN NULL WHEN i %% 3 = 0 THEN t + interval '40 seconds' ELSE t END,
                t + make_interval(secs => %(per)s * 30 + 60),
                CASE i %% 3 WHEN 0 THEN 'agent' WHEN 1 THEN 'buyer' ELSE 'auto' END,
                t + make_interval(secs => %(per)s * 30), NULL, %(per)s
            FROM (SELECT i, %(now)s::timestamptz - make_interval(secs => (i * 7919 %% %(span)s)) AS t
                  FROM generate_series(1, %(n)s) AS i) s
            """),
            {
                "shop": shop.pk,
                "buyers": buyers,
                "nb": len(buyers),
                "agents": [a.pk for a in agents],
                "na": len(agents),
                "per": per,
                "now": now,
                "span": span,
                "n": SESSIONS,
            },
        )
        cur.execute(
            sql("""
            INSERT INTO {msg} (conversation_id, shop_id, seq, sender, agent_id, text, client_msg_id,
                created_at)
            SELECT c.id, c.shop_id, g.seq,
                CASE WHEN g.seq %% 2 = 1 THEN 'buyer' WHEN c.agent_id IS NULL THEN 'robot' ELSE 'agent' END,
                CASE WHEN g.seq %% 2 = 0 THEN c.agent_id END,
                CASE WHEN g.seq %% 2 = 1 THEN '亲，这个什么时候发货' ELSE '您好，今天就发' END, '',
                c.created_at + make_interval(secs => g.seq * 30)
            FROM {conv} c CROSS JOIN generate_series(1, %(per)s) AS g(seq) WHERE c.shop_id = %(shop)s
            """),
            {"per": per, "shop": shop.pk},
        )
        cur.execute(
            sql("""
            INSERT INTO {rd} (conversation_id, agent_id, waited_from, replied_at, seconds, is_first)
            SELECT m.conversation_id, m.agent_id, m.created_at - make_interval(secs => s.sec), m.created_at,
                s.sec, m.seq = 2
            FROM {msg} m
            CROSS JOIN LATERAL (SELECT (10 + (m.id * 37) %% 391)::float AS sec) s
            WHERE m.shop_id = %(shop)s AND m.sender = 'agent'
            """),
            {"shop": shop.pk},
        )
        cur.execute(
            sql("""
            INSERT INTO {dec} (conversation_id, created_at, rule, outcome, winner_id, candidates,
                note)
            SELECT id, assigned_at, 'simple_mode/idle_ratio', 'assigned', agent_id, '[]', ''
            FROM {conv} WHERE shop_id = %(shop)s AND agent_id IS NOT NULL
            """),
            {"shop": shop.pk},
        )
        cur.execute(
            sql("""
            INSERT INTO {rating} (conversation_id, agent_id, stars, updated_at)
            SELECT id, agent_id, 1 + (id * 13) %% 5, ended_at FROM {conv}
            WHERE shop_id = %(shop)s AND agent_id IS NOT NULL AND id %% 2 = 0
            """),
            {"shop": shop.pk},
        )
        cur.execute(
            sql("""
            INSERT INTO {tr} (conversation_id, from_agent_id, to_agent_id, by_id, note, forced,
                created_at)
            SELECT id, %(first)s, agent_id, %(first)s, '', false, assigned_at FROM {conv}
            WHERE shop_id = %(shop)s AND agent_id IS NOT NULL AND agent_id <> %(first)s AND id %% 21 = 0
            """),
            {"shop": shop.pk, "first": agents[0].pk},
        )
        cur.execute(
            sql("""
            INSERT INTO {msg} (conversation_id, shop_id, seq, sender, agent_id, text, card,
                client_msg_id, created_at)
            SELECT id, shop_id, last_seq + 1, 'system', agent_id, '请评价', '{{"kind": "rating_invite"}}', '',
                ended_at - interval '30 seconds'
            FROM {conv} WHERE shop_id = %(shop)s AND agent_id IS NOT NULL AND id %% 4 = 0
            """),
            {"shop": shop.pk},
        )
        cur.execute(
            sql("""
            INSERT INTO {status} (staff_id, shop_id, status, at)
            SELECT a, %(shop)s, s.status, date_trunc('day', %(now)s::timestamptz) - make_interval(days => d)
                + s.off
            FROM unnest(%(agents)s::bigint[]) AS a, generate_series(0, %(days)s) AS d,
                (VALUES ('online', interval '1 hour'), ('offline', interval '13 hours')) AS s(status, off)
            """),
            {"shop": shop.pk, "agents": [a.pk for a in agents], "days": DAYS, "now": now},
        )
        cur.execute("ANALYZE")


RAW_SQL = """
WITH s AS (
  SELECT id, agent_id FROM {conv}
  WHERE shop_id = %(shop)s AND created_at >= %(start)s AND created_at < %(end)s
)
SELECT
  (SELECT count(*) FROM s WHERE EXISTS (SELECT 1 FROM {msg} m WHERE m.conversation_id = s.id
     AND m.sender = 'buyer')) AS consultations,
  (SELECT count(*) FROM s WHERE EXISTS (SELECT 1 FROM {msg} m WHERE m.conversation_id = s.id
     AND m.sender = 'robot')) AS robot_sessions,
  (SELECT count(*) FROM s WHERE agent_id IS NOT NULL) AS human_sessions,
  (SELECT count(*) FROM {rd} r JOIN s ON s.id = r.conversation_id) AS rounds,
  (SELECT count(*) FROM {rd} r JOIN s ON s.id = r.conversation_id WHERE r.seconds <= 180) AS within_3m,
  (SELECT coalesce(sum(r.seconds), 0) FROM {rd} r JOIN s ON s.id = r.conversation_id) AS reply_seconds,
  (SELECT count(*) FROM {rating} x JOIN s ON s.id = x.conversation_id) AS ratings,
  (SELECT count(*) FROM {rating} x JOIN s ON s.id = x.conversation_id WHERE x.stars >= 4) AS satisfied,
  (SELECT count(*) FROM {tr} t JOIN s ON s.id = t.conversation_id) AS transfers,
  (SELECT count(*) FROM {dec} d JOIN s ON s.id = d.conversation_id
     WHERE d.outcome = 'assigned' AND d.winner_id IS NOT NULL) AS receptions
"""


def raw_figures(shop: Shop, start: Any, end: Any) -> dict[str, float]:
    with connection.cursor() as cur:
        cur.execute(sql(RAW_SQL), {"shop": shop.pk, "start": start, "end": end})
        names = [c.name for c in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))


def profile(what: Any) -> None:
    """BENCH_PROFILE=1: where ``what()`` spends its time (cProfile, top 25 by cumulative time), and its
    slowest SQL statements with their times."""
    import cProfile
    import pstats

    from django.test.utils import CaptureQueriesContext

    profiler = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        profiler.enable()
        what()
        profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))
    for query in slowest[:10]:
        print(f"{float(query['time']) * 1000:8.1f} ms  {query['sql'][:400]}")
    with connection.cursor() as cur:
        for query in slowest[:3]:
            cur.execute("EXPLAIN ANALYZE " + query["sql"])
            print("\n".join(row[0] for row in cur.fetchall()))


def test_kpi_page_against_the_raw_aggregate(shop_a: Shop, owner: StaffAccount) -> None:
    agents = [factories.staff(shop_a, f"bench{i}", f"客服{i:02d}") for i in range(AGENTS)]
    for agent in agents:
        AgentState.objects.get_or_create(staff=agent, shop=shop_a)
    buyers = [factories.buyer(shop_a, f"bb{i}", f"买家{i}").pk for i in range(200)]
    started = time.perf_counter()
    build(shop_a, agents, buyers)
    built = time.perf_counter() - started

    started = time.perf_counter()
    days = 0
    while done := rollups.roll_up(batch=50):
        days += done
    rollup_seconds = time.perf_counter() - started

    today = rollups.today(shop_a)
    first = today - timedelta(days=29)
    start, end = kpis.day_bounds(shop_a, first, today)
    raw_times = []
    for _ in range(max(1, REPEAT // 2)):
        t0 = time.perf_counter()
        raw = raw_figures(shop_a, start, end)
        raw_times.append(time.perf_counter() - t0)

    client = login_client(owner)
    url = f"/reports/?from={first}&to={today}"
    client.get(url)  # warm: templates, translations
    page_times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        response = client.get(url)
        page_times.append(time.perf_counter() - t0)
        assert response.status_code == 200

    yesterday = today - timedelta(days=1)
    live_times = []
    for _ in range(max(1, REPEAT // 2)):
        t0 = time.perf_counter()
        kpis.raw_facts(shop_a, yesterday, yesterday)
        live_times.append(time.perf_counter() - t0)
    if os.environ.get("BENCH_PROFILE"):
        profile(lambda: client.get(url))
        profile(lambda: kpis.raw_facts(shop_a, yesterday, yesterday))
    got = kpis.total(rollups.facts_between(shop_a, first, today).values())
    mine = {
        "consultations": got.consultations,
        "robot_sessions": got.robot_sessions,
        "human_sessions": got.human_sessions,
        "rounds": got.rounds,
        "within_3m": got.rounds_within_3m,
        "reply_seconds": round(got.reply_seconds, 3),
        "ratings": got.ratings,
        "satisfied": got.satisfied,
        "transfers": got.transfers,
        "receptions": got.receptions,
    }
    theirs = {k: (round(float(v), 3) if k == "reply_seconds" else int(v)) for k, v in raw.items()}
    page_ms = statistics.median(page_times) * 1000
    raw_ms = statistics.median(raw_times) * 1000
    rolled = RollupDay.objects.filter(shop=shop_a).count()
    print()
    print(
        f"reports benchmark: {SESSIONS:,} sessions, {Message.objects.count():,} messages, {DAYS} days, "
        f"{AGENTS} agents; built in {built:.1f} s; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'what':<46}{'time':>12}")
    print(f"{'rollup job, all ' + str(days) + ' past days':<46}{rollup_seconds:>10.2f} s")
    print(f"{'rollup job, per day of data':<46}{rollup_seconds / max(days, 1) * 1000:>9.1f} ms")
    print(f"{'raw SQL aggregate, 30 days (median)':<46}{raw_ms:>9.1f} ms")
    print(f"{'KPI page, 30 days, whole HTTP request (median)':<46}{page_ms:>9.1f} ms")
    live_ms = statistics.median(live_times) * 1000
    print(f"{'live part at its largest: one whole day (median)':<46}{live_ms:>9.1f} ms")
    print(f"{'page / raw':<46}{page_ms / raw_ms:>11.2f}x")
    print(
        f"targets: page < {PAGE_TARGET_MS:.0f} ms: {'met' if page_ms < PAGE_TARGET_MS else 'NOT met'}; "
        f"page <= raw / 2: {'met' if page_ms <= raw_ms / 2 else 'NOT met'}; rolled-up days {rolled}"
    )
    print(f"figures (page = raw): {mine}")
    assert mine == theirs
