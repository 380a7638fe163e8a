"""Quick-phrase search benchmark: suggestion latency with 5,000 phrases in a shop.

Run with ``pytest tests/bench/bench_phrases.py -s -q`` (SQLite) or with
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/phrases`` in front (PostgreSQL). Knobs: BENCH_PHRASES
(phrases the agent sees, default 5000), BENCH_REPEAT (timed calls per case, default 300).

The shop holds BENCH_PHRASES visible phrases (90% team, 10% the agent's own) plus 1,000 personal phrases of
other agents, written by the import service from generated spreadsheets (texts built from the template
library, so common words such as 发货 match hundreds of rows). 200 phrases are linked to products.

Cases, each timed server-side (the service call, which returns model instances): "/" + code prefix
lookup, plain-text suggestion, product-ranked suggestion, traditional-character search, a query matching
nothing, the searchable list (count and a page of 50) and the recently-used list. More rows: the suggest
endpoint through the whole Django stack with the test client (session, auth, ninja, JSON), and the "cold"
lookup: the first one after a phrase edit (an edit of a team phrase's text before each call, not timed),
which brings the index up to date with the rows written since; beside it the same lookup when the process
reloads the shop's whole index instead (what it did before the index updated itself, and still does after a
restart), as the reference. Targets: p99 under 10 ms for the suggestion and search cases, under 20 ms for
the cold lookup, asserted (the other rows are compared with 10 ms, not asserted); the table shows this
process's CPU time and the load average, since wall-clock times on a busy machine include waiting for a CPU.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import random
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from backoffice import services as shop_services
from backoffice.models import Product, Role, Shop, StaffAccount
from phrases import index, services
from phrases.library import SCENARIO_LABELS, TEMPLATES
from phrases.models import Phrase
from tests.bench.common import percentile
from tests.conftest import PASSWORD, login_client

N = int(os.environ.get("BENCH_PHRASES", "5000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "300"))
TARGET_MS = 10.0
COLD_TARGET_MS = 20.0
OTHERS = 1000
LINKED = 200

EXTRA_WORDS = ["亲", "宝贝", "包邮", "今天", "尽快", "放心", "谢谢", "质量", "尺码", "颜色", "赠品", "会员"]


def width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def sheet(rows: list[tuple[str, str, str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("group", "code", "content", "keywords"))
    writer.writerows(rows)
    return buffer.getvalue().encode()


def generated(count: int, start: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    rows = []
    for i in range(start, start + count):
        t = TEMPLATES[i % len(TEMPLATES)]
        extra = "".join(rng.sample(EXTRA_WORDS, 2))
        code = f"{t.code}x{i}" if i % 2 == 0 else ""
        rows.append((SCENARIO_LABELS[t.scenario], code, f"{t.content}{extra}（{i}号）", ",".join(t.keywords)))
    return rows


def agent(shop: Shop, login: str) -> StaffAccount:
    return shop_services.create_staff_account(
        shop=shop, login=login, password=PASSWORD, display_name=login, role=Role.AGENT, im_enabled=True
    )


def setup_shop(shop: Shop, owner: StaffAccount) -> tuple[StaffAccount, list[Product], dict[str, float]]:
    rng = random.Random(5)
    me = agent(shop, "bench_me")
    team_n = N * 9 // 10
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    for start in range(0, team_n, services.MAX_IMPORT_ROWS):
        rows = generated(min(services.MAX_IMPORT_ROWS, team_n - start), start, rng)
        services.import_phrases(actor=owner, scope="team", filename="team.csv", data=sheet(rows))
    timings["import team (s)"] = time.perf_counter() - t0
    services.import_phrases(
        actor=me, scope="personal", filename="me.csv", data=sheet(generated(N - team_n, team_n, rng))
    )
    for k in range(OTHERS // 100):
        other = agent(shop, f"bench_other{k}")
        rows = generated(100, N + k * 100, rng)
        services.import_phrases(actor=other, scope="personal", filename="o.csv", data=sheet(rows))

    shop_services.upsert_products(
        shop=shop,
        records=[
            {
                "platform_id": f"bp{i}",
                "title": f"商品{i}",
                "price": "9.90",
                "category": "",
                "image_url": "",
                "url": "",
            }
            for i in range(20)
        ],
    )
    products = list(Product.objects.for_shop(shop).order_by("pk"))
    visible = list(Phrase.objects.visible_to(me).order_by("pk"))
    for phrase in rng.sample(visible, LINKED):
        services.update_phrase(
            actor=owner if phrase.owner_id is None else me,
            phrase=phrase,
            content=phrase.content,
            code=phrase.code,
            keywords=phrase.keywords,
            group=phrase.group,
            products=[rng.choice(products)],
        )
    for phrase in rng.sample(visible, 30):
        services.use_phrase(staff=me, phrase=phrase)
    return me, products, timings


def timed(
    calls: Sequence[Callable[[], Any]], before: Callable[[], Any] | None = None
) -> tuple[list[float], list[float], int]:
    """Run the calls round-robin REPEAT times after a warm-up, each after ``before`` (not timed); returns
    wall-clock latencies (s), this process's CPU time per call (s; without time spent waiting for a CPU or
    for PostgreSQL) and the rows of the last call."""
    for call in calls:
        call()
    gc.collect()
    wall: list[float] = []
    cpu: list[float] = []
    rows = 0
    for i in range(REPEAT):
        call = calls[i % len(calls)]
        if before is not None:
            before()
        c0, t0 = time.process_time(), time.perf_counter()
        result = call()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        rows = len(result) if hasattr(result, "__len__") else 0
    return wall, cpu, rows


Case = tuple[str, float | None, list[Callable[[], Any]], Callable[[], Any] | None]


def benchmark_cases(me: StaffAccount, owner: StaffAccount, product_id: int) -> list[Case]:
    """(name, its asserted p99 target in ms or None, the calls it times, what runs untimed before each)."""

    def suggest(text: str, pid: int | None = None) -> Callable[[], Any]:
        return lambda: services.suggest(staff=me, text=text, product_id=pid)

    def listing(text: str) -> Callable[[], Any]:
        return lambda: services.search_page(staff=me, text=text, limit=50)[1]

    edited = Phrase.objects.visible_to(me).filter(owner=None).order_by("pk")[0]
    texts = [edited.content, edited.content + "（已改）"]

    def edit() -> None:  # the phrase's text changes back and forth
        texts.reverse()
        services.update_phrase(actor=owner, phrase=edited, content=texts[0], code=edited.code)

    def edit_and_drop() -> None:  # the reference: the process reloads the whole shop after the edit
        edit()
        index.clear()

    client: Client = login_client(me)

    def api(text: str) -> Callable[[], Any]:
        def run() -> Any:
            response = client.get("/api/v1/phrases/suggest", {"text": text})
            assert response.status_code == 200
            return response.json()

        return run

    target = TARGET_MS
    return [
        (
            "code lookup /wl, /sh1x, /gm7x4, /hd",
            target,
            [suggest(t) for t in ("/wl", "/sh1x", "/gm7x4", "/hd")],
            None,
        ),
        (
            "plain text 发货, 退款, 优惠券, 亲 快递",
            target,
            [suggest(t) for t in ("发货", "退款", "优惠券", "亲 快递")],
            None,
        ),
        (
            "product-ranked 发货, 尺码, /wl",
            target,
            [suggest(t, product_id) for t in ("发货", "尺码", "/wl")],
            None,
        ),
        ("traditional 發貨, 退貨, 優惠券", target, [suggest(t) for t in ("發貨", "退貨", "優惠券")], None),
        ("no match 不存在的话术", target, [suggest("不存在的话术")], None),
        ("list q=发货 (count + page of 50)", target, [listing("发货")], None),
        ("recently used (20)", None, [lambda: services.recent(staff=me)], None),
        ("API GET /suggest?text=发货, /wl (full stack)", None, [api("发货"), api("/wl")], None),
        ("cold: after an edit, index update + suggest 发货", COLD_TARGET_MS, [suggest("发货")], edit),
        ("cold, reference: after an edit, whole reload + 发货", None, [suggest("发货")], edit_and_drop),
    ]


@pytest.mark.django_db
def test_phrase_search_benchmark(shop_a: Shop, owner: StaffAccount) -> None:
    me, _products, timings = setup_shop(shop_a, owner)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have, so the planner knows the tables' sizes
    visible = Phrase.objects.visible_to(me).count()
    assert visible == N

    product_id = Phrase.products.through.objects.filter(phrase__in=Phrase.objects.visible_to(me)).values_list(
        "product_id", flat=True
    )[0]

    cases = benchmark_cases(me, owner, product_id)

    load_before = os.getloadavg()[0]
    results = []
    table = []
    for name, goal, calls, before in cases:
        wall, cpu, rows = timed(calls, before)
        p50, p99, top = (percentile(wall, 50) * 1000, percentile(wall, 99) * 1000, max(wall) * 1000)
        results.append((name, p99, goal))
        table.append(
            (
                name,
                f"{p50:.2f}",
                f"{p99:.2f}",
                f"{top:.2f}",
                f"{percentile(cpu, 50) * 1000:.2f}",
                f"{percentile(cpu, 99) * 1000:.2f}",
                str(rows),
                f"{goal:.0f} ms" if goal is not None else "(10 ms)",
                "PASS" if p99 < (goal or TARGET_MS) else "FAIL",
            )
        )

    header = ("case", "p50 ms", "p99 ms", "max ms", "cpu p50", "cpu p99", "rows", "target", "p99 < target")
    widths = [max(width(r[i]) for r in [header, *table]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    print()
    print(
        f"phrase search benchmark on {connection.vendor}: {visible} phrases visible to the agent "
        f"({N * 9 // 10} team + {N - N * 9 // 10} personal), {OTHERS} other agents' phrases, "
        f"{LINKED} linked to products, {REPEAT} timed calls per case"
    )
    print(f"setup: import of {N * 9 // 10} team phrases from CSV took {timings['import team (s)']:.2f} s")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} "
        "after (wall-clock times include waiting for a CPU; cpu = this process only)"
    )
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print(line(row))
    failed = [name for name, p99, goal in results if goal is not None and p99 >= goal]
    print("PASS" if not failed else f"FAIL: {', '.join(failed)}")
    assert not failed, failed
