"""Every write of the shop domain. Views, admin, API and commands call these; none saves models itself."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from backoffice import events
from backoffice.errors import Conflict, Forbidden, Invalid
from backoffice.models import (
    AddressChange,
    AfterSaleStatus,
    ApiKey,
    Buyer,
    ContactView,
    ContactViewPlace,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Role,
    Shop,
    StaffAccount,
    validate_time_zone,
)

User = get_user_model()

RIGHT_CODENAMES = [codename for codename, _label in Shop._meta.permissions]


def grantable_rights() -> Any:
    """The fine-grained rights an owner may grant to a staff account (glossary, People and accounts)."""
    return Permission.objects.filter(content_type__app_label="backoffice", codename__in=RIGHT_CODENAMES)


# --- shops and staff ---------------------------------------------------------------------------------------


@functools.cache
def _setup_functions(setting: str) -> tuple[Callable[..., Any], ...]:
    return tuple(import_string(path) for path in getattr(settings, setting))


def set_up_shop(shop: Shop) -> None:
    """What the other apps keep for every shop from its creation (the setting ``SHOP_SETUP``: dotted paths to
    functions of the shop, such as routing's settings row), in the creating transaction."""
    for set_up in _setup_functions("SHOP_SETUP"):
        set_up(shop)


def set_up_staff_account(staff: StaffAccount) -> None:
    """Likewise for every staff account (``STAFF_ACCOUNT_SETUP``: routing's agent state, so that an agent
    can be put in a group before they first open the workbench)."""
    for set_up in _setup_functions("STAFF_ACCOUNT_SETUP"):
        set_up(staff)


@transaction.atomic
def create_shop(
    *, name: str, manager_name: str, owner_login: str, owner_password: str | None, demo: bool = False
) -> Shop:
    """A new shop and its owner account; the owner's display name is the manager name, for good. ``demo``:
    a shop of ``seed_demo`` (``Shop.is_demo``)."""
    shop = Shop.objects.create(name=name, manager_name=manager_name, is_demo=demo)
    set_up_shop(shop)
    user = _user_for_login(login=owner_login, password=owner_password)
    owner = StaffAccount.objects.create(
        shop=shop, user=user, display_name=manager_name, role=Role.OWNER, im_enabled=True
    )
    set_up_staff_account(owner)
    return shop


def _user_for_login(*, login: str, password: str | None) -> Any:
    """Create the login, or return the existing one (its password was checked by the caller).

    One person may hold accounts in several shops (an outsourcing agency's agent). Linking an existing login
    requires its password so that no owner can attach somebody else's login to their shop.
    """
    user = User.objects.filter(username=login).first()
    if user is None:
        user = User(username=login, is_staff=True)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        return user
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def check_new_staff_account(*, shop: Shop, login: str, password: str | None, role: str) -> None:
    """Refuse a second owner, a login already in this shop, and linking a login without its password.

    The last refusal (its error names the field ``password``, for the admin's throttle) says nothing about
    the login beyond that it cannot be added as entered: not whose it is, nor in which shop."""
    if role == Role.OWNER:
        raise Invalid(_("A shop has exactly one owner, created with the shop."))
    user = User.objects.filter(username=login).first()
    if user is None:
        return
    if StaffAccount.objects.filter(shop=shop, user=user).exists():
        raise Invalid(_("This login already has an account in this shop."))
    if not password or not user.check_password(password):
        message = _(
            "This login is not available. To add someone who already signs in with it, enter its current "
            "password; otherwise choose another login."
        )
        raise Invalid(message, errors=[{"field": "password", "message": message}])


@transaction.atomic
def create_staff_account(
    *,
    shop: Shop,
    login: str,
    password: str | None,
    display_name: str,
    role: str,
    im_enabled: bool,
    rights: Iterable[Permission] = (),
) -> StaffAccount:
    """A sub-account with a new login, or linked to an existing login of the same person."""
    check_new_staff_account(shop=shop, login=login, password=password, role=role)
    user = _user_for_login(login=login, password=password)
    staff = StaffAccount.objects.create(
        shop=shop, user=user, display_name=display_name, role=role, im_enabled=im_enabled
    )
    staff.rights.set(_checked_rights(rights))
    set_up_staff_account(staff)
    return staff


def _checked_rights(rights: Iterable[Permission]) -> list[Permission]:
    rights = list(rights)
    allowed = set(grantable_rights().values_list("pk", flat=True))
    if any(p.pk not in allowed for p in rights):
        raise Invalid(_("Only the shop's fine-grained rights can be granted to an account."))
    return rights


def check_staff_update(*, staff: StaffAccount, display_name: str, role: str, is_active: bool) -> None:
    """The owner's name and role are fixed and the owner cannot be disabled; nobody becomes a second owner."""
    if staff.is_owner:
        if display_name != staff.shop.manager_name:
            raise Invalid(_("The owner's display name cannot be changed."))
        if role != Role.OWNER or not is_active:
            raise Invalid(_("The owner account cannot change role or be disabled."))
    elif role == Role.OWNER:
        raise Invalid(_("A shop has exactly one owner, created with the shop."))


@transaction.atomic
def update_staff_account(
    *,
    staff: StaffAccount,
    display_name: str,
    role: str,
    im_enabled: bool,
    is_active: bool,
    rights: Iterable[Permission],
) -> StaffAccount:
    """Save the account; its open sockets check it again at once (a disabled account or one without IM
    permission is closed out: ``events.AccessChanged``)."""
    check_staff_update(staff=staff, display_name=display_name, role=role, is_active=is_active)
    staff.display_name = display_name
    staff.role = role
    staff.im_enabled = im_enabled
    staff.is_active = is_active
    staff.save(update_fields=["display_name", "role", "im_enabled", "is_active"])
    staff.rights.set(_checked_rights(rights))
    revoke_sockets([staff.pk])
    return staff


def revoke_sockets(staff_ids: Iterable[int]) -> None:
    """Tell the open sockets of these accounts to check their session and account again (after commit)."""
    changed = events.AccessChanged()
    events.publish((events.agent_group(pk), changed) for pk in staff_ids)


def set_reception_limit(*, actor: StaffAccount, staff: StaffAccount, limit: int) -> StaffAccount:
    """An agent sets their own reception limit, 1 to the shop's cap; nobody sets anyone else's."""
    if actor.pk != staff.pk:
        raise Forbidden(_("Only the agent can change their own reception limit."))
    cap = staff.shop.reception_cap
    if not 1 <= limit <= cap:
        raise Invalid(
            _("The reception limit must be between 1 and %(cap)s.") % {"cap": cap},
            errors=[{"field": "limit", "message": f"1..{cap}"}],
        )
    StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=limit)
    staff.max_concurrent = limit
    return staff


