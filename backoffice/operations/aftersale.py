"""The after-sale workbench (售后工作台): requests with their kind and the order's state, the seed's guide for
each case, and the one-click actions along a state machine.

The four cases of seed 002 and the way through each (states of ``AfterSaleState``):

- not shipped, refund only: agree (同意即可), then refund: requested -> agreed -> refunded.
- shipped, refund only: intercept the parcel and tell the buyer to refuse it, refund once the return is
  tracked: requested -> intercepted -> returning (its tracking number recorded) -> refunded.
- received, return and refund: check the reason (a quality reason counts against the listing), agree, tell
  the buyer how to send it back: requested -> agreed -> returning -> refunded.
- received, refund only: ask why; suggest a return and refund, or refuse: requested -> agreed -> refunded,
  or requested -> refused.

Refusing (with a reason) is open from "requested" in every case. Any other action, in any other state, is
refused with a clear error (``Invalid``, nothing written); two agents clicking at once: the second finds the
state changed (``Conflict``). A request of another case than these four (return and refund of an order not
yet received) follows the received case's way.

The order's after-sale status (``Order.after_sale_status``) follows its request through the shop-domain
service (``services.set_after_sale_status``; ``ORDER_STATUS``): requested and agreed: refund requested (refund
only) or return requested (return and refund); intercepted: refund requested; returning: returning;
refunded: refunded; refused: rejected. The buyer hears of each step they must know in their chat
(``buyer_notice``: agreed, refused with the reason, parcel intercepted (refuse it), refunded; recording the
return's tracking number tells them nothing new) through the one extension point ``AFTER_SALE_BUYER_NOTICE``
(settings: routing's ``routing.ops_panel.tell_buyer``, which posts a system message to the buyer's chat), in
the step's transaction, keyed by the step so a retry posts nothing twice.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Now
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from backoffice import services
from backoffice.errors import Conflict, Invalid
from backoffice.models import (
    AfterSaleKind,
    AfterSaleOrderState,
    AfterSaleReason,
    AfterSaleRequest,
    AfterSaleState,
    AfterSaleStatus,
    AfterSaleStep,
    Order,
    OrderStatus,
    Shop,
    StaffAccount,
)
from backoffice.validation import clean_text

AGREE, REFUSE, INTERCEPT, RECORD_RETURN, REFUND = "agree", "refuse", "intercept", "record_return", "refund"
ACTIONS = (AGREE, REFUSE, INTERCEPT, RECORD_RETURN, REFUND)
ACTION_LABELS = {
    AGREE: gettext_lazy("Agree"),
    REFUSE: gettext_lazy("Refuse"),
    INTERCEPT: gettext_lazy("Mark intercepted"),
    RECORD_RETURN: gettext_lazy("Record return tracking number"),
    REFUND: gettext_lazy("Refund"),
}
S = AfterSaleState
NOT_SHIPPED, SHIPPED, RECEIVED = (
    AfterSaleOrderState.NOT_SHIPPED,
    AfterSaleOrderState.SHIPPED,
    AfterSaleOrderState.RECEIVED,
)
REFUND_ONLY, RETURN_REFUND = AfterSaleKind.REFUND_ONLY, AfterSaleKind.RETURN_REFUND
CLOSED = (S.REFUNDED, S.REFUSED)  # the ends of the way: a request in them is no longer open


# request state -> the order's after-sale status (refund only, return and refund)
ORDER_STATUS: dict[str, tuple[str, str]] = {
    S.REQUESTED: (AfterSaleStatus.REFUND_REQUESTED, AfterSaleStatus.RETURN_REQUESTED),
    S.AGREED: (AfterSaleStatus.REFUND_REQUESTED, AfterSaleStatus.RETURN_REQUESTED),
    S.INTERCEPTED: (AfterSaleStatus.REFUND_REQUESTED, AfterSaleStatus.REFUND_REQUESTED),
    S.RETURNING: (AfterSaleStatus.RETURNING, AfterSaleStatus.RETURNING),
    S.REFUNDED: (AfterSaleStatus.REFUNDED, AfterSaleStatus.REFUNDED),
    S.REFUSED: (AfterSaleStatus.REJECTED, AfterSaleStatus.REJECTED),
}


def order_status(kind: str, state: str) -> str:
    """The order's after-sale status while its request of ``kind`` is in ``state``."""
    return ORDER_STATUS[state][0 if kind == REFUND_ONLY else 1]


def case_of(request: AfterSaleRequest) -> str:
    """The seed's case the request is: ``not_shipped_refund``, ``shipped_refund``, ``received_return`` or
    ``received_refund``."""
    if request.kind == REFUND_ONLY:
        return {NOT_SHIPPED: "not_shipped_refund", SHIPPED: "shipped_refund"}.get(
            AfterSaleOrderState(request.order_state), "received_refund"
        )
    return "received_return"


