"""The daily rollups: ``DailyFacts`` per shop and local day, written by ``rollup_day`` and kept fresh by the
beat task ``roll_up`` (``reports.tasks``); read by ``facts_between``, which computes live whatever is not
rolled up (today, and any day the task has not reached yet), so a figure never depends on the task having
run, only its speed does.

Freshness: a day's sessions can still change after the day (a rating up to 24 hours after the end, a late
end, the queue of a session that started at 23:59), so the days of the last ``CHANGING_DAYS`` days are made
stale again once their rollup is older than ``REFRESH``; each run recomputes at most ``BATCH`` stale days,
oldest first, claimed with ``SKIP LOCKED`` so two runs at once never compute the same day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Min
from django.db.models.functions import Now
from django.utils import timezone

from backoffice.models import Shop
from reports import kpis
from reports.kpis import Facts, Key
from reports.models import DailyFacts, RollupDay
from routing.models import Conversation

CHANGING_DAYS = 4
REFRESH = timedelta(minutes=10)
BATCH = 20


def store(shop: Shop, day: date, facts: dict[Key, Facts]) -> None:
    """Replace the stored facts of one day (in the caller's transaction)."""
    DailyFacts.objects.filter(shop=shop, day=day).delete()
    DailyFacts.objects.bulk_create(
        [
            DailyFacts(
                shop=shop,
                day=day,
                agent_id=agent,
                group_id=group,
                queue_waits={str(k): v for k, v in value.queue_waits.items()},
                **value.sums(),
            )
            for (_day, agent, group), value in facts.items()
            if _day == day
        ],
        batch_size=500,
    )


def rollup_day(shop: Shop, day: date) -> int:
    """Compute and store one local day's facts and mark it fresh; the number of rows written."""
    facts = kpis.raw_facts(shop, day, day)
    with transaction.atomic():
        store(shop, day, facts)
        RollupDay.objects.update_or_create(
            shop=shop, day=day, defaults={"stale": False, "computed_at": Now()}
        )
    return sum(1 for key in facts if key[0] == day)


def today(shop: Shop, now: datetime | None = None) -> date:
    return kpis.local_day(now or timezone.now(), shop.zone)


def _db_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_TIMESTAMP")
        value = cursor.fetchone()[0]
    if isinstance(value, str):  # SQLite answers text in UTC
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def mark_due(now: datetime) -> int:
    """Create the missing days (stale) of every shop since its first session up to yesterday, and make the
    changing days stale again once their rollup is older than ``REFRESH``; the rows created or marked."""
    made = 0
    firsts = list(Conversation.objects.values("shop_id").annotate(first=Min("created_at")).order_by())
    shops = Shop.objects.in_bulk([row["shop_id"] for row in firsts])
    for row in firsts:
        shop = shops[row["shop_id"]]
        tz = shop.zone
        first, yesterday = kpis.local_day(row["first"], tz), kpis.local_day(now, tz) - timedelta(days=1)
        have = set(RollupDay.objects.filter(shop_id=shop.pk, day__gte=first).values_list("day", flat=True))
        missing = [
            RollupDay(shop_id=shop.pk, day=first + timedelta(days=i))
            for i in range((yesterday - first).days + 1)
            if first + timedelta(days=i) not in have
        ]
        RollupDay.objects.bulk_create(missing, ignore_conflicts=True)
        made += len(missing)
        made += RollupDay.objects.filter(
            shop_id=shop.pk,
            stale=False,
            day__gte=yesterday - timedelta(days=CHANGING_DAYS - 1),
            day__lte=yesterday,
            computed_at__lt=now - REFRESH,
        ).update(stale=True)
    return made


def roll_up(*, batch: int = BATCH, now: datetime | None = None) -> int:
    """The beat task's work: mark what is due, then claim and compute up to ``batch`` stale days (oldest
    first). Idempotent (a day's rows are replaced), and safe to run twice at once (``SKIP LOCKED``)."""
    mark_due(now or _db_now())
    done = 0
    with transaction.atomic():
        claimed = list(
            RollupDay.objects.select_for_update(skip_locked=True)
            .filter(stale=True)
            .select_related("shop")
            .order_by("day", "pk")[:batch]
        )
        for item in claimed:
            facts = kpis.raw_facts(item.shop, item.day, item.day)
            store(item.shop, item.day, facts)
            RollupDay.objects.filter(pk=item.pk).update(stale=False, computed_at=Now())
            done += 1
    return done


def forget(shop: Shop) -> None:
    """Drop the shop's rollups (its time zone changed: they are per local day of the old zone); until the
    beat task rolls the days up again, ``facts_between`` computes them live."""
    with transaction.atomic():
        DailyFacts.objects.filter(shop=shop).delete()
        RollupDay.objects.filter(shop=shop).delete()


def stored_facts(shop: Shop, first: date, last: date) -> tuple[dict[Key, Facts], set[date]]:
    """The rolled-up facts of the days in [first, last], and which days they cover."""
    days = set(
        RollupDay.objects.filter(shop=shop, day__gte=first, day__lte=last, computed_at__isnull=False)
        .values_list("day", flat=True)
        .order_by()
    )
    result: dict[Key, Facts] = {}
    rows = DailyFacts.objects.filter(shop=shop, day__in=days).order_by().values()
    for row in cast(list[dict[str, Any]], list(rows)):
        facts = Facts(**{name: row[name] for name in kpis.SUM_NAMES})
        facts.queue_waits.update({int(k): v for k, v in row["queue_waits"].items()})
        result.setdefault((row["day"], row["agent_id"], row["group_id"]), Facts()).add(facts)
    return result, days


def facts_between(shop: Shop, first: date, last: date, *, now: datetime | None = None) -> dict[Key, Facts]:
    """The facts of the local days ``first`` to ``last``: rolled-up days from the rollups (never today),
    every other day computed live, in contiguous runs."""
    current = today(shop, now)
    stored, covered = stored_facts(shop, first, min(last, current - timedelta(days=1)))
    parts = [stored]
    run_start: date | None = None
    day = first
    while day <= last + timedelta(days=1):
        missing = day <= last and day not in covered
        if missing and run_start is None:
            run_start = day
        elif not missing and run_start is not None:
            parts.append(kpis.raw_facts(shop, run_start, day - timedelta(days=1), now=now))
            run_start = None
        day += timedelta(days=1)
    return kpis.merge(*parts)
