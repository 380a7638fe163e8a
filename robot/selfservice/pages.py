"""The owner's settings pages of buyer self-service (server-rendered forms, no JSON to type), each behind
its right: FAQ (``configure_faq``), self-service cards and follow-up messages (``configure_self_service``),
the service window (``configure_service_window``). A POST names its operation (``op``) and goes through one
service; a refusal is shown on the page (422; 404 for an id not of the shop) and nothing is written;
without the right: 403."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
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

RECENT_FOLLOW_UPS = 30
Operations = dict[str, Callable[[], Any]]


def _settings_page(
    request: HttpRequest,
    *,
    right: str,
    template: str,
    context: Callable[[StaffAccount], dict[str, Any]],
    operations: Callable[[StaffAccount, QueryDict], Operations],
) -> HttpResponse:
    """One settings page: 403 without ``right``; GET renders ``template``; POST runs the operation its ``op``
    names (one service call), then redirects back with "saved", or renders the page with the refusal."""
    staff: StaffAccount | None = getattr(request, "staff", None)
    if staff is None or not has_right(staff, right):
        return render(request, "robot/forbidden.html", status=403)

    def page(errors: list[str], status: int = 200) -> HttpResponse:
        return render(request, template, {**context(staff), "errors": errors}, status=status)

    if request.method == "GET":
        return page([])
    try:
        operations(staff, request.POST).get(request.POST.get("op", ""), _unknown)()
    except DomainError as exc:
        details = [str(e.get("message")) for e in exc.errors if e.get("message")]
        return page(
            [exc.message, *[d for d in details if d != exc.message]], 404 if exc.status == 404 else 422
        )
    messages.success(request, _("Saved."))
    return HttpResponseRedirect(request.path)


def _unknown() -> None:
    raise Invalid(_("Unknown operation."))


def _id(post: QueryDict, name: str) -> int:
    value = parse_id(post.get(name))
    if value is None:
        raise Invalid(_("Enter a valid id."))
    return value


def _products(staff: StaffAccount) -> Any:
    return Product.objects.for_shop(staff.shop).order_by("title")[:500]


# --- FAQ ---------------------------------------------------------------------------------------------------


def _faq_context(staff: StaffAccount) -> dict[str, Any]:
    items = faq.questions_of(staff.shop)
    return {
        "opening": faq.opening_of(staff.shop),
        "items": items,
        "full": len(items) >= faq.MAX_QUESTIONS,
        "max_questions": faq.MAX_QUESTIONS,
        "robot_on": full_auto_on(staff.shop_id),
    }


def _faq_operations(staff: StaffAccount, post: QueryDict) -> Operations:
    question, answer = post.get("question", ""), post.get("answer", "")
    return {
        "opening": lambda: faq.set_opening(staff=staff, opening=post.get("opening", "")),
        "add": lambda: faq.add_question(staff=staff, question=question, answer=answer),
        "update": lambda: faq.update_question(
            staff=staff, item_id=_id(post, "id"), question=question, answer=answer
        ),
        "delete": lambda: faq.delete_question(staff=staff, item_id=_id(post, "id")),
    }


@login_required
@require_http_methods(["GET", "POST"])
def faq_page(request: HttpRequest) -> HttpResponse:
    return _settings_page(
        request,
        right=Right.CONFIGURE_FAQ,
        template="robot/faq_settings.html",
        context=_faq_context,
        operations=_faq_operations,
    )


# --- cards -------------------------------------------------------------------------------------------------


def _cards_context(staff: StaffAccount) -> dict[str, Any]:
    current = cards.settings_of(staff.shop_id)
    choices = [(kind.value, kind.label, kind.value in current.cards) for kind in CardKind]
    return {"choices": choices, "urge_after_hours": current.urge_after_hours}


def _cards_operations(staff: StaffAccount, post: QueryDict) -> Operations:
    hours = parse_id(post.get("urge_after_hours")) or 0
    return {
        "save": lambda: cards.save_settings(staff=staff, cards=post.getlist("cards"), urge_after_hours=hours)
    }


@login_required
@require_http_methods(["GET", "POST"])
def cards_page(request: HttpRequest) -> HttpResponse:
    return _settings_page(
        request,
        right=Right.CONFIGURE_SELF_SERVICE,
        template="robot/cards_settings.html",
        context=_cards_context,
        operations=_cards_operations,
    )


# --- service window ----------------------------------------------------------------------------------------


def _window_context(staff: StaffAccount) -> dict[str, Any]:
    return {
        "bars": [
            {"value": bar.value, "label": bar.label, "entries": window.entries_of(staff.shop, bar.value)}
            for bar in WindowBar
        ],
        "fixed": [WindowEntryKind(kind).label for kind in window.FIXED],
        "kinds": [(kind.value, kind.label) for kind in window.CONFIGURABLE],
        "products": _products(staff),
        "max_entries": window.MAX_ENTRIES,
    }


def _window_operations(staff: StaffAccount, post: QueryDict) -> Operations:
    def arrange() -> None:
        ids = [parse_id(raw) for raw in post.getlist("entry")]
        if any(pk is None for pk in ids):
            raise Invalid(_("Enter a valid id."))
        window.arrange_bar(
            staff=staff, bar=post.get("bar", ""), entry_ids=[pk for pk in ids if pk is not None]
        )

    def add() -> None:
        window.add_entry(
            staff=staff,
            bar=post.get("bar", ""),
            kind=post.get("kind", ""),
            product_id=parse_id(post.get("product")),
            text=post.get("text", ""),
            url=post.get("url", ""),
        )

    return {"add": add, "arrange": arrange}


@login_required
@require_http_methods(["GET", "POST"])
def window_page(request: HttpRequest) -> HttpResponse:
    return _settings_page(
        request,
        right=Right.CONFIGURE_SERVICE_WINDOW,
        template="robot/window_settings.html",
        context=_window_context,
        operations=_window_operations,
    )


# --- follow-up ---------------------------------------------------------------------------------------------


def _time(raw: str | None) -> dt.time | None:
    try:
        return dt.time.fromisoformat(raw or "")
    except ValueError:
        return None


def _followup_context(staff: StaffAccount) -> dict[str, Any]:
    recent = FollowUp.objects.for_shop(staff.shop).select_related("buyer", "order").order_by("-due_at", "-pk")
    return {
        "s": followup.settings_of(staff.shop_id),
        "notes": ProductCareNote.objects.for_shop(staff.shop).select_related("product"),
        "recent": recent[:RECENT_FOLLOW_UPS],
        "products": _products(staff),
        "defaults": {
            "care": followup.DEFAULT_CARE,
            "return_visit": followup.DEFAULT_RETURN_VISIT,
            "coupon": followup.DEFAULT_COUPON,
        },
    }


def _followup_operations(staff: StaffAccount, post: QueryDict) -> Operations:
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

    def note() -> None:
        followup.set_care_note(staff=staff, product_id=_id(post, "product"), note=post.get("note", ""))

    return {"save": save, "note": note}


@login_required
@require_http_methods(["GET", "POST"])
def followup_page(request: HttpRequest) -> HttpResponse:
    return _settings_page(
        request,
        right=Right.CONFIGURE_SELF_SERVICE,
        template="robot/followup_settings.html",
        context=_followup_context,
        operations=_followup_operations,
    )
