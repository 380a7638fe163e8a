"""The supervisor's operations page (/ops/): the morning and evening check of seed 002 on one page: orders
to ship within 24 h by urgency (late ones with the voucher owed), the package center's open records, the
open service requests with their deadlines and warnings, and when the checks last ran. Signed-in staff of
the shop with the right to see late shipments (owner, administrator, CS supervisor, operations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from backoffice.access import has_right
from backoffice.errors import Conflict, DomainError, Invalid
from backoffice.models import DelayEvidence, DelayReason, DelayReport, ServiceRequest, StaffAccount
from backoffice.operations import aftersale, alerts, delays, jobs, packages, service_requests, shipping
from backoffice.tenancy import get_for_shop_or_404
from backoffice.validation import MAX_DATETIME, MIN_DATETIME

VIEW = "backoffice.view_packagealert"  # owner, administrator, CS supervisor, operations
HANDLE = "backoffice.change_servicerequest"
SETTINGS = "backoffice.change_opssettings"
VIEW_DELAYS = "backoffice.view_delayreport"
ADD_DELAY = "backoffice.add_delayreport"
WITHDRAW_DELAY = "backoffice.delete_delayreport"
VIEW_AFTER_SALE = "backoffice.view_aftersalerequest"
ADD_AFTER_SALE = "backoffice.add_aftersalerequest"
CHANGE_AFTER_SALE = "backoffice.change_aftersalerequest"


def _staff(request: HttpRequest, right: str) -> StaffAccount | None:
    staff: StaffAccount | None = getattr(request, "staff", None)
    return staff if has_right(staff, right) else None


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "ops/forbidden.html", status=403)


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    staff = _staff(request, VIEW)
    if staff is None:
        return _forbidden(request)
    shop = staff.shop
    runs = jobs.last_runs()
    context: dict[str, Any] = {
        "due": list(shipping.waiting_to_ship(shop)),
        "alerts": list(packages.open_alerts(shop)),
        "requests": list(service_requests.open_requests(shop)),
        "pause": service_requests.pauses_on_holidays(shop),
        "can_handle": has_right(staff, HANDLE),
        "after_sales": list(aftersale.open_requests(shop)),
        "can_act": has_right(staff, CHANGE_AFTER_SALE),
        "can_configure": has_right(staff, SETTINGS),
        "runs": [
            (label, runs.get(name))
            for name, label in (
                (shipping.JOB, "late"),
                (packages.JOB, "packages"),
                (service_requests.WARN_JOB, "warn"),
                (service_requests.SETTLE_JOB, "settle"),
            )
        ],
        "done": request.GET.get("done", ""),
        "alerts_list": list(alerts.latest(shop)[:20]),
        "unread": alerts.unread_count(staff),
        "read_up_to": alerts.read_up_to(staff),
        "alerts_config": {"socket": "/ws/ops/", "api": "/api/v1/ops/alerts"},
    }
    return render(request, "ops/overview.html", context)


@login_required
@require_POST
def handle_request(request: HttpRequest, request_id: int) -> HttpResponse:
    """One click: the ticket was answered. Another shop's ticket is a 404; one no longer open, a 409 page."""
    staff = _staff(request, HANDLE)
    if staff is None:
        return _forbidden(request)
    ticket = get_for_shop_or_404(ServiceRequest.objects.all(), staff.shop, pk=request_id)
    try:
        service_requests.handle_service_request(actor=staff, request=ticket)
    except Conflict as exc:
        return render(request, "ops/refused.html", {"message": exc.message}, status=409)
    return HttpResponseRedirect(reverse("ops:overview") + "?done=handled")


@login_required
@require_POST
def holiday_pause(request: HttpRequest) -> HttpResponse:
    """The owner (or an administrator) turns the holiday pause of the service-request clock on or off."""
    staff = _staff(request, SETTINGS)
    if staff is None:
        return _forbidden(request)
    service_requests.set_holiday_pause(shop=staff.shop, pause=request.POST.get("pause") == "on")
    return HttpResponseRedirect(reverse("ops:overview") + "?done=settings")


