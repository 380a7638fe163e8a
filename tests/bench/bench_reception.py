"""Reception benchmark: the time one buyer message takes through the chat consumers' path (stored, then the
reception hook) with the robot answering it, next to the same path with the robot off (the message stored,
the chat handed to a human), in the same run.

Run with ``pytest tests/bench/bench_reception.py -s -q`` (add DATABASE_URL=postgres://... for PostgreSQL).
Knob: BENCH_BUYERS (default 200): each buyer's first message, over a mix of buyer questions (answered,
data-aware, unsure), on a shop with the built-in knowledge base. The first message of the run is a warm-up
(the shop's matching index is built then) and is not counted.
"""

from __future__ import annotations

import os
import time

import pytest
from django.utils import timezone

from backoffice.models import Shop, StaffAccount
from robot.reception_config import save_reception
from routing import services
from tests.backoffice import factories
from tests.bench.common import percentile
from tests.robot.conftest import say

BUYERS = int(os.environ.get("BENCH_BUYERS", "200"))
TEXTS = [
    "在吗",
    "快递到哪了",
    "什么时候发货",
    "能便宜点吗",
    "你们家的猫叫什么名字",
    "kd dao na le",
    "有发票吗",
]


def _timed(shop: Shop, prefix: str, n: int) -> list[float]:
    times = []
    for i in range(n + 1):
        buyer = factories.buyer(shop, f"{prefix}{i}", f"买家{i}")
        factories.order(
            shop,
            f"{prefix}O{i}",
            f"{prefix}{i}",
            status="shipped",
            shipped_at=timezone.now(),
            tracking_number=f"SF{i}",
        )
        start = time.perf_counter()
        say(buyer, TEXTS[i % len(TEXTS)], f"{prefix}-{i}")
        if i:  # the first one builds the index: a warm-up
            times.append((time.perf_counter() - start) * 1000)
    return times


@pytest.mark.django_db
def test_reception_latency(shop_a: Shop, owner: StaffAccount) -> None:
    big = factories.staff(shop_a, "bench_agent", "客服")
    StaffAccount.objects.filter(pk=big.pk).update(max_concurrent=500)
    services.set_agent_status(staff=owner, status="offline")
    services.set_agent_status(staff=big, status="online")
    rows: list[tuple[str, list[float]]] = [("robot off (to a human)", _timed(shop_a, "h", BUYERS))]
    save_reception(shop_a, {"full_auto": True})
    rows.append(("robot on (read, answer)", _timed(shop_a, "r", BUYERS)))

    def line(name: str, t: list[float]) -> str:
        return f"| {name:<24} | {len(t):>5} | {percentile(t, 50):>8.1f} | {percentile(t, 99):>8.1f} |"

    print("\n| path                     | msgs  | p50 ms   | p99 ms   |")
    print("|--------------------------|-------|----------|----------|")
    for name, t in rows:
        print(line(name, t))
