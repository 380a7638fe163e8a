"""Robot matching benchmark: one buyer message against a knowledge base of 5,000 entries.

Run with ``pytest tests/bench/bench_robot.py -s -q -p no:cacheprovider`` (SQLite), or with
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/robot`` in front (PostgreSQL). Knobs: BENCH_ENTRIES
(default 5000), BENCH_REPEAT (timed messages per case, default 300).

The shop holds the built-in set plus BENCH_ENTRIES entries loaded by the import service from a generated
spreadsheet: 500 products x 10 questions about them (材质, 尺码, 发货, 保修, ...), each with three similar
questions, a tenth of them scoped to a product. The messages are the held-out questions
(``tests/robot/heldout.csv``) and generated ones about the entries, in a fixed random order.

Rows, each timed in-process:
- ``rank``: ``robot.matching.rank`` on the warm index (features, BM25, classifier, calibration);
- ``match``: ``robot.matching.match``, what reception calls: the same plus the threshold read and the
  candidates' rows (two queries);
- ``rank, from the product page``: with the buyer's product (scoped entries preferred);
- ``full scan``: the plain way over the same entries in the same run: every question's features compared
  with the message's (the sum of the shared features' weights), best question per entry, no index;
- ``first match after an edit``: the whole index rebuilt (features of every question, BM25 matrix,
  classifier training), what one knowledge-base write costs the next match of each process (timed a few
  times only).
Target: p99 under 10 ms for ``rank`` and ``match``, asserted on the call's CPU time (the wall-clock p50
and p99 are printed beside it with the load average: on a busy shared machine the wall clock includes the
time waiting for a CPU).
"""

from __future__ import annotations

import csv
import io
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from backoffice import services as shop_services
from backoffice.models import Product, Role, StaffAccount
from robot import evaluation, knowledge, matching, spreadsheet
from tests.bench.common import percentile
from tests.conftest import PASSWORD

