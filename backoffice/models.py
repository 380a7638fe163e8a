"""The shop domain: shops (tenants), staff accounts and roles, buyers, products and orders.

Every shop-owned model has a ``ShopQuerySet`` so that tenant scope is applied in one place:
``Model.objects.for_shop(shop)``.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import TYPE_CHECKING, Self, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

if TYPE_CHECKING:
    from django.contrib.auth.models import User


_M = TypeVar("_M", bound=models.Model)


class ShopQuerySet(models.QuerySet[_M]):
    """Tenant scope. ``shop_path`` on the model says how a row reaches its shop."""

    def for_shop(self, shop: Shop | None) -> Self:
        if shop is None:
            return self.none()
        path: str = getattr(self.model, "shop_path", "shop")
        return self.filter(**{path: shop.pk})


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA zone names a shop may choose (those zoneinfo knows, from the system or ``tzdata``)."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA zone name zoneinfo can load (``Asia/Shanghai``, ``Europe/Berlin``); anything else (a path,
    an abbreviation such as ``CST``, an offset) is refused."""
    if value not in time_zone_names():
        raise ValidationError(
            _("Unknown time zone: use an IANA name such as Asia/Shanghai."), code="time_zone"
        )


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class Shop(models.Model):
    name = models.CharField(_("shop name"), max_length=100)
    manager_name = models.CharField(
        _("manager name"),
        max_length=50,
        help_text=_("Given at sign-up; it is the owner's display name and cannot be changed."),
    )
    reception_cap = models.PositiveSmallIntegerField(
        _("reception limit cap"),
        default=settings.RECEPTION_LIMIT_DEFAULT_CAP,
        validators=[MinValueValidator(1), MaxValueValidator(settings.RECEPTION_LIMIT_MAX_CAP)],
        help_text=_("Highest reception limit an agent of this shop may set (at most 500)."),
    )
    is_demo = models.BooleanField(
        _("demo shop"),
        default=False,
        editable=False,
        help_text=_("Made by seed_demo: where the demo buyer picker is on, its picker needs no sign-in."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=settings.TIME_ZONE,
        validators=[validate_time_zone],
        help_text=_(
            "IANA name such as Asia/Shanghai: reports' days and hours and the service-request clock use it."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    shop_path = "pk"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("shop")
        verbose_name_plural = _("shops")
        # The fine-grained rights named in the glossary; granted per staff account.
        permissions = [
            ("configure_robot", _("Can configure the robot")),
            ("manage_routing", _("Can manage routing")),
            ("configure_faq", _("Can configure the FAQ")),
            ("configure_self_service", _("Can configure self-service")),
            ("configure_service_window", _("Can configure the service window")),
            ("manage_team_phrases", _("Can manage team phrases")),
            ("view_reports", _("Can view reports")),
            # Buyers' full phone numbers and addresses (backoffice/privacy.py); without it they are masked.
            ("view_full_phone", _("Can see buyers' full phone numbers and addresses")),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The shop's time zone: the one lookup behind every "shop time" (reports' local days and hours, the
        live monitor's today, the 09:00-21:00 service-request clock, self-service quiet hours). A name that
        no longer loads (a zone removed from tzdata) falls back to ``settings.TIME_ZONE``."""
        return _zone(self.time_zone or settings.TIME_ZONE)


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Administrator")
    CS_SUPERVISOR = "cs_supervisor", _("CS supervisor")
    OPERATIONS = "operations", _("Operations")
    AGENT = "agent", _("Agent")


class StaffAccount(models.Model):
    """A person's account in one shop (the owner's main account or a sub-account).

    Permissions come from the Django group named after ``role`` plus the account's own ``rights``; the
    authentication backend resolves them for the shop the person is currently working in.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="staff", verbose_name=_("shop"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_accounts",
        verbose_name=_("login"),
    )
    display_name = models.CharField(_("employee name"), max_length=50)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.AGENT)
    im_enabled = models.BooleanField(
        _("IM permission"), default=False, help_text=_("Only accounts with this ticked can chat with buyers.")
    )
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Untick to disable the account."))
    max_concurrent = models.PositiveSmallIntegerField(
        _("reception limit"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(settings.RECEPTION_LIMIT_MAX_CAP)],
        help_text=_("Set by the agent; the owner can see it but not change it."),
    )
    rights = models.ManyToManyField(
        "auth.Permission",
        blank=True,
        verbose_name=_("extra rights"),
        help_text=_("Rights granted to this account on top of its role."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("staff account")
        verbose_name_plural = _("staff accounts")
        constraints = [
            models.UniqueConstraint(fields=["shop", "user"], name="staff_one_account_per_person_per_shop"),
            models.UniqueConstraint(
                fields=["shop"], condition=models.Q(role="owner"), name="staff_one_owner_per_shop"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.shop})"

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    def permission_names(self) -> set[str]:
        """``app_label.codename`` strings for the role's group and the account's own rights."""
        from django.contrib.auth.models import Permission

        perms = Permission.objects.filter(
            models.Q(group__name=self.role) | models.Q(staffaccount=self)
        ).values_list("content_type__app_label", "codename")
        return {f"{app}.{code}" for app, code in perms}


class Buyer(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="buyers", verbose_name=_("shop"))
    platform_id = models.CharField(_("platform id"), max_length=64)
    nickname = models.CharField(_("nickname"), max_length=100)
    tags = models.JSONField(
        _("tags"),
        default=dict,
        blank=True,
        help_text=_('For example {"member_level": "gold", "region": "浙江"}.'),
    )
    first_paid_at = models.DateTimeField(_("first payment"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("buyer")
        verbose_name_plural = _("buyers")
        constraints = [
            models.UniqueConstraint(fields=["shop", "platform_id"], name="buyer_platform_id_per_shop")
        ]
        indexes = [
            models.Index(fields=["shop", "nickname"]),
            # the follow-up task's scan of buyers by first purchase (the 30-day coupon)
            models.Index(
                fields=["shop", "first_paid_at"],
                name="buyer_shop_first_paid",
                condition=models.Q(first_paid_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.nickname


class Product(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="products", verbose_name=_("shop"))
    platform_id = models.CharField(_("platform id"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    price = models.DecimalField(_("price (yuan)"), max_digits=12, decimal_places=2)
    category = models.CharField(_("category"), max_length=100, blank=True)
    image_url = models.URLField(_("image URL"), max_length=500, blank=True)
    url = models.URLField(_("link"), max_length=500, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.UniqueConstraint(fields=["shop", "platform_id"], name="product_platform_id_per_shop")
        ]

    def __str__(self) -> str:
        return self.title


class OrderStatus(models.TextChoices):
    UNPAID = "unpaid", _("Unpaid")
    TO_SHIP = "to_ship", _("To ship")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", pgettext_lazy("order status", "Delivered")
    COMPLETED = "completed", _("Completed")
    CLOSED = "closed", _("Closed")


class AfterSaleStatus(models.TextChoices):
    NONE = "none", pgettext_lazy("after-sale status", "None")
    REFUND_REQUESTED = "refund_requested", _("Refund requested")
    RETURN_REQUESTED = "return_requested", _("Return and refund requested")
    RETURNING = "returning", _("Goods being returned")
    REFUNDED = "refunded", _("Refunded")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class Order(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="orders", verbose_name=_("shop"))
    number = models.CharField(_("order number"), max_length=64)
    buyer = models.ForeignKey(Buyer, on_delete=models.PROTECT, related_name="orders", verbose_name=_("buyer"))
    status = models.CharField(pgettext_lazy("order", "status"), max_length=20, choices=OrderStatus.choices)
    after_sale_status = models.CharField(
        _("after-sale status"), max_length=20, choices=AfterSaleStatus.choices, default=AfterSaleStatus.NONE
    )
    total_amount = models.DecimalField(_("total amount (yuan)"), max_digits=12, decimal_places=2)
    discount_amount = models.DecimalField(_("discount (yuan)"), max_digits=12, decimal_places=2, default=0)
    freight_amount = models.DecimalField(_("freight (yuan)"), max_digits=12, decimal_places=2, default=0)
    paid_amount = models.DecimalField(_("paid amount (yuan)"), max_digits=12, decimal_places=2, default=0)
    created_at = models.DateTimeField(_("ordered at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    ship_by = models.DateTimeField(_("promised ship-by"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    picked_up_at = models.DateTimeField(_("picked up at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=50, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    receiver_name = models.CharField(_("receiver"), max_length=50, blank=True)
    receiver_phone = models.CharField(_("receiver phone"), max_length=30, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Shop operations' scan markers (backoffice/operations/): set by the beat tasks only, never pushed.
    late_flagged_at = models.DateTimeField(_("flagged late at"), null=True, blank=True, editable=False)
    # 0 none, 1 "pickup about to time out" raised, 2 "treated as false shipment" raised too.
    pickup_alert_level = models.PositiveSmallIntegerField(
        _("pickup alerts raised"), default=0, editable=False
    )

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["shop", "number"], name="order_number_per_shop")]
        indexes = [
            models.Index(fields=["buyer", "-created_at"]),
            # the follow-up task's scan of a shop's recently delivered orders (robot/selfservice/followup.py)
            models.Index(
                fields=["shop", "delivered_at"],
                name="order_shop_delivered",
                condition=models.Q(delivered_at__isnull=False),
            ),
            # The late-shipment scan and the "ship within 24 h" list: unshipped orders by ship-by.
            models.Index(
                fields=["ship_by"],
                name="order_to_ship_by",
                condition=models.Q(status="to_ship", late_flagged_at__isnull=True, ship_by__isnull=False),
            ),
            # The package-center scan: shipped, no pickup scan, not yet at the last alert.
            models.Index(
                fields=["shipped_at"],
                name="order_awaiting_pickup",
                condition=models.Q(
                    shipped_at__isnull=False, picked_up_at__isnull=True, pickup_alert_level__lt=2
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items", verbose_name=_("order"))
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("product")
    )
    title = models.CharField(_("title"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = models.DecimalField(_("unit price (yuan)"), max_digits=12, decimal_places=2)

    shop_path = "order__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")

    def __str__(self) -> str:
        return f"{self.title} x{self.quantity}"


class AddressChange(models.Model):
    """One change of an order's delivery address, recorded when an upsert brings a different address."""

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="address_changes", verbose_name=_("order")
    )
    old_address = models.CharField(_("old address"), max_length=400)
    new_address = models.CharField(_("new address"), max_length=400)
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    shop_path = "order__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("address change")
        verbose_name_plural = _("address changes")
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        # No address in it: the admin prints it above each inline row, where the addresses may be masked.
        return (
            f"{self.order_id} @ {self.changed_at:%Y-%m-%d %H:%M}" if self.changed_at else str(self.order_id)
        )


class ContactViewPlace(models.TextChoices):
    ADMIN_LIST = "admin_list", _("Admin: order list")
    ADMIN_FORM = "admin_form", _("Admin: order page")
    WORKBENCH = "workbench", _("Workbench: buyer panel")


class ContactView(models.Model):
    """One showing of an order's full receiver phone number and address to a person (an account with the
    right to see them, or a platform superuser): who, when, which buyer and order, where. Written by
    ``services.record_contact_views``; read-only in admin, for the owner."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    user: models.ForeignKey[User | None, User | None] = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("login"),
    )
    staff = models.ForeignKey(
        StaffAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff account"),
    )
    buyer = models.ForeignKey(Buyer, on_delete=models.CASCADE, related_name="+", verbose_name=_("buyer"))
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+", verbose_name=_("order"))
    place = models.CharField(_("where"), max_length=20, choices=ContactViewPlace.choices)
    at = models.DateTimeField(_("viewed at"), db_default=Now())

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("full phone number view")
        verbose_name_plural = _("full phone number views")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["shop", "-at"], name="contact_view_shop_at")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.get_place_display()} {self.at:%Y-%m-%d %H:%M}"


class ApiKey(models.Model):
    """A per-shop key for integrations. Only its SHA-256 is stored; the key is shown once on creation."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("shop"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_by: models.ForeignKey[User | None, User | None] = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class CacheStamp(models.Model):
    """The version of one of a shop's per-process caches (``backoffice.text.StampedShopCache``; ``name``
    says which: "phrases", ...): a random ``stamp`` drawn when the row is created, and a ``version`` that
    every write changing what the cache holds adds one to, in the writer's transaction. Processes keep the
    cache under the (stamp, version) they loaded it with, and update or reload it when that differs."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=30)
    stamp = models.CharField(max_length=32)
    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("cache stamp")
        verbose_name_plural = _("cache stamps")
        constraints = [models.UniqueConstraint(fields=["shop", "name"], name="cache_stamp_per_shop")]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.name}: {self.stamp}.{self.version}"


class CacheChange(models.Model):
    """The recent history of a ``CacheStamp``: the stamp each committed write drew at its version, and the
    ids of the rows it deleted (the last ``backoffice.text.HISTORY`` writes are kept). A process may bring
    its cache from (stamp, version) up to date with the rows changed after that version only while this
    history holds that pair: the cache was then built from committed data, never from a write rolled back
    later (whose version a later write may reuse), nor from another database."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=30)
    version = models.BigIntegerField()
    stamp = models.CharField(max_length=32)
    removed = models.JSONField(default=list)  # ids of the rows the write deleted

    class Meta:
        verbose_name = _("cache change")
        verbose_name_plural = _("cache changes")
        constraints = [
            models.UniqueConstraint(fields=["shop", "name", "version"], name="cache_change_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.name}: {self.stamp}.{self.version}"


# --- shop operations (backoffice/operations/) -------------------------------------------------------------


class LateShipment(models.Model):
    """An order found past its promised ship-by time and not shipped (订单超时未发货), recorded once per order
    by the beat task ``backoffice.ops_late_shipments``, with the late-shipment compensation owed to the buyer
    as a no-threshold voucher (``voucher_amount`` yuan, 0 when none is owed; rule in
    ``backoffice.operations.compensation``)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, related_name="late_shipment", verbose_name=_("order")
    )
    ship_by = models.DateTimeField(_("promised ship-by"))
    detected_at = models.DateTimeField(_("found late at"), db_default=Now())
    unit_price = models.DecimalField(_("highest unit price (yuan)"), max_digits=12, decimal_places=2)
    voucher_amount = models.DecimalField(_("voucher owed (yuan)"), max_digits=8, decimal_places=2)
    # An approved delay report covering the order: nothing is owed (voucher_amount 0).
    waived_by = models.ForeignKey(
        "DelayReport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("waived by delay report"),
    )

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("late shipment")
        verbose_name_plural = _("late shipments")
        ordering = ["-detected_at", "-pk"]
        indexes = [models.Index(fields=["shop", "-detected_at"], name="late_shipment_shop_at")]

    def __str__(self) -> str:
        return f"{self.order_id}: ¥{self.voucher_amount}"


class ServiceCategory(models.TextChoices):
    GENERAL = "general", _("General (24 h)")
    URGENT = "urgent", _("Urgent (2 h)")
    AGREED = "agreed", _("Agreed with the platform")


class ServiceRequestState(models.TextChoices):
    OPEN = "open", pgettext_lazy("service request", "Open")
    HANDLED = "handled", pgettext_lazy("service request", "Handled")
    SETTLED = "settled", _("Settled by the platform")


class ServiceRequest(models.Model):
    """A platform ticket (服务请求) the shop must handle within its time on the 09:00-21:00 clock
    (``backoffice.operations.clock``); ``due_at`` and ``warn_at`` (80% of the time) are computed when it
    arrives and when the owner changes the holiday pause. Overdue and still open: settled by the platform."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    number = models.CharField(_("ticket number"), max_length=64)
    category = models.CharField(_("category"), max_length=10, choices=ServiceCategory.choices)
    hours = models.PositiveSmallIntegerField(_("hours to handle"))
    subject = models.CharField(_("subject"), max_length=500)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("order")
    )
    received_at = models.DateTimeField(_("received at"))
    due_at = models.DateTimeField(_("due at"))
    warn_at = models.DateTimeField(_("warn at"))
    state = models.CharField(
        pgettext_lazy("service request", "state"),
        max_length=10,
        choices=ServiceRequestState.choices,
        default=ServiceRequestState.OPEN,
    )
    warned_at = models.DateTimeField(_("warned at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    handled_by = models.ForeignKey(
        StaffAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "number"], name="service_request_number_per_shop")
        ]
        indexes = [
            models.Index(
                fields=["warn_at"],
                name="service_request_to_warn",
                condition=models.Q(state="open", warned_at__isnull=True),
            ),
            models.Index(
                fields=["due_at"], name="service_request_open_due", condition=models.Q(state="open")
            ),
        ]

    def __str__(self) -> str:
        return self.number


class PackageAlertKind(models.TextChoices):
    PICKUP_SOON = "pickup_soon", _("Pickup about to time out")
    FALSE_SHIPMENT = "false_shipment", _("Treated as false shipment")


class PackageAlert(models.Model):
    """A package center record (包裹中心): 12 h after shipping without a pickup scan, "pickup about to
    time out" (即将揽收超时); at 24 h, "treated as false shipment" (虚假发货). A pickup scan closes the
    order's open records (``closed_at``)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="package_alerts", verbose_name=_("order")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=PackageAlertKind.choices)
    shipped_at = models.DateTimeField(_("shipped at"))
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("package alert")
        verbose_name_plural = _("package alerts")
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="package_alert_once_per_kind")]
        indexes = [
            models.Index(
                fields=["shop", "-created_at"], name="package_alert_open", condition=models.Q(closed_at=None)
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.get_kind_display()}"


class OpsSettings(models.Model):
    """A shop's settings for its operations clock: whether the service-request clock pauses on China's
    public holidays (法定节假日, from ``chinese-calendar``)."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    pause_on_holidays = models.BooleanField(
        _("pause on public holidays"),
        default=False,
        help_text=_("The service-request clock stops on China's public holidays."),
    )

    shop_path = "shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("operations settings")
        verbose_name_plural = _("operations settings")

    def __str__(self) -> str:
        return str(self.shop_id)


class OpsJobRun(models.Model):
    """When a shop-operations beat task last finished (one row per task: the scheduler serves every shop at
    once), and how many rows that run acted on; shown on the shops' operations pages."""

    name = models.CharField(_("task"), max_length=50, unique=True)
    finished_at = models.DateTimeField(_("last run"))
    processed = models.PositiveIntegerField(_("rows acted on"), default=0)

    class Meta:
        verbose_name = _("operations check run")
        verbose_name_plural = _("operations check runs")

    def __str__(self) -> str:
        return self.name


class AfterSaleKind(models.TextChoices):
    REFUND_ONLY = "refund_only", _("Refund only")
    RETURN_REFUND = "return_refund", _("Return and refund")


class AfterSaleOrderState(models.TextChoices):
    NOT_SHIPPED = "not_shipped", _("Not shipped")
    SHIPPED = "shipped", pgettext_lazy("after-sale order state", "Shipped")
    RECEIVED = "received", _("Received")


class AfterSaleReason(models.TextChoices):
    NOT_WANTED = "not_wanted", _("No longer wanted")
    WRONG_ADDRESS = "wrong_address", _("Wrong address")
    QUALITY = "quality", _("Quality problem")
    NOT_AS_DESCRIBED = "not_as_described", _("Not as described")
    OTHER = "other", pgettext_lazy("after-sale reason", "Other")


class AfterSaleState(models.TextChoices):
    REQUESTED = "requested", _("Awaiting the shop")
    AGREED = "agreed", _("Agreed")
    INTERCEPTED = "intercepted", _("Parcel intercepted")
    RETURNING = "returning", _("Return on its way")
    REFUNDED = "refunded", pgettext_lazy("after-sale state", "Refunded")
    REFUSED = "refused", _("Refused")


class AfterSaleRequest(models.Model):
    """An after-sale request (售后申请): pushed by the integration or made by an agent from the chat, with its
    kind and the order's state when it was made, moved along the state machine of
    ``backoffice.operations.aftersale`` by the shop's one-click actions."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    number = models.CharField(_("after-sale number"), max_length=64)
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="after_sales", verbose_name=_("order")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=AfterSaleKind.choices)
    order_state = models.CharField(_("order state"), max_length=20, choices=AfterSaleOrderState.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=AfterSaleReason.choices)
    note = models.CharField(_("buyer's note"), max_length=500, blank=True)
    state = models.CharField(
        pgettext_lazy("after-sale", "state"),
        max_length=20,
        choices=AfterSaleState.choices,
        default=AfterSaleState.REQUESTED,
    )
    refuse_reason = models.CharField(_("refusal reason"), max_length=500, blank=True)
    return_tracking_number = models.CharField(_("return tracking number"), max_length=64, blank=True)
    created_by = models.ForeignKey(
        StaffAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    updated_at = models.DateTimeField(_("updated at"), db_default=Now())

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("after-sale request")
        verbose_name_plural = _("after-sale requests")
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["shop", "number"], name="after_sale_number_per_shop")]
        indexes = [
            models.Index(
                fields=["shop", "-created_at"],
                name="after_sale_open",
                condition=~models.Q(state__in=["refunded", "refused"]),
            )
        ]

    def __str__(self) -> str:
        return self.number


class AfterSaleStep(models.Model):
    """One action taken on an after-sale request: who, when, which action, the state it led to, and its
    text (the refusal reason, the return tracking number)."""

    request = models.ForeignKey(
        AfterSaleRequest, on_delete=models.CASCADE, related_name="steps", verbose_name=_("after-sale request")
    )
    action = models.CharField(_("action"), max_length=20)
    state = models.CharField(
        pgettext_lazy("after-sale", "state"), max_length=20, choices=AfterSaleState.choices
    )
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    actor = models.ForeignKey(
        StaffAccount, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("at"), db_default=Now())

    shop_path = "request__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("after-sale step")
        verbose_name_plural = _("after-sale steps")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.action}"


class DelayReason(models.TextChoices):
    WEATHER = "weather", _("Weather")
    EPIDEMIC = "epidemic", _("Epidemic")
    COURIER_SUSPENDED = "courier_suspended", _("Courier suspended")
    BUYER_DATE = "buyer_date", _("Buyer's requested date")
    OTHER = "other", pgettext_lazy("delay reason", "Other")


class DelayReportStatus(models.TextChoices):
    PENDING = "pending", _("Under review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class DelayReport(models.Model):
    """A delay report (报备): the shop tells the platform in advance that some orders, or every order to a
    region in a period, will ship late, with evidence. Once approved, the orders it covers owe no
    late-shipment compensation (``backoffice.operations.delays``)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    reason = models.CharField(_("reason"), max_length=20, choices=DelayReason.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    orders = models.ManyToManyField(Order, blank=True, related_name="delay_reports", verbose_name=_("orders"))
    region = models.CharField(
        _("region"), max_length=50, blank=True, help_text=_("For example 浙江省杭州市.")
    )
    starts_at = models.DateTimeField(_("from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("until"), null=True, blank=True)
    status = models.CharField(
        pgettext_lazy("delay report", "status"),
        max_length=10,
        choices=DelayReportStatus.choices,
        default=DelayReportStatus.PENDING,
    )
    review_note = models.CharField(_("review note"), max_length=500, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        StaffAccount, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("delay report")
        verbose_name_plural = _("delay reports")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} #{self.pk}"


class DelayEvidence(models.Model):
    """A file proving a delay report (an image or a PDF: the courier's stamped notice), checked by its
    content, stored under ``MEDIA_ROOT`` with a random name and served only to the shop's staff."""

    report = models.ForeignKey(
        DelayReport, on_delete=models.CASCADE, related_name="evidence", verbose_name=_("delay report")
    )
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=50)
    size = models.PositiveIntegerField(_("size (bytes)"))
    path = models.CharField(max_length=200, editable=False)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    shop_path = "report__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("delay evidence")
        verbose_name_plural = _("delay evidence")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class OpsAlertKind(models.TextChoices):
    LATE_SHIPMENT = "late_shipment", _("Order shipped late")
    PICKUP_SOON = "pickup_soon", _("Pickup about to time out")
    FALSE_SHIPMENT = "false_shipment", _("Treated as false shipment")
    REQUEST_WARNING = "request_warning", _("Service request at 80% of its time")
    REQUEST_SETTLED = "request_settled", _("Service request settled by the platform")


class OpsAlert(models.Model):
    """One alert of the shop-operations jobs, for the supervisors' notification list: what happened (kind)
    to which order or ticket (``ref``: its number). Written by the beat tasks in the batch that acted."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    kind = models.CharField(_("kind"), max_length=20, choices=OpsAlertKind.choices)
    ref = models.CharField(_("order or ticket"), max_length=64)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("operations alert")
        verbose_name_plural = _("operations alerts")
        ordering = ["-pk"]
        indexes = [models.Index(fields=["shop", "-id"], name="ops_alert_shop_id")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.ref}"


class OpsReadMark(models.Model):
    """Up to which alert (id) a staff account has read its shop's alerts: the unread count is the alerts
    after it."""

    staff = models.OneToOneField(StaffAccount, on_delete=models.CASCADE, related_name="+")
    read_up_to = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("alerts read mark")
        verbose_name_plural = _("alerts read marks")

    def __str__(self) -> str:
        return f"{self.staff_id}: {self.read_up_to}"
