"""Smart follow-up and retention (智能跟单, 老客维护; seeds 002 and 004): messages the shop sends into a
buyer's chat by itself, by the beat task ``robot.follow_up`` (``robot/tasks_selfservice.py``, every minute):

- **care** (关怀): after delivery, once per order, ``care_delay_hours`` after ``delivered_at``: the shop's
  care text and the usage notes of the order's products (``ProductCareNote``), inviting questions;
- **return visit** (回访): after the buyer confirms receipt (the self-service card, or an order pushed as
  completed), asking whether all is well and inviting a rating;
- **coupons** (老客维护): 30 days after a buyer's first purchase, and again at 60 days unless the buyer has
  bought since (seed 004's loop: first purchase, 30 days, coupon; no purchase, 30 more days, coupon).

Rules: each message is planned once per order and kind (a unique constraint: planning twice, or two runs
planning at once, plans nothing new) and sent once: a run claims due rows with a conditional update under
``SKIP LOCKED`` (PostgreSQL), so two runs at once, or a redelivered task, never send one twice; a claim left
by a run that died is taken again after ``RECLAIM_AFTER`` and the message's ``client_msg_id`` (``follow-up-
<id>``) keeps a resend out of the conversation. Nothing is sent in the shop's quiet hours (22:00-08:00 by
default, in the shop's time zone): due messages wait until they end. A kind switched off is skipped, so is
every message to a buyer who replied 退订 or TD (``FollowUpOptOut``). The messages are system messages: no
human session opens and no reply timer starts, so they never count in an agent's KPIs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backoffice.access import Right, require_right
from backoffice.errors import Invalid, NotFound
from backoffice.models import Buyer, Order, OrderItem, OrderStatus, Product, StaffAccount
from backoffice.text import normalize
from backoffice.validation import clean_text
from robot.models import (
    FollowUp,
    FollowUpKind,
    FollowUpOptOut,
    FollowUpSettings,
    FollowUpState,
    ProductCareNote,
)
from routing import services as routing
from routing.models import Message, SenderKind

PLAN_WINDOW = timedelta(days=7)  # orders delivered / completed longer ago than this are not followed up
RECLAIM_AFTER = timedelta(minutes=10)
BATCH = 200
UNSUBSCRIBE = {"退订", "td"}  # the whole message, in its matching form (backoffice.text.normalize)
UNSUBSCRIBE_MAX = 6
MAX_DELAY_HOURS = 720

# The texts a shop gets until it words its own (gettext: the buyer reads them in the console's language).
DEFAULT_CARE = gettext_lazy(
    "Your parcel has been delivered. If anything comes up while you use it, just ask us here."
)
DEFAULT_RETURN_VISIT = gettext_lazy(
    "We see you confirmed receipt: are you happy with it? If so, we would love a rating of our service!"
)
DEFAULT_COUPON = gettext_lazy("Long time no see! Here is a shop coupon for your next purchase.")
OPT_OUT_HINT = gettext_lazy("(Reply 退订 or TD to receive no more of these messages.)")


def settings_of(shop_id: int) -> FollowUpSettings:
    found = FollowUpSettings.objects.filter(shop_id=shop_id).first()
    return found or FollowUpSettings(shop_id=shop_id)


def save_settings(*, staff: StaffAccount, values: dict[str, object]) -> FollowUpSettings:
    """The shop's follow-up settings: each kind on or off, the care delay (1-720 hours), the texts (at most
    500 characters), the quiet hours (equal times: no quiet hours)."""
    require_right(staff, Right.CONFIGURE_SELF_SERVICE)
    delay = values.get("care_delay_hours")
    if not isinstance(delay, int) or not 1 <= delay <= MAX_DELAY_HOURS:
        message = _("Between 1 and %(max)d hours.") % {"max": MAX_DELAY_HOURS}
        raise Invalid(message, errors=[{"field": "care_delay_hours", "message": message}])
    for field in ("quiet_from", "quiet_until"):
        if not isinstance(values.get(field), dt.time):
            raise Invalid(_("Enter a time."), errors=[{"field": field}])
    defaults: dict[str, object] = {
        "care_on": bool(values.get("care_on")),
        "care_delay_hours": delay,
        "return_visit_on": bool(values.get("return_visit_on")),
        "coupon_on": bool(values.get("coupon_on")),
        "quiet_from": values["quiet_from"],
        "quiet_until": values["quiet_until"],
    }
    for field in ("care_text", "return_visit_text", "coupon_text"):
        defaults[field] = clean_text(str(values.get(field, "")).strip(), 500, field=field)
    found, _created = FollowUpSettings.objects.update_or_create(shop=staff.shop, defaults=defaults)
    return found


def set_care_note(*, staff: StaffAccount, product_id: int, note: str) -> ProductCareNote | None:
    """A product's usage notes for the care message; an empty note removes them."""
    require_right(staff, Right.CONFIGURE_SELF_SERVICE)
    product = Product.objects.for_shop(staff.shop).filter(pk=product_id).first()
    if product is None:
        raise NotFound(_("No such product in this shop."))
    note = clean_text(note.strip(), 500, field="note")
    if not note:
        ProductCareNote.objects.filter(product=product).delete()
        return None
    found, _created = ProductCareNote.objects.update_or_create(
        product=product, defaults={"shop": staff.shop, "note": note}
    )
    return found