# case -> {state: {action: next state}}
MACHINE: dict[str, dict[str, dict[str, str]]] = {
    "not_shipped_refund": {S.REQUESTED: {AGREE: S.AGREED, REFUSE: S.REFUSED}, S.AGREED: {REFUND: S.REFUNDED}},
    "shipped_refund": {
        S.REQUESTED: {INTERCEPT: S.INTERCEPTED, REFUSE: S.REFUSED},
        S.INTERCEPTED: {RECORD_RETURN: S.RETURNING},
        S.RETURNING: {REFUND: S.REFUNDED},
    },
    "received_return": {
        S.REQUESTED: {AGREE: S.AGREED, REFUSE: S.REFUSED},
        S.AGREED: {RECORD_RETURN: S.RETURNING},
        S.RETURNING: {REFUND: S.REFUNDED},
    },
    "received_refund": {S.REQUESTED: {AGREE: S.AGREED, REFUSE: S.REFUSED}, S.AGREED: {REFUND: S.REFUNDED}},
}


@dataclass(frozen=True)
class Guide:
    """What the seed tells the agent to do in a case, and the quick phrase (template library code) of each
    step the buyer should hear about."""

    text: str
    phrases: tuple[str, ...]


def guide(request: AfterSaleRequest) -> Guide:
    case = case_of(request)
    if case == "not_shipped_refund":
        return Guide(_("Not shipped, refund only: agree, then refund."), ("sh11",))
    if case == "shipped_refund":
        return Guide(
            _(
                "Shipped, refund only: intercept the parcel with the courier and tell the buyer to refuse "
                "it; refund once the return has a tracking number."
            ),
            ("sh12", "sh16"),
        )
    if case == "received_return":
        text = _(
            "Received, return and refund: check that the reason is allowed (a quality reason counts against "
            "the listing), agree, and tell the buyer how to send it back."
        )
        if request.reason == AfterSaleReason.QUALITY:
            text += " " + _("This buyer gave a quality reason: check it before agreeing.")
        return Guide(text, ("sh13", "sh16"))
    return Guide(
        _(
            "Received, refund only: ask whether the goods arrived and why a refund is wanted; suggest a "
            "return and refund instead, or refuse."
        ),
        ("sh14", "sh11", "sh15"),
    )


def next_actions(request: AfterSaleRequest) -> list[str]:
    """The actions open to the request now, in the order the workbench shows them."""
    open_now = MACHINE[case_of(request)].get(request.state, {})
    return [action for action in ACTIONS if action in open_now]


def order_state_of(order: Order) -> str:
    if order.status in {OrderStatus.UNPAID, OrderStatus.TO_SHIP}:
        return NOT_SHIPPED
    if order.status == OrderStatus.SHIPPED:
        return SHIPPED
    return RECEIVED


def requests_of(shop: Shop) -> QuerySet[AfterSaleRequest]:
    return AfterSaleRequest.objects.for_shop(shop).select_related("order", "order__buyer")


def open_requests(shop: Shop) -> QuerySet[AfterSaleRequest]:
    return requests_of(shop).exclude(state__in=CLOSED).order_by("created_at", "pk")


@transaction.atomic
def create_request(
    *,
    shop: Shop,
    order: Order,
    kind: str,
    reason: str,
    note: str = "",
    number: str | None = None,
    created_by: StaffAccount | None = None,
) -> AfterSaleRequest:
    """A new request for ``order`` (of ``shop``: checked), its order state taken from the order now. An
    agent's request gets a number of its own (16 random digits). An order with an open request gets no
    second one (Conflict)."""
    if order.shop_id != shop.pk:
        raise Invalid(_("Unknown order in this shop."))
    if AfterSaleRequest.objects.filter(order=order).exclude(state__in=CLOSED).exists():
        raise Conflict(_("This order already has an open after-sale request."))
    made = AfterSaleRequest.objects.create(
        shop=shop,
        order=order,
        number=number or f"{uuid.uuid4().int % 10**16:016d}",
        kind=AfterSaleKind(kind),
        order_state=order_state_of(order),
        reason=AfterSaleReason(reason),
        note=clean_text(note, 500, field="note"),
        created_by=created_by,
    )
    services.set_after_sale_status(order_ids=[order.pk], status=order_status(made.kind, made.state))
    return made


