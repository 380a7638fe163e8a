"""Reports' own data: the daily rollups the KPI pages read (``DailyFacts``, one row per shop, local day,
agent and group, the additive sums every KPI is derived from; ``RollupDay`` marks a rolled-up day) and the
supervisors' quality reviews of sessions (``QualityReview``)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from backoffice.models import Shop, ShopQuerySet, StaffAccount
from routing.models import AgentGroup, Conversation

# The additive sums of ``reports.kpis.Facts``, one integer or float column each (the names are shared).
COUNT_FIELDS = (
    "consultations",
    "robot_sessions",
    "robot_resolved",
    "handoffs",
    "human_sessions",
    "receptions",
    "proactive",
    "rounds",
    "rounds_within_3m",
    "unanswered_rounds",
    "first_responses",
    "ended_human_sessions",
    "queue_served",
    "abandoned",
    "ratings",
    "satisfied",
    "invited",
    "transfers",
    "auto_ended",
    "agent_ended",
    "rated_1",
    "rated_2",
    "rated_3",
    "rated_4",
    "rated_5",
)
SECONDS_FIELDS = (
    "reply_seconds",
    "first_response_seconds",
    "session_seconds",
    "queue_wait_seconds",
    "online_seconds",
    "busy_seconds",
)


class DailyFacts(models.Model):
    """The sums of one local day of a shop for one agent and group (null: none, e.g. a robot-only session).
    A session's figures belong to the day it started; status time to the day it was spent. Written only by
    ``reports.rollups``; ``queue_waits`` maps whole seconds to a count (the p90 needs the distribution)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    agent = models.ForeignKey(StaffAccount, on_delete=models.CASCADE, null=True, related_name="+")
    # A deleted group's days stay in the shop's figures, under "no group" (as its sessions do).
    group = models.ForeignKey(AgentGroup, on_delete=models.SET_NULL, null=True, related_name="+")
    queue_waits = models.JSONField(default=dict)
    consultations = models.PositiveIntegerField(default=0)
    robot_sessions = models.PositiveIntegerField(default=0)
    robot_resolved = models.PositiveIntegerField(default=0)
    handoffs = models.PositiveIntegerField(default=0)
    human_sessions = models.PositiveIntegerField(default=0)
    receptions = models.PositiveIntegerField(default=0)
    proactive = models.PositiveIntegerField(default=0)
    rounds = models.PositiveIntegerField(default=0)
    rounds_within_3m = models.PositiveIntegerField(default=0)
    unanswered_rounds = models.PositiveIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    ended_human_sessions = models.PositiveIntegerField(default=0)
    queue_served = models.PositiveIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    ratings = models.PositiveIntegerField(default=0)
    satisfied = models.PositiveIntegerField(default=0)
    invited = models.PositiveIntegerField(default=0)
    transfers = models.PositiveIntegerField(default=0)
    auto_ended = models.PositiveIntegerField(default=0)
    agent_ended = models.PositiveIntegerField(default=0)
    rated_1 = models.PositiveIntegerField(default=0)
    rated_2 = models.PositiveIntegerField(default=0)
    rated_3 = models.PositiveIntegerField(default=0)
    rated_4 = models.PositiveIntegerField(default=0)
    rated_5 = models.PositiveIntegerField(default=0)
    reply_seconds = models.FloatField(default=0.0)
    first_response_seconds = models.FloatField(default=0.0)
    session_seconds = models.FloatField(default=0.0)
    queue_wait_seconds = models.FloatField(default=0.0)
    online_seconds = models.FloatField(default=0.0)
    busy_seconds = models.FloatField(default=0.0)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("daily report figures")
        verbose_name_plural = _("daily report figures")
        indexes = [models.Index(fields=["shop", "day"], name="daily_facts_shop_day")]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.day} {self.agent_id} {self.group_id}"


class RollupDay(models.Model):
    """A local day of a shop whose ``DailyFacts`` exist. ``stale`` days are (re)computed by the beat task:
    a day is made stale while its sessions can still change (ratings, late ends, history replies)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    stale = models.BooleanField(default=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("rolled-up report day")
        verbose_name_plural = _("rolled-up report days")
        constraints = [models.UniqueConstraint(fields=["shop", "day"], name="rollup_day_per_shop")]
        indexes = [
            models.Index(fields=["day"], name="rollup_day_stale", condition=models.Q(stale=True)),
        ]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.day}"


class QualityTag(models.TextChoices):
    ATTITUDE = "attitude", pgettext_lazy("quality", "Attitude")
    EXPERTISE = "expertise", pgettext_lazy("quality", "Expertise")
    TIMELINESS = "timeliness", pgettext_lazy("quality", "Timeliness")


class QualityReview(models.Model):
    """A supervisor's quality review (质检) of a session: a score of 1 to 100, tags, a comment. One per
    reviewer and session (a second review by the same reviewer replaces the first)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, null=True, related_name="+")
    score = models.PositiveSmallIntegerField(
        _("score"), validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    shop_path = "conversation__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("quality review")
        verbose_name_plural = _("quality reviews")
        constraints = [
            models.UniqueConstraint(fields=["conversation", "reviewer"], name="one_review_per_reviewer")
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.score}"
