"""Alerts of the shop-operations jobs: the notification list of the supervisors' page with its unread count
(per staff account). The beat tasks record one alert per row they acted on, in the same transaction
(``record``), and publish one ``OpsAlertsAdded`` per shop after commit to the shop's operations group
(``events.shop_ops_group``). The page's socket (``/ws/ops/``, ``routing/ops_socket.py``, PROTOCOL.md
"Operations alerts") answers each with the alerts newer than the ones it has sent (``frame``), read from the
database: the event is only a hint, so a lost one is repaired by the next, and a reconnecting page gets the
newest list again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from django.db.models import QuerySet

from backoffice import events
from backoffice.models import OpsAlert, OpsReadMark, Shop, StaffAccount

LIST_LENGTH = 50


class OpsAlertsAdded(events.Event):
    """To a shop's operations pages: the jobs recorded new alerts of the shop (the newest id among them)."""

    type: Literal["ops_alerts_added"] = "ops_alerts_added"
    handler: ClassVar[str] = "ops.alerts"  # routing.ops_socket.OpsConsumer.ops_alerts
    last_id: int


def record(rows: Iterable[tuple[int, str, str]]) -> None:
    """(shop id, kind, ref) for each alert, in one INSERT; each shop's pages hear of them after commit."""
    created = OpsAlert.objects.bulk_create(
        [OpsAlert(shop_id=shop_id, kind=kind, ref=ref) for shop_id, kind, ref in rows]
    )
    newest: dict[int, int] = {}
    for alert in created:
        newest[alert.shop_id] = max(newest.get(alert.shop_id, 0), alert.pk or 0)
    events.publish(
        (events.shop_ops_group(shop_id), OpsAlertsAdded(last_id=last)) for shop_id, last in newest.items()
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


def frame(staff: StaffAccount, *, after: int = 0) -> dict[str, Any]:
    """The socket's ``alerts`` frame: the shop's alerts newer than ``after`` (newest first, at most
    ``LIST_LENGTH``), the account's unread count and the id it has read up to (the API's ``AlertsOut``)."""
    return {
        "type": "alerts",
        "unread": unread_count(staff),
        "read_up_to": read_up_to(staff),
        "items": [
            {
                "id": alert.pk,
                "kind": alert.kind,
                "label": str(alert.get_kind_display()),
                "ref": alert.ref,
                "created_at": alert.created_at.isoformat(),
            }
            for alert in latest(staff.shop, after=after)
        ],
    }
