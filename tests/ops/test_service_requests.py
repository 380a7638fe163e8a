"""Service requests: the platform's tickets through the API, their deadlines on the 09:00-21:00 clock, the
80% warning, settlement by the platform when overdue, the one-click "handled", and the holiday pause."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from backoffice import tasks
from backoffice.models import OpsJobRun, ServiceRequest, ServiceRequestState, Shop, StaffAccount
from backoffice.operations import service_requests
from tests.backoffice import factories
from tests.conftest import login_client

pytestmark = pytest.mark.django_db
ZONE = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/ops/service-requests"


def push(client: Client, key: str, *records: dict[str, Any]) -> Any:
    return client.post(
        URL,
        json.dumps({"records": list(records)}, default=str),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def ticket(number: str, category: str = "general", **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "category": category,
        "subject": "买家反映物流一直没更新",
        "received_at": datetime(2026, 3, 2, 20, 0, tzinfo=ZONE).isoformat(),
        **extra,
    }


def make(
    shop: Shop, number: str, *, received: datetime, hours: int = 24, category: str = "general"
) -> ServiceRequest:
    extra = {"hours": hours} if category == "agreed" else {}
    service_requests.receive_service_requests(
        shop=shop,
        records=[
            {"number": number, "category": category, "subject": "工单", "received_at": received, **extra}
        ],
    )
    return ServiceRequest.objects.get(shop=shop, number=number)


def test_pushed_agreed_ticket_is_due_on_the_seed_clock(client: Client, shop_a: Shop, key_a: str) -> None:
    assert push(client, key_a, ticket("T1", "agreed", hours=12)).status_code == 200
    row = ServiceRequest.objects.get(number="T1")
    assert row.due_at == datetime(2026, 3, 3, 20, 0, tzinfo=ZONE)  # 20:00 + 12 h: 20:00 the next day
    assert row.warn_at == datetime(2026, 3, 3, 17, 36, tzinfo=ZONE)  # 80%: 9.6 h
    assert (row.state, row.hours) == (ServiceRequestState.OPEN, 12)


def test_general_is_24h_and_urgent_2h(client: Client, shop_a: Shop, key_a: str) -> None:
    assert push(client, key_a, ticket("G1"), ticket("U1", "urgent")).status_code == 200
    general, urgent = ServiceRequest.objects.get(number="G1"), ServiceRequest.objects.get(number="U1")
    assert (general.hours, general.due_at) == (24, datetime(2026, 3, 4, 20, 0, tzinfo=ZONE))
    assert (urgent.hours, urgent.due_at) == (2, datetime(2026, 3, 3, 10, 0, tzinfo=ZONE))


@pytest.mark.parametrize(
    "bad",
    [
        ticket("B1", "agreed"),  # agreed without hours
        ticket("B1", "agreed", hours=1),  # below 2 h
        ticket("B1", "urgent", hours=5),  # urgent is 2 h
        ticket("B1", "general", hours=-3),
        ticket("B1", "vip"),
        ticket("B1", order_number="NO-SUCH-ORDER"),
        ticket("B1", received_at="yesterday"),
        ticket("B1", subject="a\x00b"),
        ticket("B1", subject=""),
    ],
)
def test_invalid_ticket_is_refused_and_nothing_written(
    client: Client, shop_a: Shop, key_a: str, bad: Any
) -> None:
    response = push(client, key_a, ticket("OK1"), bad)
    assert response.status_code == 422
    assert not ServiceRequest.objects.exists()


def test_another_shops_order_is_unknown(client: Client, shop_a: Shop, shop_b: Shop, key_b: str) -> None:
    factories.order(shop_a, "A-ORDER")
    assert push(client, key_b, ticket("T2", order_number="A-ORDER")).status_code == 422
    assert not ServiceRequest.objects.exists()


def test_repush_keeps_the_clock(client: Client, shop_a: Shop, key_a: str) -> None:
    push(client, key_a, ticket("T3"))
    first = ServiceRequest.objects.get(number="T3").due_at
    later = ticket("T3", received_at=datetime(2026, 3, 9, 10, tzinfo=ZONE).isoformat())
    assert push(client, key_a, later).status_code == 200
    assert ServiceRequest.objects.get(number="T3").due_at == first
    assert ServiceRequest.objects.count() == 1


def test_warning_at_80_percent_then_settled_by_platform_when_overdue(shop_a: Shop) -> None:
    now = timezone.now()
    fresh = make(shop_a, "F1", received=now)
    row = make(shop_a, "W1", received=now)
    ServiceRequest.objects.filter(pk=row.pk).update(warn_at=now - timedelta(minutes=1))
    assert tasks.service_request_warnings() == 1
    assert tasks.service_request_warnings() == 0  # warned once
    row.refresh_from_db()
    assert row.warned_at is not None and row.state == ServiceRequestState.OPEN
    ServiceRequest.objects.filter(pk=row.pk).update(due_at=now - timedelta(seconds=1))
    assert tasks.service_request_settlement() == 1
    assert tasks.service_request_settlement() == 0
    row.refresh_from_db()
    fresh.refresh_from_db()
    assert row.state == ServiceRequestState.SETTLED and row.closed_at is not None
    assert fresh.state == ServiceRequestState.OPEN and fresh.warned_at is None
    assert OpsJobRun.objects.filter(name=service_requests.SETTLE_JOB).exists()


def test_handled_ticket_is_not_settled_and_cannot_be_handled_twice(
    shop_a: Shop, supervisor: StaffAccount
) -> None:
    row = make(shop_a, "H1", received=timezone.now())
    client = login_client(supervisor)
    answer = client.post(f"/api/v1/ops/service-requests/{row.pk}/handle")
    assert answer.status_code == 200 and answer.json()["state"] == "handled"
    again = client.post(f"/api/v1/ops/service-requests/{row.pk}/handle")
    assert again.status_code == 409
    ServiceRequest.objects.filter(pk=row.pk).update(due_at=timezone.now() - timedelta(hours=1))
    assert tasks.service_request_settlement() == 0
    row.refresh_from_db()
    assert (row.state, row.handled_by_id) == (ServiceRequestState.HANDLED, supervisor.pk)


def test_agent_may_not_handle_and_outsider_gets_404(
    shop_a: Shop, teammate: StaffAccount, outsider: StaffAccount
) -> None:
    row = make(shop_a, "H2", received=timezone.now())
    assert login_client(teammate).post(f"/api/v1/ops/service-requests/{row.pk}/handle").status_code == 403
    assert login_client(outsider).post(f"/api/v1/ops/service-requests/{row.pk}/handle").status_code == 404
    assert login_client(outsider).post(f"/ops/service-requests/{row.pk}/handle/").status_code == 404
    row.refresh_from_db()
    assert row.state == ServiceRequestState.OPEN


def test_holiday_pause_recomputes_open_tickets(shop_a: Shop, owner: StaffAccount) -> None:
    row = make(shop_a, "N1", received=datetime(2026, 9, 30, 20, tzinfo=ZONE), category="agreed", hours=12)
    assert row.due_at == datetime(2026, 10, 1, 20, tzinfo=ZONE)
    response = login_client(owner).post("/ops/settings/holiday-pause/", {"pause": "on"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.due_at == datetime(2026, 10, 8, 20, tzinfo=ZONE)  # National Day (1-7 October) paused
    later = make(shop_a, "N2", received=datetime(2026, 10, 2, 10, tzinfo=ZONE), category="urgent")
    assert later.due_at == datetime(2026, 10, 8, 11, tzinfo=ZONE)
    login_client(owner).post("/ops/settings/holiday-pause/", {})
    row.refresh_from_db()
    assert row.due_at == datetime(2026, 10, 1, 20, tzinfo=ZONE)


def test_supervisor_may_not_change_the_holiday_pause(shop_a: Shop, supervisor: StaffAccount) -> None:
    assert login_client(supervisor).post("/ops/settings/holiday-pause/", {"pause": "on"}).status_code == 403
    assert not service_requests.pauses_on_holidays(shop_a)