N = int(os.environ.get("BENCH_ENTRIES", "5000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "300"))
TARGET_MS = 10.0
PRODUCTS = max(1, N // 10)

NOUNS = ["保温杯", "羽绒服", "运动鞋", "电饭煲", "蓝牙耳机", "面霜", "台灯", "双肩包", "牛仔裤", "收纳箱"]
ADJECTIVES = ["经典款", "新款", "加厚", "迷你", "大容量", "轻薄", "复古", "升级版", "儿童", "家用"]
ASPECTS = [
    ("是什么材质的", ("用的什么料子", "材料是啥", "面料成分"), "product_question"),
    ("尺码怎么选", ("穿多大码", "选哪个尺寸", "偏大还是偏小"), "size_spec"),
    ("多久能发货", ("什么时候发", "今天能寄吗", "几天发出"), "urge_shipping"),
    ("保修多久", ("有没有质保", "坏了能修吗", "售后保修"), "product_question"),
    ("怎么清洗", ("能水洗吗", "怎么保养", "可以机洗吗"), "product_question"),
    ("有什么颜色", ("几种颜色", "有黑色吗", "颜色可选吗"), "size_spec"),
    ("能便宜点吗", ("有优惠吗", "有券吗", "打折吗"), "coupon"),
    ("可以退换吗", ("不合适能退吗", "能换货吗", "七天无理由吗"), "return_exchange"),
    ("能开发票吗", ("开票吗", "有发票吗", "专票能开吗"), "invoice"),
    ("发什么快递", ("用哪家快递", "能发顺丰吗", "快递几天到"), "logistics"),
]


def product_name(n: int) -> str:
    return f"{ADJECTIVES[n % 10]}{NOUNS[(n // 10) % 10]}{n // 100 + 1}号"


def generated_file() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(spreadsheet.COLUMNS)
    for n in range(N):
        product, (question, similar, intent) = n // 10, ASPECTS[n % 10]
        name = product_name(product)
        scope = f"SKU-{product}" if n % 10 == 0 else ""
        writer.writerow(
            [
                f"{name}{question}",
                "\n".join(f"{name}{s}" for s in similar),
                f"{name}：请看商品详情页第{n % 7 + 1}张图。",
                intent,
                scope,
                "",
                "",
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def messages() -> list[str]:
    rng = random.Random(15)
    held = [q for q, _ in evaluation.read_rows(Path("tests/robot/heldout.csv").read_bytes())]
    made = [
        f"{product_name(rng.randrange(PRODUCTS))}{rng.choice(ASPECTS)[1][rng.randrange(3)]}呀"
        for _ in range(REPEAT)
    ]
    mixed = held + made
    rng.shuffle(mixed)
    return mixed[:REPEAT]


def timed(call: Callable[[str], Any], texts: Sequence[str]) -> tuple[list[float], list[float]]:
    """Wall-clock and process-CPU milliseconds per call."""
    laps: list[float] = []
    cpu: list[float] = []
    for text in texts:
        start, start_cpu = time.perf_counter(), time.process_time()
        call(text)
        laps.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return laps, cpu


def full_scan(index_texts: Sequence[tuple[int, list[Any]]]) -> Callable[[str], list[int]]:
    """The plain way: every question's features against the message's, best question per entry."""

    def scan(text: str) -> list[int]:
        wanted = matching.features(text)
        best: dict[int, float] = {}
        for pk, questions in index_texts:
            for counted in questions:
                shared = sum(matching.WEIGHTS[t[0]] for t in wanted if t in counted)
                if shared > best.get(pk, 0.0):
                    best[pk] = shared
        return sorted(best, key=lambda pk: -best[pk])[:5]

    return scan


@pytest.mark.django_db(transaction=True)
def test_robot_matching_with_5000_entries() -> None:
    shop = shop_services.create_shop(
        name="基准测试店", manager_name="基准", owner_login="bench_robot_owner", owner_password=PASSWORD
    )
    owner = StaffAccount.objects.get(shop=shop, role=Role.OWNER)
    shop_services.upsert_products(
        shop=shop,
        records=[
            {
                "platform_id": f"SKU-{p}",
                "title": product_name(p),
                "price": "99.00",
                "category": "",
                "image_url": "",
                "url": "",
            }
            for p in range(PRODUCTS)
        ],
    )
    start = time.perf_counter()
    result = spreadsheet.import_entries(actor=owner, filename="kb.csv", data=generated_file())
    import_s = time.perf_counter() - start
    assert result.created == N
    texts = messages()
    matching.clear()
    matching.calibration()  # once per process, not per shop
    start = time.perf_counter()
    matching.shop_index(shop.pk)
    load_s = time.perf_counter() - start
    product_id = Product.objects.get(shop=shop, platform_id="SKU-0").pk

    from robot.models import KnowledgeEntry

    rows = KnowledgeEntry.objects.filter(shop=shop, enabled=True).values_list(
        "pk", "question", "similar_questions"
    )
    scan_index = [
        (pk, [set(matching.features(q)) for q in [question, *similar]]) for pk, question, similar in rows
    ]

    cases: list[tuple[str, Callable[[str], Any], Sequence[str], bool]] = [
        ("rank", lambda t: matching.rank(shop_id=shop.pk, text=t), texts, True),
        ("match", lambda t: matching.match(shop_id=shop.pk, text=t), texts, True),
        (
            "rank, from the product page",
            lambda t: matching.rank(shop_id=shop.pk, text=t, product_id=product_id),
            texts,
            False,
        ),
        ("full scan (no index)", full_scan(scan_index), texts[: max(10, REPEAT // 10)], False),
    ]
    table = []
    for name, call, sample, asserted in cases:
        call(sample[0])  # warm
        laps, cpu = timed(call, sample)
        table.append(
            (name, len(sample), percentile(laps, 50), percentile(laps, 99), percentile(cpu, 99), asserted)
        )

    entry = KnowledgeEntry.objects.filter(shop=shop).order_by("pk").first()
    assert entry is not None
    cold: list[float] = []
    for n in range(3):
        knowledge.update_entry(
            actor=owner, entry=entry, question=entry.question, answer=f"改过的答案{n}", intent=entry.intent
        )
        start = time.perf_counter()
        matching.rank(shop_id=shop.pk, text=texts[n])
        cold.append((time.perf_counter() - start) * 1000)
    table.append(("first match after an edit", 3, percentile(cold, 50), max(cold), float("nan"), False))

    load = os.getloadavg()
    print()
    print(
        f"robot matching: {N} entries + built-in set, {REPEAT} messages; import {import_s:.1f} s, "
        f"first index load {load_s * 1000:.0f} ms; load average {load[0]:.2f}"
    )
    print(f"{'case':32}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'p99 cpu ms':>12}  target")
    for name, n, p50, p99, cpu99, asserted in table:
        target = f"p99 cpu < {TARGET_MS:.0f} ms" if asserted else ""
        print(f"{name:32}{n:>6}{p50:>10.2f}{p99:>10.2f}{cpu99:>12.2f}  {target}")
    # Asserted on the CPU time of the call: on this shared 2-CPU machine the wall-clock p99 also holds the
    # time spent waiting for a CPU (printed beside it).
    for name, _n, _p50, _p99, cpu99, asserted in table:
        if asserted:
            assert cpu99 < TARGET_MS, f"{name}: p99 CPU {cpu99:.1f} ms"
