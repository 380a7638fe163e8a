"""The supervisor's operations page (/ops/) and the staff lists of the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.timezone import localtime

from backoffice import tasks
from backoffice.models import OpsJobRun, ServiceRequest, Shop, StaffAccount
from backoffice.operations import packages, service_requests
from tests.conftest import login_client
from tests.ops.conftest import shipped, to_ship

pytestmark = pytest.mark.django_db


@pytest.fixture
def morning(shop_a: Shop, shop_b: Shop) -> None:
    """Shop A: a late order, one due soon, a parcel without pickup, an open ticket; shop B: a late order."""
    to_ship(shop_a, "A-LATE", ship_in=-timedelta(hours=2), prices=("3000.01",))
    to_ship(shop_a, "A-SOON", ship_in=timedelta(hours=3))
    shipped(shop_a, "A-PARCEL", ago=timedelta(hours=13))
    to_ship(shop_b, "B-LATE", ship_in=-timedelta(hours=2))
    service_requests.receive_service_requests(
        shop=shop_a,
        records=[
            {
                "number": "A-T1",
                "category": "urgent",
                "subject": "<b>催发货</b>",
                "received_at": timezone.now(),
            }
        ],
    )
    tasks.late_shipments()
    tasks.package_alerts()


def test_supervisor_sees_the_morning_check(morning: None, supervisor: StaffAccount) -> None:
    page = login_client(supervisor).get("/ops/")
    assert page.status_code == 200
    text = page.content.decode()
    assert text.index("A-LATE") < text.index("A-SOON")  # most urgent first
    assert "¥30.00" in text  # the voucher owed for the late order
    assert "A-PARCEL" in text and "B-LATE" not in text
    assert "&lt;b&gt;催发货&lt;/b&gt;" in text and "<b>催发货" not in text  # markup shown as text
    assert 'id="ops-pause"' not in text  # the holiday pause is the owner's
    assert "Content-Security-Policy" in page.headers


def test_owner_sees_the_holiday_pause_and_last_runs(morning: None, owner: StaffAccount) -> None:
    text = login_client(owner).get("/ops/").content.decode()
    assert 'id="ops-pause"' in text
    run = OpsJobRun.objects.get(name=packages.JOB)
    shown = text.split('data-job="packages">')[1].split("</span>")[0]
    assert localtime(run.finished_at).strftime("%m-%d %H:%M:%S") in shown


def test_page_queries_are_bounded(
    morning: None, supervisor: StaffAccount, shop_a: Shop, django_assert_max_num_queries: Any
) -> None:
    for i in range(20):
        to_ship(shop_a, f"MORE{i}", ship_in=timedelta(hours=1 + i))
    client = login_client(supervisor)
    with django_assert_max_num_queries(20):
        assert client.get("/ops/").status_code == 200


def test_agent_without_the_right_gets_403(teammate: StaffAccount) -> None:
    assert login_client(teammate).get("/ops/").status_code == 403


def test_anonymous_is_sent_to_sign_in(client: Any) -> None:
    assert client.get("/ops/").status_code == 302


def test_one_click_handled_from_the_page(morning: None, supervisor: StaffAccount) -> None:
    ticket = ServiceRequest.objects.get(number="A-T1")
    client = login_client(supervisor)
    assert client.post(f"/ops/service-requests/{ticket.pk}/handle/").status_code == 302
    assert client.post(f"/ops/service-requests/{ticket.pk}/handle/").status_code == 409
    assert "A-T1" not in client.get("/ops/").content.decode()


def test_api_lists_for_staff(morning: None, supervisor: StaffAccount, teammate: StaffAccount) -> None:
    client = login_client(supervisor)
    due = client.get("/api/v1/ops/shipping/due").json()
    assert [(o["number"], o["late"], o["voucher_amount"]) for o in due] == [
        ("A-LATE", True, "30.00"),
        ("A-SOON", False, None),
    ]
    assert [r["number"] for r in client.get("/api/v1/ops/service-requests/open").json()] == ["A-T1"]
    alerts = client.get("/api/v1/ops/package-alerts").json()
    assert [(a["order_number"], a["kind"]) for a in alerts] == [("A-PARCEL", "pickup_soon")]
    assert login_client(teammate).get("/api/v1/ops/package-alerts").status_code == 403