def in_quiet_hours(settings: FollowUpSettings, moment: datetime, zone: tzinfo) -> bool:
    """Whether ``moment`` falls in the shop's quiet hours, read in the shop's time zone ``zone``
    (``Shop.zone``); a window that crosses midnight (22:00-08:00) is quiet before its end and from its
    start."""
    start, end = settings.quiet_from, settings.quiet_until
    if start == end:
        return False
    local = moment.astimezone(zone).time()
    return start <= local < end if start < end else local >= start or local < end


# --- planning ----------------------------------------------------------------------------------------------


def _plan(rows: Iterable[FollowUp]) -> int:
    created = FollowUp.objects.bulk_create(list(rows), ignore_conflicts=True)
    return len(created)


def plan_return_visit(order: Order, *, now: datetime | None = None) -> None:
    """At the buyer's confirmation of receipt: the return visit, due at once (quiet hours still apply)."""
    if not settings_of(order.shop_id).return_visit_on:
        return
    due = now or timezone.now()
    _plan(
        [
            FollowUp(
                shop_id=order.shop_id, buyer_id=order.buyer_id, order=order, kind="return_visit", due_at=due
            )
        ]
    )


def plan(now: datetime) -> int:
    """Plan what the shops that switched a kind on have coming: care messages of orders delivered in the
    last ``PLAN_WINDOW``, return visits of completed orders delivered in it (a confirmation on the card plans
    its own at once), and the coupons of buyers whose first purchase is 30 days old, planned against that
    first paid order. Idempotent (the constraint)."""
    on = list(FollowUpSettings.objects.filter(Q(care_on=True) | Q(return_visit_on=True) | Q(coupon_on=True)))
    planned = 0
    for s in on:
        orders = Order.objects.filter(shop_id=s.shop_id)
        if s.care_on:
            delivered = orders.filter(
                delivered_at__gte=now - PLAN_WINDOW,
                delivered_at__lte=now,
                status__in=[OrderStatus.DELIVERED, OrderStatus.COMPLETED],
            ).exclude(Exists(FollowUp.objects.filter(order=OuterRef("pk"), kind=FollowUpKind.CARE)))
            planned += _plan(
                FollowUp(
                    shop_id=s.shop_id,
                    buyer_id=o.buyer_id,
                    order=o,
                    kind=FollowUpKind.CARE,
                    due_at=o.delivered_at + timedelta(hours=s.care_delay_hours),
                )
                for o in delivered.only("pk", "buyer_id", "delivered_at")[:BATCH]
                if o.delivered_at is not None
            )
        if s.return_visit_on:
            # An order pushed as completed carries no time of the confirmation: one delivered within the
            # window stands for a recent one (``updated_at`` would name every order of an import).
            completed = orders.filter(
                status=OrderStatus.COMPLETED, delivered_at__gte=now - PLAN_WINDOW, delivered_at__lte=now
            ).exclude(Exists(FollowUp.objects.filter(order=OuterRef("pk"), kind=FollowUpKind.RETURN_VISIT)))
            planned += _plan(
                FollowUp(
                    shop_id=s.shop_id,
                    buyer_id=o.buyer_id,
                    order=o,
                    kind=FollowUpKind.RETURN_VISIT,
                    due_at=now,
                )
                for o in completed.only("pk", "buyer_id")[:BATCH]
            )
        if s.coupon_on:
            planned += _plan_coupons(s.shop_id, now)
    return planned


def _plan_coupons(shop_id: int, now: datetime) -> int:
    buyers = Buyer.objects.filter(
        shop_id=shop_id,
        first_paid_at__lte=now - timedelta(days=30),
        first_paid_at__gte=now - timedelta(days=30) - PLAN_WINDOW,
    )
    rows = []
    for buyer in buyers.only("pk", "first_paid_at")[:BATCH]:
        first = (
            Order.objects.filter(shop_id=shop_id, buyer=buyer, paid_at__isnull=False)
            .order_by("paid_at", "pk")
            .only("pk", "paid_at")
            .first()
        )
        if first is None or buyer.first_paid_at is None:
            continue
        for kind, days in ((FollowUpKind.COUPON_30, 30), (FollowUpKind.COUPON_60, 60)):
            due = buyer.first_paid_at + timedelta(days=days)
            rows.append(FollowUp(shop_id=shop_id, buyer=buyer, order=first, kind=kind, due_at=due))
    return _plan(rows)


# --- sending -----------------------------------------------------------------------------------------------


def _claim(now: datetime, shop_ids: list[int], batch: int) -> list[FollowUp]:
    """Take due pending rows of these shops: locked with SKIP LOCKED (so a second run takes other rows or
    none) and marked ``sending`` in the same transaction, so a row is claimed by one run only."""
    with transaction.atomic():
        due = (
            FollowUp.objects.select_for_update(skip_locked=True)
            .filter(state=FollowUpState.PENDING, due_at__lte=now, shop_id__in=shop_ids)
            .order_by("due_at")[:batch]
        )
        ids = [row.pk for row in due]
        FollowUp.objects.filter(pk__in=ids, state=FollowUpState.PENDING).update(
            state=FollowUpState.SENDING, claimed_at=now
        )
    return list(
        FollowUp.objects.filter(pk__in=ids, state=FollowUpState.SENDING).select_related("order", "buyer")
    )


