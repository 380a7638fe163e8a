"""Alerts of the operations jobs: one per row a task acted on (also when two runs race), the notification
list with each account's unread count, mark-all-read, and shop scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice import tasks
from backoffice.models import OpsAlert, ServiceRequest, Shop, StaffAccount
from backoffice.operations import alerts, service_requests
from tests.conftest import login_client
from tests.ops.conftest import shipped, to_ship

pytestmark = pytest.mark.django_db


def test_each_job_records_one_alert_per_row(shop_a: Shop) -> None:
    to_ship(shop_a, "LATE", ship_in=-timedelta(minutes=1))
    shipped(shop_a, "PARCEL", ago=timedelta(hours=25))
    now = timezone.now()
    service_requests.receive_service_requests(
        shop=shop_a, records=[{"number": "T1", "category": "urgent", "subject": "工单", "received_at": now}]
    )
    ServiceRequest.objects.update(warn_at=now - timedelta(minutes=2), due_at=now - timedelta(minutes=1))
    for _run in range(2):
        tasks.late_shipments()
        tasks.package_alerts()
        tasks.service_request_warnings()
        tasks.service_request_settlement()
    assert sorted(OpsAlert.objects.values_list("kind", "ref")) == [
        ("false_shipment", "PARCEL"),
        ("late_shipment", "LATE"),
        ("request_settled", "T1"),
        ("request_warning", "T1"),
    ]


def test_unread_count_is_per_account_and_mark_read_clears_it(
    shop_a: Shop, supervisor: StaffAccount, owner: StaffAccount
) -> None:
    to_ship(shop_a, "L1", ship_in=-timedelta(minutes=1))
    tasks.late_shipments()
    client = login_client(supervisor)
    listed = client.get("/api/v1/ops/alerts").json()
    assert listed["unread"] == 1 and [i["ref"] for i in listed["items"]] == ["L1"]
    assert client.post("/api/v1/ops/alerts/read").json()["unread"] == 0
    assert alerts.unread_count(supervisor) == 0 and alerts.unread_count(owner) == 1
    to_ship(shop_a, "L2", ship_in=-timedelta(minutes=1))
    tasks.late_shipments()
    newer = client.get(f"/api/v1/ops/alerts?after={listed['items'][0]['id']}").json()
    assert newer["unread"] == 1 and [i["ref"] for i in newer["items"]] == ["L2"]


def test_alerts_stay_in_their_shop(
    shop_a: Shop, shop_b: Shop, outsider: StaffAccount, teammate: StaffAccount
) -> None:
    to_ship(shop_a, "A-L", ship_in=-timedelta(minutes=1))
    tasks.late_shipments()
    assert login_client(outsider).get("/api/v1/ops/alerts").json() == {
        "unread": 0,
        "read_up_to": 0,
        "items": [],
    }
    assert login_client(teammate).get("/api/v1/ops/alerts").status_code == 403


def test_page_shows_the_list_and_the_unread_badge(shop_a: Shop, supervisor: StaffAccount) -> None:
    to_ship(shop_a, "L3", ship_in=-timedelta(minutes=1))
    tasks.late_shipments()
    text = login_client(supervisor).get("/ops/").content.decode()
    assert 'id="ops-unread">1</span>' in text and "L3" in text.split('id="ops-alert-list"')[1]
