"""Fault 6, periodic work twice (issue 18): every task in ``CELERY_BEAT_SCHEDULE`` is run twice at once on
PostgreSQL (two threads, each its own connection, released together) and then once more as a redelivery (the
same task message, same task id, delivered again as after Celery's visibility timeout): each effect happens
once. The suite is parametrized over the schedule itself, so a task registered without a scenario here
fails ``test_every_beat_task_has_a_scenario``.

Each scenario prepares due work and says how many units the task should do (its return value summed over the
runs) and how to count the effects in the database; both must equal that number after the race, and the
redelivery must do nothing and change nothing.

Beat itself runs once in a deployment (README, "Deployment that outgrows one process"); what can be tested
here: two DatabaseSchedulers started against one database set the schedule up once.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from backoffice.celery import app
from backoffice.models import (
    LateShipment,
    Order,
    PackageAlert,
    ServiceRequest,
    ServiceRequestState,
    Shop,
    StaffAccount,
)
from reports.models import DailyFacts, RollupDay
from robot.models import RecommendationRun
from robot.selfservice import followup
from routing.models import AgentState, AgentStatus, Conversation, ConversationState, Message, SenderKind
from routing.services import load_matches_open_sessions
from tests.backoffice import factories
from tests.conftest import make_shop, requires_postgres
from tests.ops.test_jobs import orders, tickets
from tests.routing.test_concurrency import idle_active_conversation, new_agent
from tests.routing.test_rules import waiting

pytestmark = [
    requires_postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("owner_offline"),
]

ROWS = 40  # several rows: both runs find work, and a double effect would show in the counts
BULK = 1200  # the shop-operations jobs: more than one batch each, so both runs take batches


@dataclass(frozen=True)
class Scenario:
    """``prepare(shop)`` makes the due work and returns how many units the task must do; ``effects()``
    counts them in the database (equal to that number when each happened once)."""

    prepare: Callable[[Shop], int]
    effects: Callable[[], Any]


# --- routing -----------------------------------------------------------------------------------------------


def _idle_chats(shop: Shop) -> int:
    agents = [new_agent(shop, f"idle{n}", max_concurrent=ROWS) for n in range(2)]
    for n in range(ROWS):
        idle_active_conversation(shop, agents[n % 2], factories.buyer(shop, f"i{n}", f"买家{n}"))
    return ROWS


def _ended_once() -> tuple[int, bool]:
    """Ended chats, and whether every agent's load is back to its active chats (a seat given back twice
    would show as a mismatch or a load below zero)."""
    ended = Conversation.objects.filter(state=ConversationState.ENDED, end_reason="auto").count()
    loads_ok = all(load_matches_open_sessions(shop) == [] for shop in Shop.objects.all())
    return ended, loads_ok and not AgentState.objects.filter(load__lt=0).exists()


def _stranded(shop: Shop) -> int:
    new_agent(shop, "stranded", max_concurrent=ROWS * 2)
    convs = waiting(shop, ROWS)
    Conversation.objects.filter(pk__in=[c.pk for c in convs]).update(
        created_at=timezone.now() - timedelta(seconds=31)
    )
    return ROWS


def _routed_once() -> tuple[int, bool]:
    active = Conversation.objects.filter(state=ConversationState.ACTIVE).count()
    return active, all(load_matches_open_sessions(shop) == [] for shop in Shop.objects.all())


def _gone_agents(shop: Shop) -> int:
    agents = [new_agent(shop, f"gone{n}") for n in range(ROWS)]
    AgentState.objects.filter(staff__in=agents).update(
        connections=0, disconnected_at=timezone.now() - timedelta(seconds=settings.PRESENCE_GRACE_SECONDS * 3)
    )
    return ROWS


def _offline_once() -> tuple[int, int]:
    """Agents offline, and the status changes recorded for them (one each)."""
    from routing.models import AgentStatusChange

    gone = AgentState.objects.filter(staff__user__username__startswith="gone")
    changes = AgentStatusChange.objects.filter(
        staff__user__username__startswith="gone", status=AgentStatus.OFFLINE
    ).count()
    return gone.filter(status=AgentStatus.OFFLINE).count(), changes


def _drifted(shop: Shop) -> int:
    agents = [new_agent(shop, f"drift{n}") for n in range(ROWS)]
    AgentState.objects.filter(staff__in=agents).update(load=3)
    return ROWS


def _reconciled() -> tuple[int, bool]:
    put_back = AgentState.objects.filter(staff__user__username__startswith="drift", load=0).count()
    return put_back, all(load_matches_open_sessions(shop) == [] for shop in Shop.objects.all())


# --- robot -------------------------------------------------------------------------------------------------


def _follow_ups(shop: Shop) -> int:
    owner = StaffAccount.objects.get(shop=shop, role="owner")
    followup.save_settings(
        staff=owner,
        values={
            "care_on": True,
            "care_delay_hours": 24,
            "care_text": "亲，宝贝已签收~",
            "return_visit_on": False,
            "coupon_on": False,
            "quiet_from": dt.time(0, 0),  # equal times: no quiet hours, whatever the hour the suite runs
            "quiet_until": dt.time(0, 0),
        },
    )
    at = timezone.now() - timedelta(hours=30)
    for n in range(ROWS):
        factories.order(
            shop,
            number=f"F{n}",
            buyer_platform_id=f"f{n}",
            status="delivered",
            delivered_at=at,
            created_at=at - timedelta(days=3),
        )
    return ROWS


def _one_message_per_buyer() -> tuple[int, int]:
    per_buyer = (
        Message.objects.filter(sender=SenderKind.SYSTEM, conversation__buyer__platform_id__startswith="f")
        .values("conversation__buyer")
        .annotate(n=Count("pk"))
    )
    return len(per_buyer), sum(row["n"] for row in per_buyer)


def _due_recommendations(shop: Shop) -> int:
    shops = [shop, make_shop("鹿鸣数码专营店", "王鸣", "owner_rec")]
    RecommendationRun.objects.bulk_create(
        RecommendationRun(shop=s, due_at=timezone.now() - timedelta(minutes=1)) for s in shops
    )
    return len(shops)


def _recommended() -> int:
    return RecommendationRun.objects.filter(computed_at__isnull=False).count()


# --- reports -----------------------------------------------------------------------------------------------


def _days_to_roll_up(shop: Shop) -> int:
    """One chat the day before yesterday: the days up to yesterday (in the shop's zone) are due."""
    conv = Conversation.objects.create(
        shop=shop, buyer=factories.buyer(shop, "r1", "买家"), state=ConversationState.ENDED
    )
    Conversation.objects.filter(pk=conv.pk).update(created_at=timezone.now() - timedelta(days=2))
    from reports import rollups

    rollups.mark_due(timezone.now())
    return RollupDay.objects.count()


def _rolled_up_once() -> tuple[int, bool]:
    rows = DailyFacts.objects.values("shop_id", "day", "agent_id", "group_id")
    return (
        RollupDay.objects.filter(stale=False).count(),
        rows.count() == rows.distinct().count(),
    )


# --- shop operations ---------------------------------------------------------------------------------------


def _late_orders(shop: Shop) -> int:
    orders(shop, BULK, status="to_ship", ship_by=timezone.now() - timedelta(minutes=1))
    return BULK


def _late_flagged() -> tuple[int, int]:
    return LateShipment.objects.count(), Order.objects.filter(late_flagged_at__isnull=False).count()


def _unpicked(shop: Shop) -> int:
    orders(shop, BULK, status="shipped", shipped_at=timezone.now() - timedelta(hours=13))
    return BULK


def _alerted() -> tuple[int, int]:
    return PackageAlert.objects.count(), Order.objects.filter(pickup_alert_level=1).count()


def _tickets_to_warn(shop: Shop) -> int:
    tickets(shop, BULK)
    return BULK


def _warned() -> int:
    return ServiceRequest.objects.filter(warned_at__isnull=False).count()


def _tickets_due(shop: Shop) -> int:
    tickets(shop, BULK, due_at=timezone.now() - timedelta(minutes=1))
    return BULK


def _settled() -> int:
    return ServiceRequest.objects.filter(state=ServiceRequestState.SETTLED).count()


SCENARIOS: dict[str, Scenario] = {
    "routing.auto_end_idle": Scenario(_idle_chats, _ended_once),
    "routing.route_stranded": Scenario(_stranded, _routed_once),
    "routing.expire_presence": Scenario(_gone_agents, _offline_once),
    "routing.reconcile_loads": Scenario(_drifted, _reconciled),
    "robot.follow_up": Scenario(_follow_ups, _one_message_per_buyer),
    "robot.recommend_answers": Scenario(_due_recommendations, _recommended),
    "reports.roll_up": Scenario(_days_to_roll_up, _rolled_up_once),
    "backoffice.ops_late_shipments": Scenario(_late_orders, _late_flagged),
    "backoffice.ops_package_alerts": Scenario(_unpicked, _alerted),
    "backoffice.ops_service_request_warnings": Scenario(_tickets_to_warn, _warned),
    "backoffice.ops_service_request_settlement": Scenario(_tickets_due, _settled),
}

EXPECTED_EFFECTS: dict[str, Callable[[int], Any]] = {
    "routing.auto_end_idle": lambda n: (n, True),
    "routing.route_stranded": lambda n: (n, True),
    "routing.expire_presence": lambda n: (n, n),
    "routing.reconcile_loads": lambda n: (n, True),
    "robot.follow_up": lambda n: (n, n),
    "robot.recommend_answers": lambda n: n,
    "reports.roll_up": lambda n: (n, True),
    "backoffice.ops_late_shipments": lambda n: (n, n),
    "backoffice.ops_package_alerts": lambda n: (n, n),
    "backoffice.ops_service_request_warnings": lambda n: n,
    "backoffice.ops_service_request_settlement": lambda n: n,
}

app.loader.import_default_modules()  # as a worker starts: autodiscovery and CELERY_IMPORTS
SCHEDULED = sorted({str(entry["task"]) for entry in settings.CELERY_BEAT_SCHEDULE.values()})


def run_message(name: str, task_id: str) -> int:
    """Deliver one message of task ``name`` with ``task_id`` to this thread, as a worker executes it (the
    registered task, its body and Celery's call machinery); the task's return value."""
    result = app.tasks[name].apply(task_id=task_id)
    if result.failed():
        raise RuntimeError(f"{name} failed: {result.traceback}")
    return int(result.get())


def twice_at_once(name: str) -> tuple[list[int], list[str]]:
    """Two messages of ``name`` (two beat ticks, or two beats) executed together on two threads, each its
    own database connection; their results and task ids."""
    barrier = threading.Barrier(2)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    results: list[int] = []
    errors: list[BaseException] = []

    def run(task_id: str) -> None:
        try:
            barrier.wait()
            results.append(run_message(name, task_id))
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(task_id,)) for task_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    return results, ids