def is_unsubscribe(text: str) -> bool:
    """Whether a buyer's message asks for no more follow-ups: 退订 or TD as the whole message, whatever the
    spaces, punctuation, width, case or script (退訂, ＴＤ, "td。"), or a short one around 退订 ("我要退订",
    "退订了", at most 6 characters) that does not negate it ("不退订")."""
    core = re.sub(r"[\W_]+", "", normalize(text))
    if core in UNSUBSCRIBE:
        return True
    return "退订" in core and len(core) <= UNSUBSCRIBE_MAX and "不" not in core


def record_opt_outs(buyer_ids: list[int]) -> set[int]:
    """Buyers (of these) who replied 退订 or TD in any chat (``is_unsubscribe``): recorded once; every
    opted-out one of them returned."""
    candidates = (
        Message.objects.filter(conversation__buyer_id__in=buyer_ids, sender=SenderKind.BUYER)
        .annotate(length=Length("text"))
        .filter(length__lte=20)  # an unsubscribe is short; longer messages are questions
        .values_list("conversation__buyer_id", "conversation__shop_id", "text")
    )
    said = {(buyer, shop) for buyer, shop, text in candidates if is_unsubscribe(text)}
    FollowUpOptOut.objects.bulk_create(
        [FollowUpOptOut(buyer_id=b, shop_id=s) for b, s in said], ignore_conflicts=True
    )
    return set(FollowUpOptOut.objects.filter(buyer_id__in=buyer_ids).values_list("buyer_id", flat=True))


def _bought_since(row: FollowUp) -> bool:
    return (
        Order.objects.filter(buyer_id=row.buyer_id, created_at__gt=row.order.created_at)
        .exclude(status__in=[OrderStatus.UNPAID, OrderStatus.CLOSED])
        .exists()
    )


def _text(row: FollowUp, s: FollowUpSettings) -> str | None:
    """The message of a claimed row, or None when it is not to be sent (kind off, bought since)."""
    if row.kind == FollowUpKind.CARE:
        if not s.care_on:
            return None
        product_ids = OrderItem.objects.filter(order_id=row.order_id).values_list("product_id", flat=True)
        notes = ProductCareNote.objects.filter(product_id__in=product_ids).values_list("note", flat=True)
        return "\n".join([s.care_text or str(DEFAULT_CARE), *notes])
    if row.kind == FollowUpKind.RETURN_VISIT:
        return (s.return_visit_text or str(DEFAULT_RETURN_VISIT)) if s.return_visit_on else None
    if not s.coupon_on or (row.kind == FollowUpKind.COUPON_60 and _bought_since(row)):
        return None
    return s.coupon_text or str(DEFAULT_COUPON)


def _finish(row: FollowUp, state: str, note: str = "") -> None:
    FollowUp.objects.filter(pk=row.pk, state=FollowUpState.SENDING).update(
        state=state, sent_at=timezone.now() if state == FollowUpState.SENT else None, note=note
    )


def send_due(now: datetime, *, batch: int = BATCH) -> int:
    """Send the due messages of shops outside their quiet hours; returns how many were sent."""
    FollowUp.objects.filter(state=FollowUpState.SENDING, claimed_at__lt=now - RECLAIM_AFTER).update(
        state=FollowUpState.PENDING
    )
    shops = {s.shop_id: s for s in FollowUpSettings.objects.select_related("shop")}
    awake = [shop_id for shop_id, s in shops.items() if not in_quiet_hours(s, now, s.shop.zone)]
    rows = _claim(now, awake, batch) if awake else []
    opted_out = record_opt_outs(sorted({row.buyer_id for row in rows})) if rows else set()
    sent = 0
    for row in rows:
        if row.buyer_id in opted_out:
            _finish(row, FollowUpState.SKIPPED, "unsubscribed")
            continue
        text = _text(row, shops[row.shop_id])
        if text is None:
            _finish(row, FollowUpState.SKIPPED, "off")
            continue
        routing.post_system_message_to_buyer(
            buyer=row.buyer,
            text=f"{text}\n{OPT_OUT_HINT}",
            card={"kind": "follow_up", "follow_up": row.kind, "order": row.order_id},
            client_msg_id=f"follow-up-{row.pk}",
        )
        _finish(row, FollowUpState.SENT)
        sent += 1
    return sent


def run(now: datetime | None = None) -> int:
    """One beat run: plan, then send what is due (by ``now``: the database's clock unless a test says)."""
    now = now or database_now()
    plan(now)
    return send_due(now)


def database_now() -> datetime:
    """The database server's current time (every process agrees on it, whatever its own clock says)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT statement_timestamp()")
            value = cursor.fetchone()[0]
            return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
    return timezone.now()  # SQLite runs in this process: its clock is ours
