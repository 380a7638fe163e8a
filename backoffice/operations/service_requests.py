"""Service requests (服务请求): the platform's tickets, their deadlines on the 09:00-21:00 clock
(``clock``), the owner's holiday pause, and the beat tasks that warn at 80% of the time and mark overdue
requests as settled by the platform.

Categories and their time (seed 002): general 24 h, urgent 2 h, agreed with the platform: the hours given
with the ticket, 2 h or more (at most ``MAX_AGREED_HOURS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Now
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, Invalid
from backoffice.models import (
    OpsAlertKind,
    OpsSettings,
    Order,
    ServiceCategory,
    ServiceRequest,
    ServiceRequestState,
    Shop,
    StaffAccount,
)
from backoffice.operations import alerts, clock
from backoffice.operations.jobs import BATCH, MAX_BATCHES, record_run

CATEGORY_HOURS = {ServiceCategory.GENERAL: 24, ServiceCategory.URGENT: 2}
MIN_AGREED_HOURS = 2
MAX_AGREED_HOURS = 720
WARN_JOB = "service_request_warnings"
SETTLE_JOB = "service_request_settlement"


def pauses_on_holidays(shop: Shop) -> bool:
    return OpsSettings.objects.filter(shop=shop, pause_on_holidays=True).exists()


def skipped_days(pause: bool) -> clock.DaySkipped:
    return clock.is_public_holiday if pause else clock.no_day_skipped


def hours_for(category: str, hours: int | None) -> int:
    """The ticket's hours: fixed by a general or urgent category (a different ``hours`` is refused), given
    for an agreed one (``MIN_AGREED_HOURS`` .. ``MAX_AGREED_HOURS``)."""
    if category in CATEGORY_HOURS:
        fixed = CATEGORY_HOURS[ServiceCategory(category)]
        if hours is not None and hours != fixed:
            raise ValueError(
                _("A %(category)s request has %(hours)d hours.") % {"category": category, "hours": fixed}
            )
        return fixed
    if hours is None or not MIN_AGREED_HOURS <= hours <= MAX_AGREED_HOURS:
        raise ValueError(
            _("An agreed request needs its hours, from %(min)d to %(max)d.")
            % {"min": MIN_AGREED_HOURS, "max": MAX_AGREED_HOURS}
        )
    return hours


@transaction.atomic
def receive_service_requests(*, shop: Shop, records: Sequence[dict[str, Any]]) -> int:
    """Store the platform's tickets (validated records: number, category, hours, subject, received_at,
    order_number), with their deadlines. All-or-nothing: a wrong category's hours or an order this shop
    does not have refuses the batch. Idempotent on the number: a ticket already stored is kept as it is
    (a re-push never restarts its clock). Returns how many records the batch held."""
    errors: list[dict[str, Any]] = []
    numbers = [r["number"] for r in records]
    if len(set(numbers)) != len(numbers):
        raise Invalid(_("Duplicate number in the batch."))
    order_ids = dict(
        Order.objects.for_shop(shop)
        .filter(number__in={r["order_number"] for r in records if r.get("order_number")})
        .values_list("number", "pk")
    )
    skipped = skipped_days(pauses_on_holidays(shop))
    rows = []
    for index, record in enumerate(records):
        try:
            hours = hours_for(record["category"], record.get("hours"))
        except ValueError as exc:
            errors.append({"loc": [index, "hours"], "msg": str(exc)})
            continue
        order_number = record.get("order_number")
        if order_number and order_number not in order_ids:
            errors.append({"loc": [index, "order_number"], "msg": "unknown order in this shop"})
            continue
        due, warn = clock.deadlines(record["received_at"], hours, zone=shop.zone, skipped=skipped)
        rows.append(
            ServiceRequest(
                shop=shop,
                number=record["number"],
                category=record["category"],
                hours=hours,
                subject=record["subject"],
                order_id=order_ids.get(order_number or ""),
                received_at=record["received_at"],
                due_at=due,
                warn_at=warn,
            )
        )
    if errors:
        raise Invalid(_("Some service requests are not valid."), errors=errors)
    ServiceRequest.objects.bulk_create(rows, ignore_conflicts=True)
    return len(records)


def open_requests(shop: Shop) -> QuerySet[ServiceRequest]:
    """The shop's open requests, soonest due first."""
    return (
        ServiceRequest.objects.for_shop(shop)
        .filter(state=ServiceRequestState.OPEN)
        .select_related("order")
        .order_by("due_at", "pk")
    )


