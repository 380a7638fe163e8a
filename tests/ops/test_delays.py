"""The delay report center: reports with type-checked, size-limited evidence kept outside the web root and
served only to the shop's staff; the platform's review; an approved report means no compensation."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from backoffice import tasks
from backoffice.errors import Invalid
from backoffice.models import DelayEvidence, DelayReport, LateShipment, Shop, StaffAccount
from backoffice.operations import delays
from tests.conftest import login_client
from tests.ops.conftest import to_ship
from tests.routing.images import image_bytes

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def png(name: str = "notice.png") -> delays.Upload:
    return delays.Upload(name=name, data=image_bytes("PNG", (40, 30)))


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def test_report_with_orders_and_evidence_is_filed_pending(
    shop_a: Shop, supervisor: StaffAccount, media: Path
) -> None:
    to_ship(shop_a, "D1", ship_in=timedelta(hours=5))
    report = delays.report_delay(
        actor=supervisor,
        reason="weather",
        order_numbers=["D1"],
        files=[png(), delays.Upload(name="盖章证明.PDF", data=PDF)],
    )
    assert report.status == "pending"
    assert [o.number for o in report.orders.all()] == ["D1"]
    files = stored_files(media)
    assert len(files) == 2 and all(len(f.stem) == 32 for f in files)  # random names, not the uploaded ones
    assert sorted(e.content_type for e in report.evidence.all()) == ["application/pdf", "image/png"]


@pytest.mark.parametrize(
    "upload",
    [
        delays.Upload(name="notice.pdf", data=image_bytes("PNG", (40, 30))),  # a PNG named .pdf
        delays.Upload(name="notice.png", data=b"just some text"),  # text named .png
        delays.Upload(name="notice.png", data=b""),
        delays.Upload(name="notice.pdf", data=b"%PDF-1.4 truncated"),
        delays.Upload(name="notice.jpg", data=image_bytes("PNG", (40, 30))),
        delays.Upload(name="notice", data=PDF),
    ],
)
def test_evidence_not_what_its_name_says_is_refused_and_nothing_written(
    shop_a: Shop, supervisor: StaffAccount, media: Path, upload: delays.Upload
) -> None:
    to_ship(shop_a, "D2", ship_in=timedelta(hours=5))
    with pytest.raises(Invalid) as refused:
        delays.report_delay(actor=supervisor, reason="epidemic", order_numbers=["D2"], files=[png(), upload])
    assert refused.value.errors[0]["index"] == 1
    assert not DelayReport.objects.exists() and stored_files(media) == []


def test_too_large_evidence_is_refused(
    shop_a: Shop, supervisor: StaffAccount, settings: Any, media: Path
) -> None:
    settings.DELAY_EVIDENCE_MAX_BYTES = len(PDF) - 1
    to_ship(shop_a, "D3", ship_in=timedelta(hours=5))
    with pytest.raises(Invalid):
        delays.report_delay(
            actor=supervisor, reason="other", order_numbers=["D3"], files=[delays.Upload("a.pdf", PDF)]
        )
    assert not DelayReport.objects.exists() and stored_files(media) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"order_numbers": []},  # neither orders nor region
        {"order_numbers": ["NOT-OURS"]},
        {"order_numbers": [], "region": "浙江省"},  # a region without its period
        {"order_numbers": ["D4"], "files": []},  # no evidence
        {"order_numbers": ["D4"], "reason": "bored"},
    ],
)
def test_incomplete_report_is_refused(shop_a: Shop, supervisor: StaffAccount, kwargs: dict[str, Any]) -> None:
    to_ship(shop_a, "D4", ship_in=timedelta(hours=5))
    arguments = {"reason": "weather", "files": [png()], **kwargs}
    with pytest.raises(Invalid):
        delays.report_delay(actor=supervisor, **arguments)
    assert not DelayReport.objects.exists()


def test_another_shops_order_is_unknown(shop_a: Shop, shop_b: Shop, outsider: StaffAccount) -> None:
    to_ship(shop_a, "D5", ship_in=timedelta(hours=5))
    with pytest.raises(Invalid):
        delays.report_delay(actor=outsider, reason="weather", order_numbers=["D5"], files=[png()])


def review(client: Client, key: str, report: DelayReport, status: str) -> Any:
    return client.post(
        f"/api/v1/ops/delay-reports/{report.pk}/review",
        json.dumps({"status": status}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_approved_report_means_no_compensation(
    client: Client, shop_a: Shop, supervisor: StaffAccount, key_a: str, key_b: str
) -> None:
    to_ship(shop_a, "COVERED", ship_in=-timedelta(minutes=5), prices=("500.00",))
    to_ship(shop_a, "NOT-COVERED", ship_in=-timedelta(minutes=5), prices=("500.00",))
    report = delays.report_delay(actor=supervisor, reason="weather", order_numbers=["COVERED"], files=[png()])
    assert review(client, key_b, report, "approved").status_code == 404
    assert review(client, key_a, report, "approved").status_code == 200
    assert review(client, key_a, report, "rejected").status_code == 409  # reviewed once
    tasks.late_shipments()
    covered = LateShipment.objects.get(order__number="COVERED")
    assert (covered.voucher_amount, covered.waived_by_id) == (Decimal("0.00"), report.pk)
    assert LateShipment.objects.get(order__number="NOT-COVERED").voucher_amount == Decimal("5.00")


def test_approval_after_the_order_was_found_late_waives_its_voucher(
    client: Client, shop_a: Shop, supervisor: StaffAccount, key_a: str
) -> None:
    now = timezone.now()
    to_ship(shop_a, "R1", ship_in=-timedelta(hours=1), prices=("500.00",), address="浙江省杭州市西湖区1号")
    to_ship(shop_a, "R2", ship_in=-timedelta(hours=1), prices=("500.00",), address="江苏省南京市2号")
    tasks.late_shipments()
    report = delays.report_delay(
        actor=supervisor,
        reason="courier_suspended",
        region="浙江省杭州市",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        files=[png()],
    )
    assert review(client, key_a, report, "approved").status_code == 200
    assert LateShipment.objects.get(order__number="R1").voucher_amount == 0
    assert LateShipment.objects.get(order__number="R2").voucher_amount == Decimal("5.00")


def test_rejected_report_changes_nothing(
    client: Client, shop_a: Shop, supervisor: StaffAccount, key_a: str
) -> None:
    to_ship(shop_a, "J1", ship_in=-timedelta(minutes=5), prices=("500.00",))
    report = delays.report_delay(actor=supervisor, reason="weather", order_numbers=["J1"], files=[png()])
    assert review(client, key_a, report, "rejected").status_code == 200
    tasks.late_shipments()
    assert LateShipment.objects.get(order__number="J1").voucher_amount == Decimal("5.00")


def test_evidence_is_served_only_to_the_shops_staff(
    shop_a: Shop, supervisor: StaffAccount, outsider: StaffAccount, teammate: StaffAccount
) -> None:
    to_ship(shop_a, "E1", ship_in=timedelta(hours=5))
    report = delays.report_delay(
        actor=supervisor, reason="weather", order_numbers=["E1"], files=[delays.Upload("证明.pdf", PDF)]
    )
    evidence = DelayEvidence.objects.get(report=report)
    url = f"/ops/delay-reports/evidence/{evidence.pk}/"
    got = login_client(supervisor).get(url)
    assert got.status_code == 200 and b"".join(got.streaming_content) == PDF  # type: ignore[attr-defined]
    assert got["Content-Type"] == "application/pdf" and "attachment" in got["Content-Disposition"]
    assert login_client(outsider).get(url).status_code == 404
    assert login_client(teammate).get(url).status_code == 403
    assert Client().get(url).status_code == 302  # to sign in


def test_page_files_a_report_and_shows_a_clear_error(
    shop_a: Shop, supervisor: StaffAccount, media: Path
) -> None:
    to_ship(shop_a, "P1", ship_in=timedelta(hours=5))
    client = login_client(supervisor)
    bad = SimpleUploadedFile("notice.png", b"%PDF-1.4\n%%EOF", content_type="image/png")
    answer = client.post("/ops/delay-reports/", {"reason": "weather", "orders": "P1", "files": [bad]})
    assert answer.status_code == 422 and 'id="delay-error"' in answer.content.decode()
    assert not DelayReport.objects.exists()
    good = SimpleUploadedFile("notice.png", image_bytes("PNG", (40, 30)), content_type="image/png")
    answer = client.post("/ops/delay-reports/", {"reason": "weather", "orders": "P1, ", "files": [good]})
    assert answer.status_code == 302
    page = client.get("/ops/delay-reports/").content.decode()
    assert "P1" in page and "notice.png" in page
    malformed = client.post("/ops/delay-reports/", {"reason": "weather", "region": "浙江", "starts_at": "x"})
    assert malformed.status_code == 422