def set_reception_cap(*, shop: Shop, cap: int) -> Shop:
    """The shop's ceiling for reception limits, 1-500. Lowering it lowers limits above it."""
    if not 1 <= cap <= settings.RECEPTION_LIMIT_MAX_CAP:
        raise Invalid(_("The cap must be between 1 and %(max)s.") % {"max": settings.RECEPTION_LIMIT_MAX_CAP})
    with transaction.atomic():
        Shop.objects.filter(pk=shop.pk).update(reception_cap=cap)
        StaffAccount.objects.filter(shop=shop, max_concurrent__gt=cap).update(max_concurrent=cap)
    shop.reception_cap = cap
    return shop


def set_time_zone(*, shop: Shop, name: str) -> Shop:
    """The shop's time zone, an IANA name (``validate_time_zone``). Instants already stored (messages,
    deadlines already computed) keep their value; what is stored per local day is dropped by the apps that
    keep it, in the same transaction, through the setting ``SHOP_TIME_ZONE_CHANGED`` (dotted paths to
    functions of the shop: the reports' rollups, read live until the beat task rolls the days up again in
    the new zone)."""
    name = (name or "").strip()
    try:
        validate_time_zone(name)
    except ValidationError as error:
        raise Invalid(error.messages[0]) from error
    with transaction.atomic():
        changed = Shop.objects.filter(pk=shop.pk).exclude(time_zone=name).update(time_zone=name)
        shop.time_zone = name
        if changed:
            for forget in _setup_functions("SHOP_TIME_ZONE_CHANGED"):
                forget(shop)
    return shop


def delete_shop(*, shop: Shop) -> None:
    """Delete the shop with everything it holds (the database cascades) and, once that commits, the files
    the apps stored for it: the setting ``SHOP_FILES`` names functions of the shop that return the storage
    paths of its files (chat images and their thumbnails, delay-report evidence). A rolled-back delete keeps
    them; a file already gone is no error. ``manage.py delete_shop`` is its command (the admin refuses, 403,
    to delete a shop with staff accounts or data in it)."""
    with transaction.atomic():
        paths = [path for shop_files in _setup_functions("SHOP_FILES") for path in shop_files(shop)]
        shop.delete()
        transaction.on_commit(lambda: delete_stored_files(paths))


