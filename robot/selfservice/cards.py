"""Self-service cards (自助服务): six cards chosen by the state of each of the buyer's recent orders, which
prompt the buyer to confirm or act without waiting for an agent (seed 001: pre-sale, in-sale and after-sale
scenarios). The cards and when each shows (``cards_of_order``):

- confirm_address 确认收货地址: an order to ship (paid); confirm it, or change it (before shipping);
- urge_shipping 催发货: to ship, paid at least ``urge_after_hours`` ago; urge, and see the promised ship-by;
- track_parcel 查看物流: shipped; the carrier and the tracking number;
- confirm_receipt 确认收货: delivered; confirm receipt, and the order is completed;
- apply_after_sale 申请售后: delivered or completed, no request open; refund, or return and refund;
- after_sale_progress 售后进度: an after-sale request open (it replaces the order's other cards).

Actions that change data go through the shop-domain services (``backoffice.services.change_order_address``,
``confirm_receipt``, ``request_after_sale``); every action is recorded as a system message in the buyer's
conversation, so the agent sees it, and as a ``CardAction`` (once per order and kind). A buyer acts only on
their own orders: anyone else's order is a 404. The configuration (which cards, the urge threshold) needs
the right ``configure_self_service``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice import services as shop
from backoffice.access import Right, require_right
from backoffice.errors import Invalid, NotFound
from backoffice.models import AfterSaleStatus, Buyer, Order, OrderStatus, StaffAccount
from backoffice.privacy import mask_phone
from robot.models import CardAction, CardKind, SelfServiceSettings
from robot.selfservice import followup
from routing import services as routing

RECENT_ORDERS = 5  # the buyer's newest orders that get cards
ALL_CARDS = [kind.value for kind in CardKind]
MAX_URGE_HOURS = 720


def settings_of(shop_id: int) -> SelfServiceSettings:
    """The shop's settings; a shop that never saved them shows every card, urge after 24 h."""
    found = SelfServiceSettings.objects.filter(shop_id=shop_id).first()
    return found or SelfServiceSettings(shop_id=shop_id, cards=ALL_CARDS)


def save_settings(*, staff: StaffAccount, cards: list[str], urge_after_hours: int) -> SelfServiceSettings:
    """Which cards the shop shows and the urge threshold (1-720 hours since payment)."""
    require_right(staff, Right.CONFIGURE_SELF_SERVICE)
    unknown = [card for card in cards if card not in ALL_CARDS]
    if unknown:
        raise Invalid(_("Unknown card."), errors=[{"field": "cards", "message": str(unknown[0])[:50]}])
    if not 1 <= urge_after_hours <= MAX_URGE_HOURS:
        message = _("Between 1 and %(max)d hours.") % {"max": MAX_URGE_HOURS}
        raise Invalid(message, errors=[{"field": "urge_after_hours", "message": message}])
    ordered = [card for card in ALL_CARDS if card in cards]
    found, _created = SelfServiceSettings.objects.update_or_create(
        shop=staff.shop, defaults={"cards": ordered, "urge_after_hours": urge_after_hours}
    )
    return found


def cards_of_order(order: Order, *, urge_after: timedelta, now: datetime) -> list[str]:
    """The cards an order's state calls for, in display order (every card; the shop's choice filters)."""
    if order.after_sale_status in shop.AFTER_SALE_OPEN:
        return [CardKind.AFTER_SALE_PROGRESS]
    cards: list[str] = []
    if order.status == OrderStatus.TO_SHIP:
        cards.append(CardKind.CONFIRM_ADDRESS)
        if order.paid_at is not None and now - order.paid_at >= urge_after:
            cards.append(CardKind.URGE_SHIPPING)
    elif order.status == OrderStatus.SHIPPED:
        cards.append(CardKind.TRACK_PARCEL)
    elif order.status == OrderStatus.DELIVERED:
        cards += [CardKind.CONFIRM_RECEIPT, CardKind.APPLY_AFTER_SALE]
    elif order.status == OrderStatus.COMPLETED:
        cards.append(CardKind.APPLY_AFTER_SALE)
    return cards


def _order_info(order: Order) -> dict[str, Any]:
    items = list(order.items.all())
    return {
        "id": order.pk,
        "number": order.number,
        "status": order.get_status_display(),
        "after_sale_status": order.get_after_sale_status_display(),
        "title": items[0].title if items else order.number,
        "items": len(items),
        "paid_amount": str(order.paid_amount),
    }