def handle_service_request(*, actor: StaffAccount, request: ServiceRequest) -> ServiceRequest:
    """The shop answered the ticket: open -> handled. A request already handled or settled by the platform
    is refused (Conflict, nothing written)."""
    changed = ServiceRequest.objects.filter(pk=request.pk, state=ServiceRequestState.OPEN).update(
        state=ServiceRequestState.HANDLED, closed_at=Now(), handled_by=actor
    )
    if not changed:
        raise Conflict(_("This service request is no longer open."))
    request.refresh_from_db()
    return request


@transaction.atomic
def set_holiday_pause(*, shop: Shop, pause: bool) -> int:
    """Turn the shop's holiday pause on or off; the open requests' deadlines are computed again from their
    arrival with the new rule. Returns how many open requests were recomputed."""
    OpsSettings.objects.update_or_create(shop=shop, defaults={"pause_on_holidays": pause})
    skipped = skipped_days(pause)
    rows = list(
        ServiceRequest.objects.for_shop(shop)
        .filter(state=ServiceRequestState.OPEN)
        .select_for_update()
        .only("pk", "received_at", "hours")
    )
    for row in rows:
        row.due_at, row.warn_at = clock.deadlines(row.received_at, row.hours, zone=shop.zone, skipped=skipped)
    ServiceRequest.objects.bulk_update(rows, ["due_at", "warn_at"], batch_size=BATCH)
    return len(rows)


def warn_service_requests(*, batch_size: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Mark every open request of every shop past 80% of its time (``warn_at``, database clock) as warned,
    once; returns how many. The shops' pages show the warnings."""
    total = 0
    for _batch in range(max_batches):
        claimed, done = _claim(
            ServiceRequest.objects.filter(
                state=ServiceRequestState.OPEN, warned_at__isnull=True, warn_at__lte=Now()
            ),
            batch_size,
            {"warned_at": Now()},
            {"warned_at__isnull": True},
            OpsAlertKind.REQUEST_WARNING,
        )
        total += done
        if claimed < batch_size:
            break
    record_run(WARN_JOB, total)
    return total


def settle_overdue_requests(*, batch_size: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Every open request past its deadline (database clock) is settled by the platform (the seed: 超时
    未操作平台则自动处理): state settled, closed now. Returns how many."""
    total = 0
    for _batch in range(max_batches):
        claimed, done = _claim(
            ServiceRequest.objects.filter(state=ServiceRequestState.OPEN, due_at__lte=Now()),
            batch_size,
            {"state": ServiceRequestState.SETTLED, "closed_at": Now()},
            {"state": ServiceRequestState.OPEN},
            OpsAlertKind.REQUEST_SETTLED,
        )
        total += done
        if claimed < batch_size:
            break
    record_run(SETTLE_JOB, total)
    return total


@transaction.atomic
def _claim(
    due: QuerySet[ServiceRequest], size: int, changes: dict[str, Any], still: dict[str, Any], alert: str
) -> tuple[int, int]:
    """Claim up to ``size`` due rows (``SKIP LOCKED``: a concurrent run takes others) and apply ``changes``
    to those still in the state ``still`` names (a conditional update), with an alert each:
    (claimed, changed)."""
    rows = list(
        due.order_by("pk").select_for_update(skip_locked=True).values_list("pk", "shop_id", "number")[:size]
    )
    if not rows:
        return 0, 0
    ids = [pk for pk, _shop, _number in rows]
    changed = int(ServiceRequest.objects.filter(pk__in=ids, **still).update(**changes))
    alerts.record((shop_id, alert, number) for _pk, shop_id, number in rows)
    return len(rows), changed