def delete_stored_files(paths: Sequence[str]) -> None:
    """Delete files from the storage (a file already gone is no error): after a commit that dropped their
    rows (``delete_shop``, a withdrawn delay report)."""
    for path in paths:
        default_storage.delete(path)


# --- API keys ----------------------------------------------------------------------------------------------

API_KEY_PREFIX = "sk_"


def _hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_key(*, shop: Shop, name: str, created_by: Any) -> tuple[ApiKey, str]:
    """A new key; returns the stored row and the raw key, which is never stored and shown only once."""
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        shop=shop, name=name, prefix=prefix, key_hash=_hash_key(raw), created_by=created_by
    )
    return key, raw


def revoke_api_keys(*, keys: Any) -> int:
    return int(keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now()))


def authenticate_api_key(raw: str) -> Shop | None:
    """The shop of an active key, or None for a missing, malformed or revoked key."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    prefix = raw[len(API_KEY_PREFIX) :].split("_", 1)[0]
    key = ApiKey.objects.select_related("shop").filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not secrets.compare_digest(key.key_hash, _hash_key(raw)):
        return None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key.shop


# --- commerce data upserts ---------------------------------------------------------------------------------
# Each takes validated records (dicts from the API schemas or seed_demo), is idempotent on the platform's ids
# and all-or-nothing: a referential error anywhere in the batch raises Invalid inside the transaction.


def _check_unique(records: Sequence[dict[str, Any]], key: str) -> None:
    seen: set[str] = set()
    for index, record in enumerate(records):
        if record[key] in seen:
            raise Invalid(
                _("Duplicate %(key)s in the batch.") % {"key": key},
                errors=[{"loc": [index, key], "msg": f"duplicate {key} {record[key]!r}"}],
            )
        seen.add(record[key])


@transaction.atomic
def upsert_buyers(*, shop: Shop, records: Sequence[dict[str, Any]]) -> int:
    _check_unique(records, "platform_id")
    defaults: dict[str, Any] = {"tags": {}, "first_paid_at": None}
    fields = ["nickname", *defaults]
    Buyer.objects.bulk_create(
        [Buyer(shop=shop, **{**defaults, **r}) for r in records],
        update_conflicts=True,
        unique_fields=["shop", "platform_id"],
        update_fields=[*fields, "updated_at"],
    )
    return len(records)


@transaction.atomic
def upsert_products(*, shop: Shop, records: Sequence[dict[str, Any]]) -> int:
    _check_unique(records, "platform_id")
    defaults: dict[str, Any] = {"category": "", "image_url": "", "url": ""}
    fields = ["title", "price", *defaults]
    Product.objects.bulk_create(
        [Product(shop=shop, **{**defaults, **r}) for r in records],
        update_conflicts=True,
        unique_fields=["shop", "platform_id"],
        update_fields=[*fields, "updated_at"],
    )
    return len(records)


ORDER_FIELDS = [
    "status",
    "after_sale_status",
    "total_amount",
    "discount_amount",
    "freight_amount",
    "paid_amount",
    "created_at",
    "paid_at",
    "ship_by",
    "shipped_at",
    "picked_up_at",
    "delivered_at",
    "carrier",
    "tracking_number",
    "receiver_name",
    "receiver_phone",
    "address",
]


def format_address(receiver_name: str, receiver_phone: str, address: str) -> str:
    return " ".join(part for part in (receiver_name, receiver_phone, address) if part)


@transaction.atomic
def upsert_orders(*, shop: Shop, records: Sequence[dict[str, Any]]) -> int:
    """Orders with their items. Items are replaced by the pushed list; a changed address is recorded."""
    _check_unique(records, "number")
    buyer_ids = dict(
        Buyer.objects.for_shop(shop)
        .filter(platform_id__in={r["buyer_platform_id"] for r in records})
        .values_list("platform_id", "pk")
    )
    product_ids = dict(
        Product.objects.for_shop(shop)
        .filter(
            platform_id__in={
                i["product_platform_id"] for r in records for i in r["items"] if i.get("product_platform_id")
            }
        )
        .values_list("platform_id", "pk")
    )
    early = [
        {"loc": [index, "ship_by"], "msg": "ship-by before the order time"}
        for index, record in enumerate(records)
        if record.get("ship_by") is not None and record["ship_by"] < record["created_at"]
    ]
    if early:
        raise Invalid(_("A promised ship-by time cannot be before the order time."), errors=early)
    errors = []
    for index, record in enumerate(records):
        if record["buyer_platform_id"] not in buyer_ids:
            errors.append({"loc": [index, "buyer_platform_id"], "msg": "unknown buyer in this shop"})
        for item_index, item in enumerate(record["items"]):
            pid = item.get("product_platform_id")
            if pid and pid not in product_ids:
                errors.append(
                    {"loc": [index, "items", item_index, "product_platform_id"], "msg": "unknown product"}
                )
    if errors:
        raise Invalid(_("Some orders refer to buyers or products this shop does not have."), errors=errors)

    existing = {
        o.number: format_address(o.receiver_name, o.receiver_phone, o.address)
        for o in Order.objects.for_shop(shop).filter(number__in=[r["number"] for r in records])
    }
    orders = Order.objects.bulk_create(
        [
            Order(
                shop=shop,
                number=r["number"],
                buyer_id=buyer_ids[r["buyer_platform_id"]],
                **{k: r[k] for k in ORDER_FIELDS if k in r},
            )
            for r in records
        ],
        update_conflicts=True,
        unique_fields=["shop", "number"],
        update_fields=["buyer", *ORDER_FIELDS, "updated_at"],
    )
    # bulk_create with update_conflicts does not return ids on every backend: read them back.
    order_ids = dict(
        Order.objects.for_shop(shop).filter(number__in=[o.number for o in orders]).values_list("number", "pk")
    )
    changes = []
    for r in records:
        new = format_address(r.get("receiver_name", ""), r.get("receiver_phone", ""), r.get("address", ""))
        old = existing.get(r["number"])
        if old is not None and old != new:
            changes.append(AddressChange(order_id=order_ids[r["number"]], old_address=old, new_address=new))
    AddressChange.objects.bulk_create(changes)
    OrderItem.objects.filter(order_id__in=order_ids.values()).delete()
    OrderItem.objects.bulk_create(
        [
            OrderItem(
                order_id=order_ids[r["number"]],
                product_id=product_ids.get(i.get("product_platform_id") or ""),
                title=i["title"],
                quantity=i["quantity"],
                unit_price=i["unit_price"],
            )
            for r in records
            for i in r["items"]
        ]
    )
    return len(records)


# --- privacy -----------------------------------------------------------------------------------------------


def record_contact_views(
    *, user: Any, staff: StaffAccount | None, orders: Iterable[Order], place: str
) -> int:
    """Record that ``user`` (working as ``staff``; None for a platform superuser outside any shop) was shown
    the full receiver phone number and address of each of ``orders`` at ``place`` (a ``ContactViewPlace``):
    one row per order, in one INSERT. Orders without a phone number and an address show nothing private and
    are not recorded."""
    rows = [
        ContactView(
            shop_id=order.shop_id,
            user_id=user.pk,
            staff=staff,
            buyer_id=order.buyer_id,
            order_id=order.pk,
            place=ContactViewPlace(place),
        )
        for order in orders
        if order.receiver_phone or order.address
    ]
    ContactView.objects.bulk_create(rows)
    return len(rows)


# --- the buyer's own order actions (self-service cards, robot/selfservice/cards.py) ----------------

# An after-sale request is open in these states; a new one may be made from the others.
AFTER_SALE_OPEN = {
    AfterSaleStatus.REFUND_REQUESTED,
    AfterSaleStatus.RETURN_REQUESTED,
    AfterSaleStatus.RETURNING,
}
ADDRESS_CHANGEABLE = {OrderStatus.UNPAID, OrderStatus.TO_SHIP}  # not yet handed to the carrier
RECEIPT_CONFIRMABLE = {OrderStatus.SHIPPED, OrderStatus.DELIVERED}
AFTER_SALE_KINDS: dict[str, set[str]] = {
    # refund only while the goods are not with the buyer; return and refund once they are
    AfterSaleStatus.REFUND_REQUESTED: {
        OrderStatus.TO_SHIP,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
    },
    AfterSaleStatus.RETURN_REQUESTED: {OrderStatus.DELIVERED, OrderStatus.COMPLETED},
}


def _changed_or_conflict(updated: int) -> None:
    if not updated:
        raise Conflict(_("The order changed meanwhile; reload it and try again."))


@transaction.atomic
def change_order_address(*, order: Order, receiver_name: str, receiver_phone: str, address: str) -> Order:
    """The buyer's new delivery address for an order not yet shipped (unpaid or to ship) and without an open
    after-sale request; recorded as an ``AddressChange`` like a change pushed by the integration. The update
    is conditional on the state read, so a shipment racing the change wins and the change is refused."""
    receiver_name, receiver_phone, address = receiver_name.strip(), receiver_phone.strip(), address.strip()
    errors = [
        {"field": field, "message": _("This field is required.")}
        for field, value in (
            ("receiver_name", receiver_name),
            ("receiver_phone", receiver_phone),
            ("address", address),
        )
        if not value
    ]
    for field, value, limit in (
        ("receiver_name", receiver_name, 50),
        ("receiver_phone", receiver_phone, 30),
        ("address", address, 300),
    ):
        if len(value) > limit:
            errors.append({"field": field, "message": _("At most %(max)d characters.") % {"max": limit}})
    if errors:
        raise Invalid(_("Check the new address."), errors=errors)
    if order.status not in ADDRESS_CHANGEABLE or order.after_sale_status in AFTER_SALE_OPEN:
        raise Conflict(_("The address can only be changed before the order ships."))
    old = format_address(order.receiver_name, order.receiver_phone, order.address)
    new = format_address(receiver_name, receiver_phone, address)
    if old == new:
        return order
    _changed_or_conflict(
        Order.objects.filter(pk=order.pk, status__in=ADDRESS_CHANGEABLE)
        .exclude(after_sale_status__in=AFTER_SALE_OPEN)
        .update(
            receiver_name=receiver_name,
            receiver_phone=receiver_phone,
            address=address,
            updated_at=timezone.now(),
        )
    )
    AddressChange.objects.create(order=order, old_address=old, new_address=new)
    order.receiver_name, order.receiver_phone, order.address = receiver_name, receiver_phone, address
    return order


def confirm_receipt(*, order: Order) -> Order:
    """The buyer confirms receipt of a shipped or delivered order: it is completed (交易成功), delivered now
    if the carrier had not said so."""
    if order.status not in RECEIPT_CONFIRMABLE:
        raise Conflict(_("Only a shipped or delivered order can be confirmed as received."))
    now = timezone.now()
    _changed_or_conflict(
        Order.objects.filter(pk=order.pk, status__in=RECEIPT_CONFIRMABLE).update(
            status=OrderStatus.COMPLETED, delivered_at=order.delivered_at or now, updated_at=now
        )
    )
    order.status = OrderStatus.COMPLETED
    order.delivered_at = order.delivered_at or now
    return order


def request_after_sale(*, order: Order, kind: str) -> Order:
    """The buyer applies for after-sale: ``refund_requested`` (refund only) from paid to completed, or
    ``return_requested`` (return and refund) once the goods are delivered; not while another request is
    open (a rejected or cancelled one may be made again)."""
    allowed = AFTER_SALE_KINDS.get(kind)
    if allowed is None:
        raise Invalid(_("Unknown after-sale kind."), errors=[{"field": "kind", "message": kind[:50]}])
    if order.after_sale_status in AFTER_SALE_OPEN:
        raise Conflict(_("This order already has an after-sale request in progress."))
    if order.status not in allowed:
        raise Conflict(_("This after-sale request is not possible in the order's state."))
    _changed_or_conflict(
        Order.objects.filter(pk=order.pk, status__in=allowed)
        .exclude(after_sale_status__in=AFTER_SALE_OPEN)
        .update(after_sale_status=kind, updated_at=timezone.now())
    )
    order.after_sale_status = kind
    return order


def set_after_sale_status(*, order_ids: Iterable[int], status: str) -> int:
    """The shop's after-sale workbench (``backoffice/operations/aftersale.py``) moves its orders' after-sale
    status along with their requests: ``status`` (an ``AfterSaleStatus``) for every order of ``order_ids``,
    whatever it was (the workbench's state machine has checked the step). Returns the orders changed."""
    if status not in AfterSaleStatus.values:
        raise Invalid(_("Unknown after-sale status."), errors=[{"field": "status", "message": status[:50]}])
    return (
        Order.objects.filter(pk__in=list(order_ids))
        .exclude(after_sale_status=status)
        .update(after_sale_status=status, updated_at=timezone.now())
    )
