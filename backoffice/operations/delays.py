"""The delay report center (报备中心): the shop reports a delay (weather, epidemic, courier suspended, a
buyer's own requested date) for a set of orders, or for every order to a region in a period, with evidence;
the platform reviews it (through the integration API); an approved report means the orders it covers owe
no late-shipment compensation, also for orders already found late (their voucher becomes 0, ``waived_by``).

Coverage: an order is covered by an approved report of its shop that lists it, or whose region is part of
the order's address and whose period (``starts_at`` .. ``ends_at``) holds the order's ship-by time.

Evidence (the courier's stamped notice): PNG, JPEG or PDF, decided by the content, and the file's name must
say the same type (a PNG named .pdf, a text named .png: refused); at most ``DELAY_EVIDENCE_MAX_BYTES``
(5 MB by default) each, at most ``MAX_FILES`` a report. Stored as ``delay/<shop id>/<32 hex>.<ext>`` under
``MEDIA_ROOT`` (outside the web root: no URL serves that folder), served by ``evidence_file`` only to the
shop's staff with the right to see reports, as a download. A report is deleted only through
``delete_report``, which removes its files from the storage too (the shop withdraws a pending report; the
platform admin deletes any).
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from backoffice.errors import Conflict, Invalid
from backoffice.models import (
    DelayEvidence,
    DelayReason,
    DelayReport,
    DelayReportStatus,
    LateShipment,
    Order,
    Shop,
    StaffAccount,
)
from backoffice.services import delete_stored_files
from backoffice.validation import clean_text

MAX_FILES = 10
# detected type -> (content type, the extensions a name of that type may have)
TYPES = {
    "PNG": ("image/png", {"png"}),
    "JPEG": ("image/jpeg", {"jpg", "jpeg"}),
    "PDF": ("application/pdf", {"pdf"}),
}


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def _refused(message: str, index: int) -> Invalid:
    return Invalid(message, errors=[{"field": "files", "index": index, "message": message}])


def detect(data: bytes) -> str | None:
    """PNG, JPEG or PDF by the content (Pillow decodes an image fully; a PDF starts with ``%PDF-`` and has an
    end-of-file marker), or None."""
    if data.startswith(b"%PDF-"):
        return "PDF" if b"%%EOF" in data[-1024:] else None
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return kind if kind in TYPES else None


def check_evidence(files: Sequence[Upload]) -> list[tuple[Upload, str]]:
    """Each file with its detected type, or Invalid naming the first bad one: empty, too large, not an
    image or PDF, or named as another type than it is."""
    if len(files) > MAX_FILES:
        raise Invalid(_("At most %(n)d files a report.") % {"n": MAX_FILES})
    limit = int(settings.DELAY_EVIDENCE_MAX_BYTES)
    checked = []
    for index, upload in enumerate(files):
        clean_text(upload.name, 200, field="files")
        if not upload.data:
            raise _refused(_("The file is empty."), index)
        if len(upload.data) > limit:
            raise _refused(_("A file may be at most %(mb)s MB.") % {"mb": f"{limit / 1024 / 1024:g}"}, index)
        kind = detect(upload.data)
        if kind is None:
            raise _refused(_("Only PNG or JPEG images and PDF files can be evidence."), index)
        extension = upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
        if extension not in TYPES[kind][1]:
            raise _refused(
                _("“%(name)s” is not what its name says: its content is %(kind)s.")
                % {"name": upload.name, "kind": kind},
                index,
            )
        checked.append((upload, kind))
    return checked


def _shop_of(actor: StaffAccount | None, shop: Shop | None) -> Shop:
    if shop is not None:
        return shop
    if actor is None:
        raise ValueError("report_delay needs the actor or the shop")
    return actor.shop


def report_delay(
    *,
    actor: StaffAccount | None = None,
    shop: Shop | None = None,
    reason: str,
    note: str = "",
    order_numbers: Iterable[str] = (),
    region: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    files: Sequence[Upload] = (),
) -> DelayReport:
    """File a delay report of the actor's shop (the staff page) or of ``shop`` (the integration, no actor),
    pending review. It names orders of the shop, or a region with its period (both may be given). Refused
    (Invalid, nothing written, no file kept): no orders and no region, an order number the shop does not
    have, a region without its period or a period ending before it starts, no evidence, bad evidence."""
    shop = _shop_of(actor, shop)
    if reason not in DelayReason.values:
        raise Invalid(_("Unknown reason."), errors=[{"field": "reason", "message": reason}])
    note = clean_text(note.strip(), 500, field="note")
    region = clean_text(region.strip(), 50, field="region")
    numbers = sorted({clean_text(n.strip(), 64, field="orders") for n in order_numbers if n.strip()})
    if not numbers and not region:
        raise Invalid(_("Name the orders or the region the delay covers."))
    orders = list(Order.objects.for_shop(shop).filter(number__in=numbers))
    if unknown := sorted(set(numbers) - {o.number for o in orders}):
        raise Invalid(
            _("Unknown orders in this shop: %(numbers)s") % {"numbers": ", ".join(unknown)},
            errors=[{"field": "orders", "message": n} for n in unknown],
        )
    if region and (starts_at is None or ends_at is None):
        raise Invalid(_("A region's delay needs its period (from and until)."))
    if starts_at and ends_at and ends_at < starts_at:
        raise Invalid(_("The period ends before it starts."))
    if not files:
        raise Invalid(_("Attach the courier's notice or another proof."), errors=[{"field": "files"}])
    checked = check_evidence(files)
    stored: list[str] = []
    try:
        with transaction.atomic():
            report = DelayReport.objects.create(
                shop=shop,
                reason=reason,
                note=note,
                region=region,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=actor,
            )
            report.orders.set(orders)
            for upload, kind in checked:
                content_type, extensions = TYPES[kind]
                name = f"delay/{shop.pk}/{secrets.token_hex(16)}.{sorted(extensions)[0]}"
                path = default_storage.save(name, ContentFile(upload.data))
                stored.append(path)
                DelayEvidence.objects.create(
                    report=report,
                    name=upload.name,
                    content_type=content_type,
                    size=len(upload.data),
                    path=path,
                )
    except BaseException:
        for path in stored:  # the rows are rolled back: their files go too
            default_storage.delete(path)
        raise
    return report


def delete_report(*, report: DelayReport) -> None:
    """Delete the report with its evidence rows and, once that commits, the evidence files from the storage
    (a rolled-back delete keeps them; a file already gone is no error). Every deletion goes through here:
    the shop's withdrawal and the platform admin's delete."""
    paths = list(DelayEvidence.objects.filter(report=report).values_list("path", flat=True))
    with transaction.atomic():
        report.delete()
        transaction.on_commit(lambda: delete_stored_files(paths))


def shop_files(shop: Shop) -> list[str]:
    """The storage paths of the evidence of the shop's reports (``SHOP_FILES``: deleted with the shop)."""
    return list(DelayEvidence.objects.filter(report__shop=shop).values_list("path", flat=True))


