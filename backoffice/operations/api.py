"""Shop operations in the JSON API (mounted under /api/v1/ops/ by ``backoffice.urls``).

Integration (API key): the platform's service requests and pickup scans, pushed in batches (all-or-nothing,
422 naming each bad record), and an order's late-shipment record. Staff (session): the lists of the
operations page and the one-click "handled" of a service request."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.security import django_auth

from backoffice.access import responses, staff_with_right
from backoffice.api import Batch, PlatformId, Upserted, api_key_auth
from backoffice.models import LateShipment, Order, ServiceCategory, ServiceRequest
from backoffice.operations import packages, service_requests, shipping
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