@login_required
@require_POST
def act_after_sale(request: HttpRequest, after_sale_id: int) -> HttpResponse:
    """One click on an after-sale request (the form of the operations page and of the buyer panel without
    its script). Another shop's request is a 404; an action not possible now, a page saying why."""
    staff = _staff(request, CHANGE_AFTER_SALE)
    if staff is None:
        return _forbidden(request)
    found = get_for_shop_or_404(aftersale.requests_of(staff.shop), staff.shop, pk=after_sale_id)
    try:
        aftersale.act(
            actor=staff,
            request=found,
            action=request.POST.get("action", ""),
            detail=request.POST.get("detail", ""),
        )
    except DomainError as exc:
        return render(request, "ops/refused.html", {"message": exc.message}, status=exc.status)
    return HttpResponseRedirect(reverse("ops:overview") + "?done=after_sale#ops-after-sales")


def _period(raw: str) -> datetime | None:
    """A ``datetime-local`` form value in shop time, or None (empty); Invalid: malformed, out of range."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(_("Enter a date and time.")) from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if not MIN_DATETIME <= value < MAX_DATETIME:
        raise Invalid(_("Enter a date and time."))
    return value


@login_required
def delay_reports(request: HttpRequest) -> HttpResponse:
    """The delay report center: the shop's reports with their review status and evidence, and the form to
    file one (orders by number, and/or a region with its period; evidence files)."""
    staff = _staff(request, VIEW_DELAYS)
    if staff is None:
        return _forbidden(request)
    error = ""
    if request.method == "POST":
        if not has_right(staff, ADD_DELAY):
            return _forbidden(request)
        limit = int(settings.DELAY_EVIDENCE_MAX_BYTES)
        try:
            delays.report_delay(
                actor=staff,
                reason=request.POST.get("reason", ""),
                note=request.POST.get("note", ""),
                order_numbers=request.POST.get("orders", "").replace(",", " ").replace("，", " ").split(),
                region=request.POST.get("region", ""),
                starts_at=_period(request.POST.get("starts_at", "")),
                ends_at=_period(request.POST.get("ends_at", "")),
                files=[
                    delays.Upload(name=f.name or "", data=f.read(limit + 1))  # over the limit: refused
                    for f in request.FILES.getlist("files")
                ],
            )
        except DomainError as exc:
            error = exc.message
        else:
            return HttpResponseRedirect(reverse("ops:delay-reports") + "?done=filed")
    elif request.method != "GET":
        return HttpResponse(status=405)
    context = {
        "reports": delays.reports_of(staff.shop),
        "reasons": DelayReason.choices,
        "can_file": has_right(staff, ADD_DELAY),
        "can_withdraw": has_right(staff, WITHDRAW_DELAY),
        "error": error,
        "form": request.POST if error else {},
        "done": request.GET.get("done", ""),
    }
    return render(request, "ops/delays.html", context, status=422 if error else 200)


@login_required
@require_POST
def withdraw_delay_report(request: HttpRequest, report_id: int) -> HttpResponse:
    """Withdraw a pending report of the shop (deleted with its evidence files); a reviewed one: 409 page."""
    staff = _staff(request, WITHDRAW_DELAY)
    if staff is None:
        return _forbidden(request)
    report = get_for_shop_or_404(DelayReport.objects.all(), staff.shop, pk=report_id)
    try:
        delays.withdraw(report=report)
    except DomainError as exc:
        return render(request, "ops/refused.html", {"message": exc.message}, status=exc.status)
    return HttpResponseRedirect(reverse("ops:delay-reports") + "?done=withdrawn")


@login_required
@require_GET
def evidence_file(request: HttpRequest, evidence_id: int) -> HttpResponseBase:
    """One evidence file, as a download, to the shop's staff who may see its reports; another shop's is a
    404 like a missing one."""
    staff = _staff(request, VIEW_DELAYS)
    if staff is None:
        return _forbidden(request)
    evidence = get_for_shop_or_404(DelayEvidence.objects.all(), staff.shop, pk=evidence_id)
    try:
        handle = default_storage.open(evidence.path, "rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle, as_attachment=True, filename=evidence.name, content_type=evidence.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
