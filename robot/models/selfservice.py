"""Buyer self-service (issue 16): the FAQ, the self-service cards, the interactive service window and the
follow-up messages. Every write goes through ``robot.selfservice``; these are the rows it keeps."""

from __future__ import annotations

import datetime

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from backoffice.models import Buyer, Order, Product, Shop, ShopQuerySet

__all__ = [
    "CardAction",
    "CardKind",
    "FaqItem",
    "FaqSettings",
    "FollowUp",
    "FollowUpKind",
    "FollowUpOptOut",
    "FollowUpSettings",
    "FollowUpState",
    "ProductCareNote",
    "SelfServiceSettings",
    "WindowBar",
    "WindowEntry",
    "WindowEntryKind",
]

# --- FAQ (常见问题) ------------------------------------------------------------------------------------


class FaqSettings(models.Model):
    """The shop's FAQ opening text (开场白), shown above its questions on the buyer's chat page."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    opening = models.CharField(_("opening text"), max_length=300, blank=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("FAQ settings")
        verbose_name_plural = _("FAQ settings")

    def __str__(self) -> str:
        return str(self.opening)


class FaqItem(models.Model):
    """One question of the shop's FAQ and its answer; at most ``robot.selfservice.faq.MAX_QUESTIONS``."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    question = models.CharField(_("question"), max_length=100)
    answer = models.CharField(_("answer"), max_length=1000)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("FAQ question")
        verbose_name_plural = _("FAQ questions")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return str(self.question)


# --- self-service cards (自助服务) ---------------------------------------------------------------------


class CardKind(models.TextChoices):
    CONFIRM_ADDRESS = "confirm_address", _("Confirm the shipping address")
    URGE_SHIPPING = "urge_shipping", _("Urge shipping")
    TRACK_PARCEL = "track_parcel", _("Track the parcel")
    CONFIRM_RECEIPT = "confirm_receipt", _("Confirm receipt")
    APPLY_AFTER_SALE = "apply_after_sale", _("Apply for after-sale")
    AFTER_SALE_PROGRESS = "after_sale_progress", _("After-sale progress")


class SelfServiceSettings(models.Model):
    """Which of the six cards the shop shows, and after how many hours since payment an unshipped order
    offers the buyer to urge shipping."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    cards = models.JSONField(_("cards shown"), default=list)
    urge_after_hours = models.PositiveSmallIntegerField(
        _("urge shipping after (hours since payment)"), default=24
    )

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("self-service settings")
        verbose_name_plural = _("self-service settings")

    def __str__(self) -> str:
        return str(self.shop_id)


class CardAction(models.Model):
    """What a buyer did on a card of one of their orders (confirmed the address, urged shipping, ...): once
    per order and kind, so that a card already acted on says so instead of asking again."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+", verbose_name=_("order"))
    kind = models.CharField(_("card"), max_length=30, choices=CardKind.choices)
    at = models.DateTimeField(_("at"), db_default=Now())

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("self-service action")
        verbose_name_plural = _("self-service actions")
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="card_action_once_per_order")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"


# --- the interactive service window (互动服务窗) --------------------------------------------------------


class WindowBar(models.TextChoices):
    PRESALE = "presale", _("Pre-sale")
    AFTERSALE = "aftersale", _("After-sale")


class WindowEntryKind(models.TextChoices):
    # fixed in place at the start of every bar
    RATE = "rate", _("Rate service")
    SEND_PRODUCT = "send_product", _("Send product")
    PLACE_ORDER = "place_order", _("Place order")
    # configurable
    LOGISTICS = "logistics", _("Logistics query")
    AFTER_SALE_REQUEST = "after_sale_request", _("After-sale request")
    AFTER_SALE_PROGRESS = "after_sale_progress", pgettext_lazy("window entry", "After-sale progress")
    MEMBERSHIP_GIFT = "membership_gift", _("Membership gift")
    SHOP_HOME = "shop_home", _("Shop home")
    PRODUCT_LINK = "product_link", _("Custom product link")