def withdraw(*, report: DelayReport) -> None:
    """The shop withdraws a report still pending review (deleted with its evidence, ``delete_report``). A
    reviewed one stays: it is the platform's decision, and an approval may have waived vouchers (Conflict)."""
    with transaction.atomic():
        locked = DelayReport.objects.select_for_update().filter(pk=report.pk).first()
        if locked is None or locked.status != DelayReportStatus.PENDING:
            raise Conflict(_("Only a report still awaiting review can be withdrawn."))
        delete_report(report=locked)


def covering_reports(shop_ids: Iterable[int]) -> list[DelayReport]:
    return list(
        DelayReport.objects.filter(shop_id__in=set(shop_ids), status=DelayReportStatus.APPROVED).exclude(
            region=""
        )
    )


def covering_report(order: Order, listed: dict[int, int], regional: Sequence[DelayReport]) -> int | None:
    """The id of an approved report covering ``order``: one that lists it (``listed``: order id -> report
    id, from ``listing_reports``), else a regional one of its shop (``covering_reports``) whose region is in
    the order's address and whose period holds its ship-by time."""
    if order.pk in listed:
        return listed[order.pk]
    for report in regional:
        if (
            report.shop_id == order.shop_id
            and report.region in order.address
            and order.ship_by is not None
            and report.starts_at is not None
            and report.ends_at is not None
            and report.starts_at <= order.ship_by <= report.ends_at
        ):
            return report.pk
    return None


def listing_reports(order_ids: Iterable[int]) -> dict[int, int]:
    """order id -> an approved report listing it."""
    through = DelayReport.orders.through
    rows = through.objects.filter(
        order_id__in=list(order_ids), delayreport__status=DelayReportStatus.APPROVED
    ).values_list("order_id", "delayreport_id")
    return dict(rows)


@transaction.atomic
def review(*, report: DelayReport, status: str, note: str = "") -> DelayReport:
    """The platform's answer: approved or rejected, once (a reviewed report is a Conflict). Approval waives
    the vouchers of the covered orders already found late."""
    if status not in {DelayReportStatus.APPROVED, DelayReportStatus.REJECTED}:
        raise Invalid(_("A review approves or rejects."), errors=[{"field": "status", "message": status}])
    changed = DelayReport.objects.filter(pk=report.pk, status=DelayReportStatus.PENDING).update(
        status=status, review_note=clean_text(note, 500, field="note"), reviewed_at=Now()
    )
    if not changed:
        raise Conflict(_("This delay report has been reviewed already."))
    report.refresh_from_db()
    if status == DelayReportStatus.APPROVED:
        waived = LateShipment.objects.filter(waived_by__isnull=True, shop_id=report.shop_id).filter(
            Q(order__in=report.orders.all())
            | (
                Q(
                    order__address__contains=report.region,
                    ship_by__gte=report.starts_at,
                    ship_by__lte=report.ends_at,
                )
                if report.region
                else Q(pk__in=[])
            )
        )
        waived.update(voucher_amount=0, waived_by=report)
    return report


def reports_of(shop: Shop) -> list[DelayReport]:
    return list(
        DelayReport.objects.for_shop(shop).prefetch_related("orders", "evidence").order_by("-created_at")
    )