@transaction.atomic
def receive_requests(*, shop: Shop, records: Sequence[dict[str, Any]]) -> int:
    """The integration's requests (number, order_number, kind, reason, note), all-or-nothing; idempotent on
    the number (a request already stored is kept as it is, its state included)."""
    orders = {
        o.number: o
        for o in Order.objects.for_shop(shop).filter(number__in={r["order_number"] for r in records})
    }
    errors = [
        {"loc": [index, "order_number"], "msg": "unknown order in this shop"}
        for index, record in enumerate(records)
        if record["order_number"] not in orders
    ]
    if len({r["number"] for r in records}) != len(records):
        errors.append({"loc": ["records"], "msg": "duplicate number in the batch"})
    if errors:
        raise Invalid(_("Some after-sale requests are not valid."), errors=errors)
    AfterSaleRequest.objects.bulk_create(
        [
            AfterSaleRequest(
                shop=shop,
                number=r["number"],
                order=orders[r["order_number"]],
                kind=r["kind"],
                order_state=r.get("order_state") or order_state_of(orders[r["order_number"]]),
                reason=r["reason"],
                note=r.get("note", ""),
            )
            for r in records
        ],
        ignore_conflicts=True,
    )
    # The orders of the batch's requests still awaiting the shop (new ones, or re-pushed and untouched).
    waiting = AfterSaleRequest.objects.for_shop(shop).filter(
        number__in=[r["number"] for r in records], state=S.REQUESTED
    )
    for kind in (REFUND_ONLY, RETURN_REFUND):
        services.set_after_sale_status(
            order_ids=waiting.filter(kind=kind).values_list("order_id", flat=True),
            status=order_status(kind, S.REQUESTED),
        )
    return len(records)


def check_action(*, request: AfterSaleRequest, action: str, detail: str) -> str:
    """The state ``action`` leads to from the request's state, or Invalid: an action this case does not take
    now, a refusal without a reason, a return without its tracking number."""
    if action not in ACTIONS:
        raise Invalid(_("Unknown action."), errors=[{"field": "action", "message": action}])
    target = MACHINE[case_of(request)].get(request.state, {}).get(action)
    if target is None:
        raise Invalid(
            _("“%(action)s” is not possible for a request that is “%(state)s”.")
            % {"action": ACTION_LABELS[action], "state": request.get_state_display()},
            errors=[{"field": "action", "message": f"{request.state} -> {action}"}],
        )
    if action == REFUSE and not detail.strip():
        raise Invalid(_("Give the reason for refusing."), errors=[{"field": "detail", "message": "required"}])
    if action == RECORD_RETURN and not detail.strip():
        raise Invalid(
            _("Enter the return's tracking number."), errors=[{"field": "detail", "message": "required"}]
        )
    return target


def act(*, actor: StaffAccount, request: AfterSaleRequest, action: str, detail: str = "") -> AfterSaleRequest:
    """Take ``action`` on the request (``check_action``), recording the step. Conditional on the state it was
    read in: when someone else moved it meanwhile, Conflict and nothing written."""
    detail = clean_text(detail.strip(), 64 if action == RECORD_RETURN else 500, field="detail")
    target = check_action(request=request, action=action, detail=detail)
    changes: dict[str, Any] = {"state": target, "updated_at": Now()}
    if action == REFUSE:
        changes["refuse_reason"] = detail
    if action == RECORD_RETURN:
        changes["return_tracking_number"] = detail
    with transaction.atomic():
        moved = AfterSaleRequest.objects.filter(pk=request.pk, state=request.state).update(**changes)
        if not moved:
            raise Conflict(_("Someone else has just changed this after-sale request; reload it."))
        step = AfterSaleStep.objects.create(
            request=request, action=action, state=target, detail=detail, actor=actor
        )
        status = order_status(request.kind, target)
        services.set_after_sale_status(order_ids=[request.order_id], status=status)
        request.refresh_from_db()
        text = buyer_notice(request, action, detail)
        if text and (tell := buyer_notifier()) is not None:
            tell(buyer=request.order.buyer, text=text, key=f"after-sale-step-{step.pk}")
    return request


BuyerNotifier = Callable[..., None]  # (*, buyer: Buyer, text: str, key: str) -> None


@functools.cache
def buyer_notifier() -> BuyerNotifier | None:
    """The extension point that tells a buyer in their chat (``AFTER_SALE_BUYER_NOTICE``: a dotted path, or
    empty for none): called with the buyer, the text and a key unique to the step (a retry with the same key
    posts nothing new)."""
    path = getattr(settings, "AFTER_SALE_BUYER_NOTICE", "")
    return import_string(path) if path else None


def buyer_notice(request: AfterSaleRequest, action: str, detail: str) -> str | None:
    """What the buyer is told of this step, in the console's language (the buyer's chat is Chinese), or None
    for a step that tells them nothing new (recording the return's tracking number)."""
    values = {"order": request.order.number, "reason": detail}
    with override(settings.LANGUAGE_CODE):
        if action == AGREE and request.kind == RETURN_REFUND:
            return (
                _(
                    "The shop has agreed to your return and refund for order %(order)s. Please send the "
                    "goods back and enter the return's tracking number in the after-sale page."
                )
                % values
            )
        if action == AGREE:
            return (
                _("The shop has agreed to your refund for order %(order)s; the refund follows shortly.")
                % values
            )
        if action == REFUSE:
            return _("Sorry, your after-sale request for order %(order)s was refused: %(reason)s") % values
        if action == INTERCEPT:
            return (
                _(
                    "The parcel of order %(order)s has been intercepted. When the courier brings it, please "
                    "refuse it; your refund follows once it is on its way back."
                )
                % values
            )
        if action == REFUND:
            return (
                _("Order %(order)s has been refunded; the money returns to your original payment method.")
                % values
            )
    return None