class WindowEntry(models.Model):
    """A configurable entry of one of the shop's two bars, in its place (the fixed entries are not stored:
    they lead every bar). ``product``: the custom product link's product; ``text``/``url``: the membership
    gift's words and link, the shop home's link."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    bar = models.CharField(_("bar"), max_length=10, choices=WindowBar.choices)
    kind = models.CharField(_("entry"), max_length=30, choices=WindowEntryKind.choices)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("product")
    )
    text = models.CharField(_("text"), max_length=200, blank=True)
    url = models.URLField(_("link"), max_length=500, blank=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("service window entry")
        verbose_name_plural = _("service window entries")
        ordering = ["bar", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.get_bar_display()} {self.get_kind_display()}"


# --- follow-up and retention (智能跟单, 老客维护) ----------------------------------------------------------


class FollowUpSettings(models.Model):
    """What the follow-up task sends for the shop, when, and in which words; quiet hours in the shop's time
    zone (``Shop.zone``): nothing is sent from ``quiet_from`` to ``quiet_until``."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    care_on = models.BooleanField(_("care message after delivery"), default=False)
    care_delay_hours = models.PositiveSmallIntegerField(
        _("care message delay (hours after delivery)"), default=24
    )
    care_text = models.CharField(_("care message"), max_length=500, blank=True)
    return_visit_on = models.BooleanField(_("return visit after confirmed receipt"), default=False)
    return_visit_text = models.CharField(_("return visit message"), max_length=500, blank=True)
    coupon_on = models.BooleanField(_("coupon message 30 and 60 days after a first purchase"), default=False)
    coupon_text = models.CharField(_("coupon message"), max_length=500, blank=True)
    quiet_from = models.TimeField(_("quiet hours from"), default=datetime.time(22, 0))
    quiet_until = models.TimeField(_("quiet hours until"), default=datetime.time(8, 0))

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up settings")
        verbose_name_plural = _("follow-up settings")

    def __str__(self) -> str:
        return str(self.shop_id)


class ProductCareNote(models.Model):
    """Usage notes of one product, added to the care message of an order with that product."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, related_name="+", verbose_name=_("product")
    )
    note = models.CharField(_("usage notes"), max_length=500)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("product care note")
        verbose_name_plural = _("product care notes")

    def __str__(self) -> str:
        return str(self.note)


class FollowUpKind(models.TextChoices):
    CARE = "care", _("Care message after delivery")
    RETURN_VISIT = "return_visit", _("Return visit after confirmed receipt")
    COUPON_30 = "coupon_30", _("Coupon 30 days after the first purchase")
    COUPON_60 = "coupon_60", _("Coupon 60 days after the first purchase")


class FollowUpState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped")


class FollowUp(models.Model):
    """One follow-up message of one order (the first purchase's, for the coupons): planned ``pending`` with
    the time it is due, claimed ``sending`` by one task run (a conditional update), then ``sent`` or
    ``skipped`` (switched off, unsubscribed, bought again). One per order and kind, ever: the constraint is
    what makes a second plan of the same message impossible."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    buyer = models.ForeignKey(Buyer, on_delete=models.CASCADE, related_name="+", verbose_name=_("buyer"))
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+", verbose_name=_("order"))
    kind = models.CharField(_("kind"), max_length=20, choices=FollowUpKind.choices)
    due_at = models.DateTimeField(_("due at"))
    state = models.CharField(
        pgettext_lazy("follow-up", "state"),
        max_length=10,
        choices=FollowUpState.choices,
        default=FollowUpState.PENDING,
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=100, blank=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up message")
        verbose_name_plural = _("follow-up messages")
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="follow_up_once_per_order")]
        indexes = [
            # the task's scan: pending messages by due time
            models.Index(
                fields=["due_at"], name="follow_up_pending_due", condition=models.Q(state="pending")
            ),
            # claims left behind by a run that died
            models.Index(
                fields=["claimed_at"], name="follow_up_sending", condition=models.Q(state="sending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.state}"


class FollowUpOptOut(models.Model):
    """A buyer who replied 退订 or TD: no follow-up message of the shop reaches them again."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    buyer = models.OneToOneField(Buyer, on_delete=models.CASCADE, related_name="+", verbose_name=_("buyer"))
    at = models.DateTimeField(_("at"), db_default=Now())

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up opt-out")
        verbose_name_plural = _("follow-up opt-outs")

    def __str__(self) -> str:
        return str(self.buyer_id)