def _card(kind: str, order: Order, done: bool) -> dict[str, Any]:
    card: dict[str, Any] = {
        "kind": kind,
        "title": CardKind(kind).label,
        "order": _order_info(order),
        "done": done,
    }
    if kind == CardKind.CONFIRM_ADDRESS:
        # The buyer's own order: their receiver and address, the phone masked as on every page.
        card["address"] = {
            "receiver_name": order.receiver_name,
            "receiver_phone": mask_phone(order.receiver_phone),
            "address": order.address,
        }
    elif kind == CardKind.URGE_SHIPPING:
        card["ship_by"] = order.ship_by
    elif kind == CardKind.TRACK_PARCEL:
        card["parcel"] = {
            "carrier": order.carrier,
            "tracking_number": order.tracking_number,
            "shipped_at": order.shipped_at,
        }
    elif kind == CardKind.APPLY_AFTER_SALE:
        card["options"] = [
            {"value": value, "label": AfterSaleStatus(value).label}
            for value, states in shop.AFTER_SALE_KINDS.items()
            if order.status in states
        ]
    return card


def cards_for_buyer(buyer: Buyer, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The cards of the buyer's newest orders (closed and unpaid ones have none), as the shop chose."""
    now = now or timezone.now()
    settings = settings_of(buyer.shop_id)
    shown = set(settings.cards)
    urge_after = timedelta(hours=settings.urge_after_hours)
    orders = list(
        Order.objects.for_shop(buyer.shop)
        .filter(buyer=buyer)
        .exclude(status__in=[OrderStatus.UNPAID, OrderStatus.CLOSED])
        .prefetch_related("items")
        .order_by("-created_at", "-pk")[:RECENT_ORDERS]
    )
    done = set(CardAction.objects.filter(order__in=[o.pk for o in orders]).values_list("order_id", "kind"))
    return [
        _card(kind, order, (order.pk, kind) in done)
        for order in orders
        for kind in cards_of_order(order, urge_after=urge_after, now=now)
        if kind in shown
    ]


def buyer_order(buyer: Buyer, order_id: int) -> Order:
    """One of the buyer's own orders; anyone else's (another buyer's, another shop's) is a 404 like a
    missing one."""
    order = Order.objects.for_shop(buyer.shop).filter(pk=order_id, buyer=buyer).first()
    if order is None:
        raise NotFound(_("No such order."))
    return order


def _record(buyer: Buyer, order: Order, kind: str, text: str) -> None:
    """The action in the buyer's conversation (a system message: no timer) and once per order and kind."""
    try:
        with transaction.atomic():
            CardAction.objects.create(shop_id=buyer.shop_id, order=order, kind=kind)
    except IntegrityError:
        pass  # acted on before: the message is recorded again, the row stays the first one
    routing.post_system_message_to_buyer(
        buyer=buyer, text=text, card={"kind": "self_service", "card": kind, "order": order.pk}
    )


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field, "")
    if not isinstance(value, str):
        raise Invalid(_("Enter a text."), errors=[{"field": field}])
    return value


def act(*, buyer: Buyer, order_id: int, kind: str, action: str, data: dict[str, Any]) -> dict[str, Any]:
    """The buyer acts on a card of their order: the card must be one the order's state offers now (else
    409 from the service, or 422 for an action the card has not). Returns the order's cards afterwards."""
    order = buyer_order(buyer, order_id)
    settings = settings_of(buyer.shop_id)
    offered = cards_of_order(order, urge_after=timedelta(hours=settings.urge_after_hours), now=timezone.now())
    if kind not in offered or kind not in settings.cards:
        raise Invalid(_("This card is not offered for this order now."), errors=[{"field": "kind"}])
    number = order.number
    if (kind, action) == (CardKind.CONFIRM_ADDRESS, "confirm"):
        _record(
            buyer,
            order,
            kind,
            _("Self-service: I confirmed the shipping address of order %(n)s.") % {"n": number},
        )
    elif (kind, action) == (CardKind.CONFIRM_ADDRESS, "change"):
        shop.change_order_address(
            order=order,
            receiver_name=_text(data, "receiver_name"),
            receiver_phone=_text(data, "receiver_phone"),
            address=_text(data, "address"),
        )
        _record(
            buyer,
            order,
            kind,
            _("Self-service: I changed the shipping address of order %(n)s.") % {"n": number},
        )
    elif (kind, action) == (CardKind.URGE_SHIPPING, "urge"):
        _record(buyer, order, kind, _("Self-service: please ship order %(n)s soon.") % {"n": number})
    elif (kind, action) == (CardKind.CONFIRM_RECEIPT, "confirm"):
        shop.confirm_receipt(order=order)
        _record(buyer, order, kind, _("Self-service: I confirmed receipt of order %(n)s.") % {"n": number})
        followup.plan_return_visit(order)
    elif kind == CardKind.APPLY_AFTER_SALE and action in shop.AFTER_SALE_KINDS:
        shop.request_after_sale(order=order, kind=action)
        label = AfterSaleStatus(action).label
        _record(
            buyer,
            order,
            kind,
            _("Self-service: after-sale request for order %(n)s: %(kind)s.") % {"n": number, "kind": label},
        )
    else:
        raise Invalid(_("Unknown action."), errors=[{"field": "action"}])
    order.refresh_from_db()
    return {"cards": cards_for_buyer(buyer)}
