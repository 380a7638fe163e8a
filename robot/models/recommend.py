"""Answer recommendation (答案推荐): the shop's own best human replies per hot intent, recomputed by a beat
task (``robot.tasks.recommend_answers``), and each shop's place in that schedule."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from backoffice.models import Shop, ShopQuerySet


class RecommendedReply(models.Model):
    """A human reply recommended for buyer messages of ``intent``: near-duplicate replies merged (``text``
    is the wording used most), with why: how often agents sent it and the average rating of those chats."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    intent = models.CharField(_("intent"), max_length=40)
    text = models.TextField(_("reply"), max_length=2000)
    times_used = models.PositiveIntegerField(_("times used"))
    average_rating = models.FloatField(_("average rating"))
    rank = models.PositiveSmallIntegerField(_("rank"))
    computed_at = models.DateTimeField(_("computed at"))

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("recommended reply")
        verbose_name_plural = _("recommended replies")
        ordering = ["intent", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "intent", "rank"], name="recommended_reply_rank")
        ]

    def __str__(self) -> str:
        return self.text[:50]


class RecommendationRun(models.Model):
    """When a shop's recommendations are due next: the beat task claims due shops with a conditional update
    (``due_at`` moved on), so two runs at once never compute the same shop."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    due_at = models.DateTimeField(_("due at"))
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("recommendation run")
        verbose_name_plural = _("recommendation runs")
        indexes = [models.Index(fields=["due_at"], name="recommend_due", condition=Q(due_at__isnull=False))]

    def __str__(self) -> str:
        return str(self.shop_id)
