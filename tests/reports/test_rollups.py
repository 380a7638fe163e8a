"""The daily rollups give the same figures as the raw tables, are idempotent, and two runs at once compute
each day once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from backoffice.models import Shop, StaffAccount
from reports import kpis, rollups
from reports.models import DailyFacts, RollupDay
from tests.conftest import is_postgres
from tests.reports import world
from tests.reports.world import BEFORE, DAY, at

NEXT_DAY_NOON = at(12, 0) + timedelta(days=1)


@pytest.fixture
def day(shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount) -> world.Sessions:
    return world.build(shop_a, owner, teammate, colleague)


def figures(facts: dict[kpis.Key, kpis.Facts]) -> dict[str, float | None]:
    return kpis.evaluate(kpis.total(facts.values()))


def test_rolled_up_days_give_the_raw_figures(shop_a: Shop, day: world.Sessions) -> None:
    raw = kpis.raw_facts(shop_a, BEFORE, DAY, now=NEXT_DAY_NOON)
    assert rollups.roll_up(now=NEXT_DAY_NOON) == 2  # 03-01 and 03-02: every day since the first session
    assert RollupDay.objects.filter(shop=shop_a, stale=False).count() == 2
    stored, covered = rollups.stored_facts(shop_a, BEFORE, DAY)
    assert covered == {BEFORE, DAY}
    assert figures(stored) == figures(raw)
    assert kpis.total(stored.values()) == kpis.total(raw.values())  # every sum, the distributions too
    for agent in {key[1] for key in raw}:
        assert figures(kpis.select(stored, agent=agent)) == figures(kpis.select(raw, agent=agent))
    read = rollups.facts_between(shop_a, BEFORE, DAY, now=NEXT_DAY_NOON)
    assert figures(read) == figures(raw)


def test_rolling_up_twice_changes_nothing(shop_a: Shop, day: world.Sessions) -> None:
    rollups.roll_up(now=NEXT_DAY_NOON)
    rows = list(DailyFacts.objects.order_by("day", "agent_id").values_list("day", "agent_id", "rounds"))
    RollupDay.objects.update(stale=True)
    rollups.roll_up(now=NEXT_DAY_NOON)
    assert (
        list(DailyFacts.objects.order_by("day", "agent_id").values_list("day", "agent_id", "rounds")) == rows
    )
    assert rollups.roll_up(now=NEXT_DAY_NOON) == 0  # nothing stale, nothing due


def test_days_not_rolled_up_are_computed_live(shop_a: Shop, day: world.Sessions) -> None:
    rollups.rollup_day(shop_a, BEFORE)
    read = rollups.facts_between(shop_a, BEFORE, DAY, now=NEXT_DAY_NOON)
    assert figures(read)["consultations"] == 6


def test_changing_days_are_recomputed_once_their_rollup_is_old(shop_a: Shop, day: world.Sessions) -> None:
    rollups.roll_up(now=NEXT_DAY_NOON)
    later = NEXT_DAY_NOON + timedelta(days=365)  # every stored computed_at is older than REFRESH by then
    marked = rollups.mark_due(NEXT_DAY_NOON + rollups.REFRESH + timedelta(minutes=1))
    assert marked == 0  # computed just now (database clock): not due yet
    assert rollups.mark_due(later) > 0


@pytest.mark.skipif(not is_postgres(), reason="SKIP LOCKED claims need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_compute_each_day_once(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    world.build(shop_a, owner, teammate, colleague)
    rollups.mark_due(NEXT_DAY_NOON)
    done: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            done.append(rollups.roll_up(now=NEXT_DAY_NOON))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(done) == 2
    assert (
        DailyFacts.objects.filter(day=DAY).count()
        == DailyFacts.objects.filter(day=DAY).values("agent_id", "group_id").distinct().count()
    )


def test_the_beat_task_is_registered_and_expires_before_its_next_run(
    shop_a: Shop, day: world.Sessions
) -> None:
    from django.conf import settings

    from reports import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["reports-roll-up"]
    assert entry["task"] == "reports.roll_up"
    assert entry["options"]["expires"] < entry["schedule"]  # type: ignore[index]
    assert tasks.roll_up() >= 2  # the real task: every day since the first session up to yesterday


def test_a_deleted_group_keeps_its_days_in_the_shop_figures(shop_a: Shop, owner: StaffAccount) -> None:
    from routing.models import AgentGroup

    group = AgentGroup.objects.create(shop=shop_a, name="临时组")
    facts = kpis.Facts(consultations=3)
    rollups.store(shop_a, DAY, {(DAY, None, group.pk): facts})
    group.delete()
    assert DailyFacts.objects.get(shop=shop_a, day=DAY).consultations == 3
