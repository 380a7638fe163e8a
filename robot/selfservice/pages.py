"""The owner's settings pages of buyer self-service (server-rendered forms, no JSON to type), each behind
its right: FAQ (``configure_faq``), self-service cards and follow-up messages (``configure_self_service``),
the service window (``configure_service_window``). A POST names its operation (``op``) and goes through one
service; a refusal is shown on the page (status 422) and nothing is written; without the right: 403."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from backoffice.access import Right, has_right
from backoffice.errors import DomainError, Invalid
from backoffice.models import Product, StaffAccount
from backoffice.validation import parse_id
from robot.models import CardKind, FollowUp, ProductCareNote, WindowBar, WindowEntryKind
from robot.selfservice import cards, faq, followup, window
from robot.switch import full_auto_on


def _staff(request: HttpRequest, right: str) -> StaffAccount | None:
    staff: StaffAccount | None = getattr(request, "staff", None)
    return staff if staff is not None and has_right(staff, right) else None


RECENT_FOLLOW_UPS = 30


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "robot/forbidden.html", status=403)


def _post(
    request: HttpRequest, do: Callable[[], Any], render_page: Callable[[list[str]], HttpResponse]
) -> HttpResponse:
    """Run the operation; on success back to the page (GET) with "saved", else the page with the errors."""
    try:
        do()
    except DomainError as exc:
        details = [str(e.get("message")) for e in exc.errors if e.get("message")]
        response = render_page([exc.message, *[d for d in details if d != exc.message]])
        response.status_code = 404 if exc.status == 404 else 422
        return response
    messages.success(request, _("Saved."))
    return HttpResponseRedirect(request.path)


def _id(request: HttpRequest, name: str) -> int:
    value = parse_id(request.POST.get(name))
    if value is None:
        raise Invalid(_("Enter a valid id."))
    return value


# --- FAQ ---------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def faq_page(request: HttpRequest) -> HttpResponse:
    staff = _staff(request, Right.CONFIGURE_FAQ)
    if staff is None:
        return _forbidden(request)

    def page(errors: list[str]) -> HttpResponse:
        items = faq.questions_of(staff.shop)
        context = {
            "opening": faq.opening_of(staff.shop),
            "items": items,
            "full": len(items) >= faq.MAX_QUESTIONS,
            "max_questions": faq.MAX_QUESTIONS,
            "errors": errors,
            "robot_on": full_auto_on(staff.shop_id),
        }
        return render(request, "robot/faq_settings.html", context)

    if request.method == "GET":
        return page([])
    post = request.POST
    operations: dict[str, Callable[[], Any]] = {
        "opening": lambda: faq.set_opening(staff=staff, opening=post.get("opening", "")),
        "add": lambda: faq.add_question(
            staff=staff, question=post.get("question", ""), answer=post.get("answer", "")
        ),
        "update": lambda: faq.update_question(
            staff=staff,
            item_id=_id(request, "id"),
            question=post.get("question", ""),
            answer=post.get("answer", ""),
        ),
        "delete": lambda: faq.delete_question(staff=staff, item_id=_id(request, "id")),
    }
    return _post(request, operations.get(post.get("op", ""), _unknown), page)


def _unknown() -> None:
    raise Invalid(_("Unknown operation."))


# --- cards -------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def cards_page(request: HttpRequest) -> HttpResponse:
    staff = _staff(request, Right.CONFIGURE_SELF_SERVICE)
    if staff is None:
        return _forbidden(request)
    current = cards.settings_of(staff.shop_id)

    def page(errors: list[str]) -> HttpResponse:
        choices = [(kind.value, kind.label, kind.value in current.cards) for kind in CardKind]
        context = {"choices": choices, "urge_after_hours": current.urge_after_hours, "errors": errors}
        return render(request, "robot/cards_settings.html", context)

    if request.method == "GET":
        return page([])

    def save() -> None:
        hours = parse_id(request.POST.get("urge_after_hours"))
        cards.save_settings(staff=staff, cards=request.POST.getlist("cards"), urge_after_hours=hours or 0)

    return _post(request, save, page)


# --- service window ----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def window_page(request: HttpRequest) -> HttpResponse:
    staff = _staff(request, Right.CONFIGURE_SERVICE_WINDOW)
    if staff is None:
        return _forbidden(request)

    def page(errors: list[str]) -> HttpResponse:
        bars = [
            {"value": bar.value, "label": bar.label, "entries": window.entries_of(staff.shop, bar.value)}
            for bar in WindowBar
        ]
        context = {
            "bars": bars,
            "fixed": [WindowEntryKind(kind).label for kind in window.FIXED],
            "kinds": [(kind.value, kind.label) for kind in window.CONFIGURABLE],
            "products": Product.objects.for_shop(staff.shop).order_by("title")[:500],
            "max_entries": window.MAX_ENTRIES,
            "errors": errors,
        }
        return render(request, "robot/window_settings.html", context)

    if request.method == "GET":
        return page([])
    post = request.POST

    def arrange() -> None:
        ids = [parse_id(raw) for raw in post.getlist("entry")]
        if any(pk is None for pk in ids):
            raise Invalid(_("Enter a valid id."))
        window.arrange_bar(
            staff=staff, bar=post.get("bar", ""), entry_ids=[pk for pk in ids if pk is not None]
        )

    operations: dict[str, Callable[[], Any]] = {
        "add": lambda: window.add_entry(
            staff=staff,
            bar=post.get("bar", ""),
            kind=post.get("kind", ""),
            product_id=parse_id(post.get("product")),
            text=post.get("text", ""),
            url=post.get("url", ""),
        ),
        "arrange": arrange,
    }
    return _post(request, operations.get(post.get("op", ""), _unknown), page)


# --- follow-up ---------------------------------------------------------------------------------------------


def _time(raw: str | None) -> dt.time | None:
    try:
        return dt.time.fromisoformat(raw or "")
    except ValueError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def followup_page(request: HttpRequest) -> HttpResponse:
    staff = _staff(request, Right.CONFIGURE_SELF_SERVICE)
    if staff is None:
        return _forbidden(request)

    def page(errors: list[str]) -> HttpResponse:
        context = {
            "s": followup.settings_of(staff.shop_id),
            "notes": ProductCareNote.objects.for_shop(staff.shop).select_related("product"),
            "recent": FollowUp.objects.for_shop(staff.shop)
            .select_related("buyer", "order")
            .order_by("-due_at", "-pk")[:RECENT_FOLLOW_UPS],
            "products": Product.objects.for_shop(staff.shop).order_by("title")[:500],
            "defaults": {
                "care": followup.DEFAULT_CARE,
                "return_visit": followup.DEFAULT_RETURN_VISIT,
                "coupon": followup.DEFAULT_COUPON,
            },
            "errors": errors,
        }
        return render(request, "robot/followup_settings.html", context)

    if request.method == "GET":
        return page([])
    post = request.POST

    def save() -> None:
        values: dict[str, object] = {
            "care_on": post.get("care_on") == "on",
            "care_delay_hours": parse_id(post.get("care_delay_hours")),
            "care_text": post.get("care_text", ""),
            "return_visit_on": post.get("return_visit_on") == "on",
            "return_visit_text": post.get("return_visit_text", ""),
            "coupon_on": post.get("coupon_on") == "on",
            "coupon_text": post.get("coupon_text", ""),
            "quiet_from": _time(post.get("quiet_from")),
            "quiet_until": _time(post.get("quiet_until")),
        }
        followup.save_settings(staff=staff, values=values)

    operations: dict[str, Callable[[], Any]] = {
        "save": save,
        "note": lambda: followup.set_care_note(
            staff=staff, product_id=_id(request, "product"), note=post.get("note", "")
        ),
    }
    return _post(request, operations.get(post.get("op", ""), _unknown), page)
