"""Shop operations in the JSON API (mounted under /api/v1/ops/ by ``backoffice.urls``).

Integration (API key): the platform's service requests and pickup scans, pushed in batches (all-or-nothing,
422 naming each bad record), and an order's late-shipment record. Staff (session): the lists of the
operations page and the one-click "handled" of a service request."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.security import django_auth

from backoffice.access import responses, staff_with_right
from backoffice.api import Batch, PlatformId, Upserted, api_key_auth
from backoffice.models import (
    AfterSaleKind,
    AfterSaleOrderState,
    AfterSaleReason,
    AfterSaleRequest,
    DelayReason,
    DelayReport,
    DelayReportStatus,
    LateShipment,
    OpsAlert,
    Order,
    ServiceCategory,
    ServiceRequest,
)
from backoffice.operations import aftersale, alerts, delays, packages, service_requests, shipping
from backoffice.operations import views as aftersale_views
from backoffice.operations.views import HANDLE, VIEW
from backoffice.tenancy import get_for_shop_or_404
from backoffice.validation import DateTime, Id, Text

integration = Router(auth=api_key_auth, tags=["integration"])
staff_router = Router(auth=django_auth, tags=["staff"])
KEY_BATCH = responses(Upserted, 400, 422, forbidden=False)

Hours = Annotated[int, Field(ge=1, le=service_requests.MAX_AGREED_HOURS)]


class ServiceRequestIn(Schema, extra="forbid"):
    number: PlatformId
    category: ServiceCategory
    hours: Hours | None = Field(
        None, description="agreed: required, 2 or more; general (24) and urgent (2): optional, must match"
    )
    subject: Text = Field(min_length=1, max_length=500)
    received_at: DateTime
    order_number: PlatformId | None = None


class ServiceRequestBatch(Schema, extra="forbid"):
    records: list[ServiceRequestIn] = Batch


class PickupScanIn(Schema, extra="forbid"):
    order_number: PlatformId
    picked_up_at: DateTime


class PickupScanBatch(Schema, extra="forbid"):
    records: list[PickupScanIn] = Batch


class LateShipmentOut(Schema):
    order_number: str = Field(alias="order.number")
    ship_by: datetime
    detected_at: datetime
    unit_price: Decimal
    voucher_amount: Decimal = Field(description="yuan; a no-threshold voucher owed to the buyer, 0: none")


class DueOrderOut(Schema):
    number: str
    buyer_nickname: str = Field(alias="buyer.nickname")
    ship_by: datetime
    total_amount: Decimal
    late: bool
    voucher_amount: Decimal | None

    @staticmethod
    def resolve_late(obj: Order) -> bool:
        return hasattr(obj, "late_shipment")

    @staticmethod
    def resolve_voucher_amount(obj: Order) -> Decimal | None:
        late: LateShipment | None = getattr(obj, "late_shipment", None)
        return late.voucher_amount if late is not None else None


class ServiceRequestOut(Schema):
    id: int
    number: str
    category: str
    hours: int
    subject: str
    received_at: datetime
    due_at: datetime
    warn_at: datetime
    warned: bool
    state: str

    @staticmethod
    def resolve_warned(obj: ServiceRequest) -> bool:
        return obj.warned_at is not None


class PackageAlertOut(Schema):
    order_number: str = Field(alias="order.number")
    kind: str
    shipped_at: datetime
    created_at: datetime


class AfterSaleIn(Schema, extra="forbid"):
    number: PlatformId
    order_number: PlatformId
    kind: AfterSaleKind
    reason: AfterSaleReason
    note: Text = Field("", max_length=500)
    order_state: AfterSaleOrderState | None = Field(
        None, description="the order's state when the buyer applied; default: from the order's status now"
    )


class AfterSaleBatch(Schema, extra="forbid"):
    records: list[AfterSaleIn] = Batch


class AfterSaleNewIn(Schema, extra="forbid"):
    kind: AfterSaleKind
    reason: AfterSaleReason
    note: Text = Field("", max_length=500)


class AfterSaleActionIn(Schema, extra="forbid"):
    action: Literal["agree", "refuse", "intercept", "record_return", "refund"]
    detail: Text = Field("", max_length=500, description="refuse: the reason; record_return: tracking number")


class AfterSaleOut(Schema):
    id: int
    number: str
    order_number: str = Field(alias="order.number")
    kind: str
    order_state: str
    reason: str
    note: str
    state: str
    state_label: str
    refuse_reason: str
    return_tracking_number: str
    guide: str
    phrases: list[str] = Field(description="template-library codes of the quick phrases for its steps")
    actions: list[str] = Field(description="the actions open now")

    @staticmethod
    def resolve_state_label(obj: AfterSaleRequest) -> str:
        return str(obj.get_state_display())

    @staticmethod
    def resolve_guide(obj: AfterSaleRequest) -> str:
        return aftersale.guide(obj).text

    @staticmethod
    def resolve_phrases(obj: AfterSaleRequest) -> list[str]:
        return list(aftersale.guide(obj).phrases)

    @staticmethod
    def resolve_actions(obj: AfterSaleRequest) -> list[str]:
        return aftersale.next_actions(obj)


def _records(batch: Any) -> list[dict[str, Any]]:
    return [r.model_dump() for r in batch.records]


@integration.post(
    "/ops/service-requests",
    response=KEY_BATCH,
    summary="Push the platform's service requests (batch of 1-500)",
)
def push_service_requests(request: HttpRequest, batch: ServiceRequestBatch) -> dict[str, int]:
    """Idempotent on the ticket number: a ticket already stored keeps its clock."""
    shop = request.auth  # type: ignore[attr-defined]
    return {"upserted": service_requests.receive_service_requests(shop=shop, records=_records(batch))}


@integration.post("/ops/pickup-scans", response=KEY_BATCH, summary="Push pickup scans (batch of 1-500)")
def push_pickup_scans(request: HttpRequest, batch: PickupScanBatch) -> dict[str, int]:
    """Each order keeps its first pickup time; its open package-center records are closed."""
    shop = request.auth  # type: ignore[attr-defined]
    return {"upserted": packages.record_pickup_scans(shop=shop, records=_records(batch))}


@integration.post(
    "/ops/after-sales", response=KEY_BATCH, summary="Push the buyers' after-sale requests (batch of 1-500)"
)
def push_after_sales(request: HttpRequest, batch: AfterSaleBatch) -> dict[str, int]:
    """Idempotent on the after-sale number: a request already stored keeps its state."""
    shop = request.auth  # type: ignore[attr-defined]
    return {"upserted": aftersale.receive_requests(shop=shop, records=_records(batch))}


@integration.get(
    "/ops/orders/{number}/late-shipment",
    response=responses(LateShipmentOut, 404, 422, forbidden=False),
    summary="An order's late-shipment record and the voucher owed (404: not late, or no such order)",
)
def get_late_shipment(request: HttpRequest, number: PlatformId) -> LateShipment:
    qs = LateShipment.objects.select_related("order")
    return get_for_shop_or_404(qs, request.auth, order__number=number)  # type: ignore[attr-defined]


@staff_router.get(
    "/ops/shipping/due",
    response=responses(list[DueOrderOut]),
    summary="Orders to ship within 24 h, most urgent first (late ones with the voucher owed)",
)
def due_orders(request: HttpRequest) -> Any:
    staff = staff_with_right(request, VIEW)
    return list(shipping.waiting_to_ship(staff.shop))


@staff_router.get(
    "/ops/service-requests/open",
    response=responses(list[ServiceRequestOut]),
    summary="Open service requests, soonest due first",
)
def list_service_requests(request: HttpRequest) -> Any:
    staff = staff_with_right(request, VIEW)
    return list(service_requests.open_requests(staff.shop))


@staff_router.post(
    "/ops/service-requests/{request_id}/handle",
    response=responses(ServiceRequestOut, 404, 409, 422),
    summary="Mark a service request handled (409: no longer open)",
)
def handle_service_request(request: HttpRequest, request_id: Id) -> ServiceRequest:
    staff = staff_with_right(request, HANDLE)
    ticket = get_for_shop_or_404(ServiceRequest.objects.all(), staff.shop, pk=request_id)
    return service_requests.handle_service_request(actor=staff, request=ticket)


@staff_router.get(
    "/ops/package-alerts", response=responses(list[PackageAlertOut]), summary="Open package-center records"
)
def list_package_alerts(request: HttpRequest) -> Any:
    staff = staff_with_right(request, VIEW)
    return list(packages.open_alerts(staff.shop))


@staff_router.get(
    "/ops/after-sales/open",
    response=responses(list[AfterSaleOut]),
    summary="Open after-sale requests, oldest first, with the guide and the actions open now",
)
def list_after_sales(request: HttpRequest) -> Any:
    staff = staff_with_right(request, aftersale_views.VIEW_AFTER_SALE)
    return list(aftersale.open_requests(staff.shop))


@staff_router.post(
    "/ops/orders/{order_id}/after-sales",
    response=responses(AfterSaleOut, 400, 404, 409, 422, status=201),
    summary="An agent opens an after-sale request for an order, from the chat (409: one is open already)",
)
def create_after_sale(request: HttpRequest, order_id: Id, body: AfterSaleNewIn) -> Status[AfterSaleRequest]:
    staff = staff_with_right(request, aftersale_views.ADD_AFTER_SALE)
    order = get_for_shop_or_404(Order.objects.all(), staff.shop, pk=order_id)
    made = aftersale.create_request(
        shop=staff.shop, order=order, kind=body.kind, reason=body.reason, note=body.note, created_by=staff
    )
    return Status(201, made)


@staff_router.post(
    "/ops/after-sales/{after_sale_id}/actions",
    response=responses(AfterSaleOut, 400, 404, 409, 422),
    summary="Act on an after-sale request (422: not possible in its state; 409: changed meanwhile)",
)
def act_on_after_sale(request: HttpRequest, after_sale_id: Id, body: AfterSaleActionIn) -> AfterSaleRequest:
    staff = staff_with_right(request, aftersale_views.CHANGE_AFTER_SALE)
    found = get_for_shop_or_404(aftersale.requests_of(staff.shop), staff.shop, pk=after_sale_id)
    return aftersale.act(actor=staff, request=found, action=body.action, detail=body.detail)


class DelayReviewIn(Schema, extra="forbid"):
    status: Literal[DelayReportStatus.APPROVED, DelayReportStatus.REJECTED]
    note: Text = Field("", max_length=500)


class DelayReportOut(Schema):
    id: int
    reason: str
    note: str
    order_numbers: list[str]
    region: str
    starts_at: datetime | None
    ends_at: datetime | None
    status: str
    review_note: str
    reviewed_at: datetime | None
    evidence: list[str] = Field(description="the evidence files' names")

    @staticmethod
    def resolve_order_numbers(obj: DelayReport) -> list[str]:
        return [order.number for order in obj.orders.all()]

    @staticmethod
    def resolve_evidence(obj: DelayReport) -> list[str]:
        return [file.name for file in obj.evidence.all()]


class DelayReportForm(Schema):
    reason: DelayReason
    note: Text = Field("", max_length=500)
    order_numbers: Text = Field(
        "", max_length=5000, description="the orders' numbers, separated by spaces or commas"
    )
    region: Text = Field("", max_length=50, description="every order to this region in the period")
    starts_at: DateTime | None = Field(None, description="the period's start (a region's report needs it)")
    ends_at: DateTime | None = None


@integration.post(
    "/ops/delay-reports/file",
    response=responses(DelayReportOut, 400, 422, forbidden=False, status=201),
    summary="File a delay report with its evidence (multipart), pending the platform's review",
    description="Multipart form: the fields below and one or more ``files``, the evidence: PNG, JPEG or PDF, "
    "decided by the content, the name's extension saying the same type, at most ``DELAY_EVIDENCE_MAX_BYTES`` "
    "(5 MB) each, at most 10. Orders by number (of this shop) and/or a region with its period. 422 naming "
    "the first bad file or field; nothing is stored then.",
)
def file_delay_report(
    request: HttpRequest,
    form: Form[DelayReportForm],
    files: list[UploadedFile] = File(..., max_length=delays.MAX_FILES),  # type: ignore[type-arg]  # noqa: B008
) -> Status[DelayReport]:
    limit = int(settings.DELAY_EVIDENCE_MAX_BYTES)
    report = delays.report_delay(
        shop=request.auth,  # type: ignore[attr-defined]
        reason=form.reason,
        note=form.note,
        order_numbers=form.order_numbers.replace(",", " ").replace("，", " ").split(),
        region=form.region,
        starts_at=form.starts_at,
        ends_at=form.ends_at,
        files=[delays.Upload(name=f.name or "", data=f.read(limit + 1)) for f in files],  # over: refused
    )
    return Status(201, report)


@integration.get(
    "/ops/delay-reports/{report_id}",
    response=responses(DelayReportOut, 404, 422, forbidden=False),
    summary="A delay report of the shop with its review decision",
)
def get_delay_report(request: HttpRequest, report_id: Id) -> DelayReport:
    return get_for_shop_or_404(
        DelayReport.objects.prefetch_related("orders", "evidence"),
        request.auth,  # type: ignore[attr-defined]
        pk=report_id,
    )


@integration.post(
    "/ops/delay-reports/{report_id}/review",
    response=responses(DelayReportOut, 400, 404, 409, 422, forbidden=False),
    summary="The platform's review of a delay report (409: reviewed already); approval waives vouchers",
)
def review_delay_report(request: HttpRequest, report_id: Id, body: DelayReviewIn) -> DelayReport:
    report = get_for_shop_or_404(DelayReport.objects.all(), request.auth, pk=report_id)  # type: ignore[attr-defined]
    return delays.review(report=report, status=body.status, note=body.note)


@staff_router.get(
    "/ops/delay-reports",
    response=responses(list[DelayReportOut]),
    summary="The shop's delay reports, newest first",
)
def list_delay_reports(request: HttpRequest) -> Any:
    staff = staff_with_right(request, aftersale_views.VIEW_DELAYS)
    return delays.reports_of(staff.shop)


class AlertOut(Schema):
    id: int
    kind: str
    label: str
    ref: str = Field(description="the order's or the ticket's number")
    created_at: datetime

    @staticmethod
    def resolve_label(obj: OpsAlert) -> str:
        return str(obj.get_kind_display())


class AlertsOut(Schema):
    unread: int
    read_up_to: int
    items: list[AlertOut] = Field(description="the newest first, at most 50, after ``after``")


class AlertsQuery(Schema):
    after: Id | None = None


@staff_router.get(
    "/ops/alerts",
    response=responses(AlertsOut, 422),
    summary="The operations jobs' alerts of the shop (newer than ``after``) and the caller's unread count",
)
def list_alerts(request: HttpRequest, query: Query[AlertsQuery]) -> dict[str, Any]:
    staff = staff_with_right(request, VIEW)
    return {
        "unread": alerts.unread_count(staff),
        "read_up_to": alerts.read_up_to(staff),
        "items": list(alerts.latest(staff.shop, after=query.after or 0)),
    }


@staff_router.post(
    "/ops/alerts/read", response=responses(AlertsOut), summary="Mark the shop's alerts read (for the caller)"
)
def read_alerts(request: HttpRequest) -> dict[str, Any]:
    staff = staff_with_right(request, VIEW)
    return {"unread": 0, "read_up_to": alerts.mark_read(staff), "items": []}
