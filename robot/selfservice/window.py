"""The interactive service window (互动服务窗): two entry bars above the buyer's input, one for pre-sale and
one for after-sale, at most eight entries each. "Rate service", "send product" and "place order" are fixed
in place at the start of both bars; the owner adds, removes and reorders the others (logistics query,
after-sale request, after-sale progress, membership gift, shop home, custom product link) on the settings
page, by drag and drop or with the keyboard. The buyer page shows the after-sale bar to a buyer whose
newest order is paid (to ship, shipped, delivered, completed) or who has an after-sale request open, the
pre-sale bar to everyone else. The configuration needs the right ``configure_service_window``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from backoffice import services as shop
from backoffice.access import Right, require_right
from backoffice.errors import Invalid, NotFound
from backoffice.models import Buyer, Order, OrderStatus, Product, Shop, StaffAccount
from backoffice.validation import clean_text
from robot.models import WindowBar, WindowEntry, WindowEntryKind

MAX_ENTRIES = 8
FIXED = [WindowEntryKind.RATE, WindowEntryKind.SEND_PRODUCT, WindowEntryKind.PLACE_ORDER]
MAX_CONFIGURABLE = MAX_ENTRIES - len(FIXED)
CONFIGURABLE = [kind for kind in WindowEntryKind if kind not in FIXED]
REPEATABLE = {WindowEntryKind.PRODUCT_LINK}  # one entry per product; the others once per bar
AFTER_SALE_STATES = {OrderStatus.TO_SHIP, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}


def _lock_shop(shop_: Shop) -> None:
    """The writers of a shop's service window take turns on the shop's row."""
    Shop.objects.select_for_update().filter(pk=shop_.pk).values_list("pk", flat=True).first()


def entries_of(shop_: Shop, bar: str) -> list[WindowEntry]:
    return list(WindowEntry.objects.for_shop(shop_).filter(bar=bar).select_related("product"))


def _too_many() -> Invalid:
    message = _(
        "A bar holds at most %(max)d entries, %(fixed)d of them fixed: remove one before adding another."
    ) % {"max": MAX_ENTRIES, "fixed": len(FIXED)}
    return Invalid(message, errors=[{"field": "kind", "message": message}])


def _checked_entry(
    staff: StaffAccount, bar: str, kind: str, product_id: int | None, text: str, url: str
) -> tuple[str, str, Product | None]:
    if bar not in WindowBar.values:
        raise Invalid(_("Unknown bar."), errors=[{"field": "bar"}])
    if kind in FIXED:
        raise Invalid(_("This entry is fixed in place and always shown."), errors=[{"field": "kind"}])
    if kind not in CONFIGURABLE:
        raise Invalid(_("Unknown entry."), errors=[{"field": "kind"}])
    text = clean_text(text.strip(), 200, field="text")
    url = clean_text(url.strip(), 500, field="url")
    if url and not url.startswith(("https://", "http://")):
        raise Invalid(_("Enter a link starting with https://."), errors=[{"field": "url"}])
    product = None
    if kind == WindowEntryKind.PRODUCT_LINK:
        product = Product.objects.for_shop(staff.shop).filter(pk=product_id).first() if product_id else None
        if product is None:
            raise NotFound(_("No such product in this shop."))
    if kind == WindowEntryKind.SHOP_HOME and not url:
        raise Invalid(_("The shop home entry needs its link."), errors=[{"field": "url"}])
    if kind == WindowEntryKind.MEMBERSHIP_GIFT and not text:
        raise Invalid(_("The membership gift entry needs its text."), errors=[{"field": "text"}])
    return text, url, product


def add_entry(
    *, staff: StaffAccount, bar: str, kind: str, product_id: int | None = None, text: str = "", url: str = ""
) -> WindowEntry:
    """A configurable entry at the end of a bar. Refused: a fixed entry (they are always there), a ninth
    entry, a second entry of a kind other than the product link, a product link without one of the shop's
    products, a shop home without its link, a membership gift without its words."""
    require_right(staff, Right.CONFIGURE_SERVICE_WINDOW)
    text, url, product = _checked_entry(staff, bar, kind, product_id, text, url)
    with transaction.atomic():
        # Counted under the shop row's lock, so two adds at once cannot make nine (locking the entries
        # would not do: a row the other transaction inserts is not among them).
        _lock_shop(staff.shop)
        existing = list(WindowEntry.objects.for_shop(staff.shop).filter(bar=bar))
        if len(existing) >= MAX_CONFIGURABLE:
            raise _too_many()
        same = [
            e for e in existing if e.kind == kind and (kind not in REPEATABLE or e.product_id == product_id)
        ]
        if same:
            raise Invalid(_("This entry is already in the bar."), errors=[{"field": "kind"}])
        position = max((e.position for e in existing), default=0) + 1
        return WindowEntry.objects.create(
            shop=staff.shop, bar=bar, kind=kind, position=position, product=product, text=text, url=url
        )


def arrange_bar(*, staff: StaffAccount, bar: str, entry_ids: list[int]) -> list[WindowEntry]:
    """The bar's configurable entries in the given order; those left out are removed. An id that is not an
    entry of this bar of the shop is a 404 (another shop's: the same)."""
    require_right(staff, Right.CONFIGURE_SERVICE_WINDOW)
    if bar not in WindowBar.values:
        raise Invalid(_("Unknown bar."), errors=[{"field": "bar"}])
    if len(entry_ids) != len(set(entry_ids)):
        raise Invalid(_("An entry is listed twice."), errors=[{"field": "entries"}])
    with transaction.atomic():
        _lock_shop(staff.shop)
        existing = {e.pk: e for e in WindowEntry.objects.for_shop(staff.shop).filter(bar=bar)}
        if any(pk not in existing for pk in entry_ids):
            raise NotFound(_("No such entry in this bar."))
        WindowEntry.objects.filter(pk__in=existing.keys() - set(entry_ids)).delete()
        for position, pk in enumerate(entry_ids, start=1):
            if existing[pk].position != position:
                WindowEntry.objects.filter(pk=pk).update(position=position)
    return entries_of(staff.shop, bar)


def bar_for_buyer(buyer: Buyer) -> str:
    """The after-sale bar for a buyer whose newest order is paid or who has an after-sale request open;
    the pre-sale bar otherwise."""
    orders = Order.objects.for_shop(buyer.shop).filter(buyer=buyer)
    if orders.filter(after_sale_status__in=shop.AFTER_SALE_OPEN).exists():
        return WindowBar.AFTERSALE
    newest = orders.order_by("-created_at", "-pk").values_list("status", flat=True).first()
    return WindowBar.AFTERSALE if newest in AFTER_SALE_STATES else WindowBar.PRESALE


def _product(product: Product | None) -> dict[str, Any] | None:
    if product is None:
        return None
    return {
        "id": product.pk,
        "title": product.title,
        "price": str(product.price),
        "image_url": product.image_url,
        "url": product.url,
    }


def _entry(kind: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "label": WindowEntryKind(kind).label, **data}


def window_for_buyer(buyer: Buyer, product: Product | None) -> dict[str, Any]:
    """The bar the buyer page shows, every entry with what it needs to do its work on the page: the product
    the buyer came from (else their newest order's) to send or to order, the parcel of the newest shipped
    order, the after-sale requests open, the gift's words and link, the links."""
    bar = bar_for_buyer(buyer)
    orders = Order.objects.for_shop(buyer.shop).filter(buyer=buyer).order_by("-created_at", "-pk")
    if product is None:
        newest = orders.prefetch_related("items__product").first()
        items = list(newest.items.all()) if newest else []
        product = next((item.product for item in items if item.product is not None), None)
    shipped = orders.filter(status__in=[OrderStatus.SHIPPED, OrderStatus.DELIVERED]).exclude(
        tracking_number=""
    )
    parcel = shipped.first()
    home = WindowEntry.objects.for_shop(buyer.shop).filter(kind=WindowEntryKind.SHOP_HOME).first()
    entries = [
        _entry(WindowEntryKind.RATE),
        _entry(WindowEntryKind.SEND_PRODUCT, product=_product(product)),
        _entry(
            WindowEntryKind.PLACE_ORDER,
            product=_product(product),
            url=(product.url if product and product.url else (home.url if home else "")),
        ),
    ]
    for entry in entries_of(buyer.shop, bar):
        data: dict[str, Any] = {}
        if entry.kind == WindowEntryKind.LOGISTICS:
            data["parcel"] = (
                {"order": parcel.number, "carrier": parcel.carrier, "tracking_number": parcel.tracking_number}
                if parcel
                else None
            )
        elif entry.kind == WindowEntryKind.AFTER_SALE_PROGRESS:
            data["requests"] = [
                {"order": o.number, "status": o.get_after_sale_status_display()}
                for o in orders.filter(after_sale_status__in=shop.AFTER_SALE_OPEN)[:5]
            ]
        elif entry.kind in (WindowEntryKind.MEMBERSHIP_GIFT, WindowEntryKind.SHOP_HOME):
            data |= {"text": entry.text, "url": entry.url}
        elif entry.kind == WindowEntryKind.PRODUCT_LINK:
            data["product"] = _product(entry.product)
        entries.append(_entry(entry.kind, **data))
    return {"bar": bar, "entries": entries}
