"""Alerts of the shop-operations jobs: the notification list of the supervisors' page with its unread count
(per staff account). The beat tasks record one alert per row they acted on, in the same transaction
(``record``); the page asks for what is new every ``POLL_SECONDS`` (``static/backoffice/ops.js``), so an
alert appears within that time without a reload. (Polling, not the channel layer: the page has no socket,
and the database is the truth the list is read from either way.)"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from backoffice.models import OpsAlert, OpsReadMark, Shop, StaffAccount

POLL_SECONDS = 20
LIST_LENGTH = 50


def record(rows: Iterable[tuple[int, str, str]]) -> None:
    """(shop id, kind, ref) for each alert, in one INSERT."""
    OpsAlert.objects.bulk_create(
        [OpsAlert(shop_id=shop_id, kind=kind, ref=ref) for shop_id, kind, ref in rows]
    )


def latest(shop: Shop, *, after: int = 0) -> QuerySet[OpsAlert]:
    return OpsAlert.objects.for_shop(shop).filter(pk__gt=after).order_by("-pk")[:LIST_LENGTH]


def read_up_to(staff: StaffAccount) -> int:
    mark = OpsReadMark.objects.filter(staff=staff).values_list("read_up_to", flat=True).first()
    return int(mark or 0)


def unread_count(staff: StaffAccount) -> int:
    return OpsAlert.objects.for_shop(staff.shop).filter(pk__gt=read_up_to(staff)).count()


def mark_read(staff: StaffAccount) -> int:
    """Everything of the shop up to its latest alert is read by ``staff``; returns that alert's id."""
    last = OpsAlert.objects.for_shop(staff.shop).order_by("-pk").values_list("pk", flat=True).first() or 0
    OpsReadMark.objects.update_or_create(staff=staff, defaults={"read_up_to": last})
    return int(last)
