"""The robot's switch: whether full-auto reception is on for a shop, read by self-service (FAQ, cards)
through ``robot.switch.full_auto_on``."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice.models import Shop, ShopQuerySet

# The calibrated confidence at which the robot answers (robot.matching): measured on tests/robot/heldout.csv.
DEFAULT_THRESHOLD = 0.5


class RobotSettings(models.Model):
    """One row per shop, created on first use. A new shop starts with the robot off; the owner turns it on."""

    shop = models.OneToOneField(
        Shop, on_delete=models.CASCADE, related_name="robot_settings", verbose_name=_("shop")
    )
    full_auto = models.BooleanField(
        _("full-auto reception"),
        default=False,
        help_text=_(
            "The buyer's first message goes to the robot, which greets and answers until it hands over."
        ),
    )
    # Reception (robot/reception.py). Buyer-facing texts are Chinese like the quick phrases; they may use the
    # quick-phrase variables ({买家昵称}, {店铺名称}...).
    opening_text = models.CharField(
        _("opening text"),
        max_length=500,
        default="亲，您好，我是{店铺名称}的智能客服，请问有什么可以帮您？",
        help_text=_("Sent by the robot before its first answer in a chat."),
    )
    unsure_text = models.CharField(
        _("reply when not understood"),
        max_length=500,
        default="抱歉，我没太明白您的意思，可以换个说法再问一次吗？也可以回复“转人工”联系人工客服。",
    )
    handoff_text = models.CharField(
        _("hand-off text"), max_length=500, default="正在为您转接人工客服，请稍候~"
    )
    unsure_limit = models.PositiveSmallIntegerField(
        _("unsure answers before a hand-off"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text=_("The robot hands over after this many answers below the threshold in a row."),
    )

    threshold = models.FloatField(
        _("answer threshold"),
        default=DEFAULT_THRESHOLD,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_(
            "The robot answers only when its confidence (0 to 1) reaches this; below it, it does not guess."
        ),
    )

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("robot settings")
        verbose_name_plural = _("robot settings")

    def __str__(self) -> str:
        return str(self.shop)