def test_every_beat_task_has_a_scenario() -> None:
    """A task added to the beat schedule without a twice-at-once scenario here fails this test."""
    assert set(SCHEDULED) == set(SCENARIOS) == set(EXPECTED_EFFECTS)
    assert all(name in app.tasks for name in SCHEDULED)


@pytest.mark.parametrize("name", SCHEDULED)
def test_a_beat_task_run_twice_at_once_then_redelivered_does_each_effect_once(
    name: str, shop_a: Shop
) -> None:
    scenario = SCENARIOS[name]
    due = scenario.prepare(shop_a)
    assert due > 0
    expected = EXPECTED_EFFECTS[name](due)

    results, ids = twice_at_once(name)

    assert sum(results) == due, f"{name}: {results} units done for {due} due"
    assert scenario.effects() == expected
    # The first message delivered again (visibility timeout passed before its ack): nothing more happens.
    assert run_message(name, ids[0]) == 0
    assert scenario.effects() == expected


def test_two_beat_schedulers_on_one_database_set_each_entry_up_once() -> None:
    """django-celery-beat's DatabaseScheduler keeps the schedule in the database (one row per entry name,
    unique): a second beat started by mistake finds the same rows instead of adding its own. It would still
    send each tick a second time, which the twice-at-once runs above prove harmless."""
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    first = DatabaseScheduler(app=app, lazy=False)  # type: ignore[no-untyped-call]
    second = DatabaseScheduler(app=app, lazy=False)  # type: ignore[no-untyped-call]
    rows = PeriodicTask.objects.filter(name__in=settings.CELERY_BEAT_SCHEDULE)
    assert rows.count() == len(settings.CELERY_BEAT_SCHEDULE)
    assert {row.name: row.task for row in rows} == {
        name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    }
    assert set(first.schedule) >= set(settings.CELERY_BEAT_SCHEDULE) <= set(second.schedule)
