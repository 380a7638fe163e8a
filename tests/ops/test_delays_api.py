"""The delay report center through the JSON API (the integration files a report with evidence and reads the
review decision, multipart, the same checks as the page), the shop's withdrawal and the platform admin's
review and delete: a deleted report's evidence files are deleted from the storage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client

from backoffice.models import DelayEvidence, DelayReport, Shop, StaffAccount
from backoffice.operations import delays
from tests.conftest import login_client
from tests.ops.conftest import to_ship
from tests.routing.images import image_bytes

pytestmark = pytest.mark.django_db
URL = "/api/v1/ops/delay-reports"
FILE = f"{URL}/file"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def png_file(name: str = "停发通知.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes("PNG", (40, 30)), content_type="image/png")


def file_report(client: Client, key: str, **fields: Any) -> Any:
    data = {"reason": "weather", **fields}
    return client.post(FILE, data, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_the_integration_files_a_report_and_reads_the_review_decision(
    client: Client, shop_a: Shop, key_a: str, media: Path
) -> None:
    to_ship(shop_a, "API-1", ship_in=timedelta(hours=3))
    to_ship(shop_a, "API-2", ship_in=timedelta(hours=3))
    made = file_report(client, key_a, order_numbers="API-1，API-2", note="暴雨", files=[png_file()])
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["status"], sorted(body["order_numbers"]), body["evidence"]) == (
        "pending",
        ["API-1", "API-2"],
        ["停发通知.png"],
    )
    assert len(stored_files(media)) == 1
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {key_a}"}
    review = client.post(
        f"{URL}/{body['id']}/review", {"status": "approved"}, content_type="application/json", **auth
    )
    assert review.status_code == 200
    decision = client.get(f"{URL}/{body['id']}", **auth).json()
    assert (decision["status"], decision["reviewed_at"] is not None) == ("approved", True)


def test_a_region_report_needs_its_period(client: Client, shop_a: Shop, key_a: str) -> None:
    assert file_report(client, key_a, region="浙江省", files=[png_file()]).status_code == 422
    made = file_report(
        client,
        key_a,
        region="浙江省",
        starts_at="2026-07-01T00:00:00+08:00",
        ends_at="2026-07-03T00:00:00+08:00",
        files=[png_file()],
    )
    assert made.status_code == 201 and made.json()["region"] == "浙江省"


@pytest.mark.parametrize(
    ("fields", "files"),
    [
        ({"order_numbers": "API-1"}, [SimpleUploadedFile("notice.pdf", image_bytes("PNG", (40, 30)))]),
        ({"order_numbers": "API-1"}, [SimpleUploadedFile("notice.png", b"just text, not an image")]),
        ({"order_numbers": "API-1"}, []),
        ({"order_numbers": "NOT-HERE"}, [png_file()]),
        ({"order_numbers": "B-ORDER"}, [png_file()]),  # another shop's order: unknown here
        ({"order_numbers": "API-1", "reason": "bad"}, [png_file()]),
        ({"order_numbers": "API-1", "note": "a\x00b"}, [png_file()]),
        ({}, [png_file()]),
    ],
)
def test_bad_reports_are_refused_with_nothing_stored(
    client: Client, shop_a: Shop, shop_b: Shop, key_a: str, media: Path, fields: Any, files: Any
) -> None:
    to_ship(shop_a, "API-1", ship_in=timedelta(hours=3))
    to_ship(shop_b, "B-ORDER", ship_in=timedelta(hours=3))
    answer = file_report(client, key_a, **fields, files=files)
    assert answer.status_code == 422, answer.content
    assert DelayReport.objects.count() == 0 and stored_files(media) == []


def test_an_oversized_file_is_refused(
    client: Client, shop_a: Shop, key_a: str, media: Path, settings: Any
) -> None:
    to_ship(shop_a, "API-1", ship_in=timedelta(hours=3))
    settings.DELAY_EVIDENCE_MAX_BYTES = 200
    big = SimpleUploadedFile("big.png", image_bytes("PNG", (400, 300)))
    answer = file_report(client, key_a, order_numbers="API-1", files=[big])
    assert answer.status_code == 422 and "MB" in answer.json()["detail"]
    assert stored_files(media) == []


def test_the_api_needs_the_shops_key_and_keeps_to_the_shop(
    client: Client, shop_a: Shop, key_a: str, key_b: str, supervisor: StaffAccount
) -> None:
    to_ship(shop_a, "API-1", ship_in=timedelta(hours=3))
    assert client.post(FILE, {"reason": "weather", "order_numbers": "API-1"}).status_code == 401
    made = file_report(client, key_a, order_numbers="API-1", files=[png_file()]).json()
    assert client.get(f"{URL}/{made['id']}", HTTP_AUTHORIZATION=f"Bearer {key_b}").status_code == 404
    assert client.get(f"{URL}/{made['id']}").status_code == 401
    assert login_client(supervisor).get(f"{URL}/{made['id']}").status_code == 401  # a key, not a session


def report_of(supervisor: StaffAccount, number: str) -> DelayReport:
    to_ship(supervisor.shop, number, ship_in=timedelta(hours=3))
    return delays.report_delay(
        actor=supervisor,
        reason="weather",
        order_numbers=[number],
        files=[delays.Upload(name="a.png", data=image_bytes("PNG", (20, 20)))],
    )


def test_withdrawing_a_pending_report_deletes_its_evidence_files(
    shop_a: Shop, supervisor: StaffAccount, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    report = report_of(supervisor, "W-1")
    assert len(stored_files(media)) == 1
    client = login_client(supervisor)
    page = client.get("/ops/delay-reports/").content.decode()
    assert f"/ops/delay-reports/{report.pk}/withdraw/" in page
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the delete commits
        answer = client.post(f"/ops/delay-reports/{report.pk}/withdraw/")
    assert answer.status_code == 302 and "withdrawn" in answer["Location"]
    assert DelayReport.objects.count() == 0 and DelayEvidence.objects.count() == 0
    assert stored_files(media) == []


def test_a_reviewed_report_cannot_be_withdrawn_and_another_shops_is_404(
    shop_a: Shop, supervisor: StaffAccount, outsider: StaffAccount, media: Path
) -> None:
    report = report_of(supervisor, "W-2")
    delays.review(report=report, status="rejected", note="证明不清晰")
    assert login_client(supervisor).post(f"/ops/delay-reports/{report.pk}/withdraw/").status_code == 409
    assert login_client(outsider).post(f"/ops/delay-reports/{report.pk}/withdraw/").status_code == 404
    assert DelayReport.objects.count() == 1 and len(stored_files(media)) == 1


def test_an_agent_may_not_withdraw(supervisor: StaffAccount, teammate: StaffAccount) -> None:
    report = report_of(supervisor, "W-3")
    assert login_client(teammate).post(f"/ops/delay-reports/{report.pk}/withdraw/").status_code == 403
    assert DelayReport.objects.filter(pk=report.pk).exists()


def test_a_rolled_back_delete_keeps_the_files(
    supervisor: StaffAccount, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    report = report_of(supervisor, "W-4")
    report_id = report.pk
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            delays.delete_report(report=report)
            raise RuntimeError("rolled back")
    assert callbacks == []  # the rolled-back block's file deletion never runs
    assert DelayReport.objects.filter(pk=report_id).exists() and len(stored_files(media)) == 1


def test_the_platform_admin_reviews_and_deletes_with_the_files(
    supervisor: StaffAccount, superuser: Any, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    approved, deleted = report_of(supervisor, "AD-1"), report_of(supervisor, "AD-2")
    admin = login_client(superuser)
    changelist = "/admin/backoffice/delayreport/"
    answer = admin.post(changelist, {"action": "approve", "_selected_action": [approved.pk]})
    assert answer.status_code == 302
    approved.refresh_from_db()
    assert approved.status == "approved"
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin.post(f"{changelist}{deleted.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert list(DelayReport.objects.values_list("pk", flat=True)) == [approved.pk]
    assert len(stored_files(media)) == 1  # only the approved report's file is left
    assert login_client(supervisor).post(
        f"{changelist}{approved.pk}/delete/", {"post": "yes"}
    ).status_code in {
        302,
        403,
        404,
    }
    assert DelayReport.objects.filter(pk=approved.pk).exists()  # shop staff never delete in admin
