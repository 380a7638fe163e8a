"""The robot's reception: a robot session per conversation the robot received, one turn per buyer message it
read (what it understood and what it did), the diversion rules (导流) that decide which new chats it takes,
and the questions it could not answer (grouped by similarity for the owner)."""

from __future__ import annotations

from typing import Self

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from backoffice.models import Shop, ShopQuerySet
from robot.models.knowledge import KnowledgeEntry
from routing.models import ArrivalReason, Conversation, ConversationState, Message

RESOLVED_WITHIN_HOURS = 24  # resolved by the robot: no human session of the buyer within this after the end


class RobotSessionQuerySet(ShopQuerySet["RobotSession"]):
    def resolved(self) -> Self:
        """Resolved by the robot: the conversation ended without a hand-off, and the buyer had no human
        session (a conversation assigned to an agent) within 24 hours after its end."""
        from datetime import timedelta

        human_after = Conversation.objects.filter(
            buyer_id=OuterRef("conversation__buyer_id"),
            assigned_at__isnull=False,
            assigned_at__gte=OuterRef("conversation__ended_at"),
            assigned_at__lte=OuterRef("conversation__ended_at") + timedelta(hours=RESOLVED_WITHIN_HOURS),
        )
        return self.filter(handed_over_at__isnull=True, conversation__state=ConversationState.ENDED).exclude(
            Exists(human_after)
        )

    def handed_over(self) -> Self:
        return self.filter(handed_over_at__isnull=False)


class RobotSession(models.Model):
    """The robot's part of one conversation: opened at the buyer's first message the robot receives, closed
    by a hand-off (with its reason and the intent of the whole robot conversation) or the chat's end."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="robot_session", verbose_name=_("conversation")
    )
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    answered = models.PositiveIntegerField(_("answers"), default=0)
    unsure_streak = models.PositiveSmallIntegerField(_("unsure answers in a row"), default=0)
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    handoff_reason = models.CharField(
        _("hand-off reason"), max_length=20, choices=ArrivalReason.choices, blank=True
    )
    intent = models.CharField(_("intent"), max_length=40, blank=True)

    objects = RobotSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("robot session")
        verbose_name_plural = _("robot sessions")
        indexes = [models.Index(fields=["shop", "-started_at"], name="robot_session_shop_started")]

    def __str__(self) -> str:
        return f"{self.conversation_id}"


class TurnOutcome(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    UNSURE = "unsure", _("Not understood")
    HANDED_OVER = "handed_over", _("Handed over")


class RobotTurn(models.Model):
    """One buyer message the robot read: the intent it detected (empty: unsure), the confidence, the
    knowledge-base entry it answered with, and what it did. One per message: a resend is not read twice."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    session = models.ForeignKey(
        RobotSession, on_delete=models.CASCADE, related_name="turns", verbose_name=_("robot session")
    )
    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="robot_turn", verbose_name=_("message")
    )
    intent = models.CharField(_("intent"), max_length=40, blank=True)
    confidence = models.FloatField(_("confidence"), default=0.0)
    entry = models.ForeignKey(
        KnowledgeEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("knowledge-base entry"),
    )
    score = models.FloatField(_("score"), default=0.0)
    outcome = models.CharField(_("outcome"), max_length=20, choices=TurnOutcome.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("robot turn")
        verbose_name_plural = _("robot turns")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.message_id}: {self.outcome}"


class DiversionRule(models.Model):
    """导流: during its daily window (shop time, ``start`` to ``end``; an end before the start runs past
    midnight) the robot takes ``ratio`` percent of new chats and the others go straight to humans. A shop
    with rules sends chats outside every window to humans; a shop without rules lets the robot take all."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    start = models.TimeField(pgettext_lazy("time window", "from"))
    end = models.TimeField(pgettext_lazy("time window", "to"))
    ratio = models.PositiveSmallIntegerField(
        _("share to the robot (%)"), validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("diversion rule")
        verbose_name_plural = _("diversion rules")
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(ratio__lte=100), name="diversion_ratio_at_most_100"),
            models.CheckConstraint(condition=~Q(start=models.F("end")), name="diversion_window_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.ratio}%"


class UnansweredGroup(models.Model):
    """Buyer questions the robot could not answer, grouped by similarity: the first one is the group's
    text; the owner turns a group into a knowledge-base entry (then ``entry_id`` is set)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    text = models.CharField(_("question"), max_length=2000)
    key = models.CharField(_("normalized question"), max_length=2000)
    count = models.PositiveIntegerField(_("times asked"), default=1)
    first_asked_at = models.DateTimeField(_("first asked at"), auto_now_add=True)
    last_asked_at = models.DateTimeField(_("last asked at"))
    entry = models.ForeignKey(
        KnowledgeEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("knowledge-base entry"),
    )

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("unanswered question")
        verbose_name_plural = _("unanswered questions")
        ordering = ["-count", "-last_asked_at"]
        indexes = [
            models.Index(
                fields=["shop", "-last_asked_at"],
                name="robot_unanswered_open",
                condition=Q(entry__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return self.text[:50]


class UnansweredQuestion(models.Model):
    """One question the robot could not answer, in its group (once per buyer message)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    group = models.ForeignKey(
        UnansweredGroup, on_delete=models.CASCADE, related_name="questions", verbose_name=_("group")
    )
    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="+", verbose_name=_("message")
    )
    text = models.CharField(_("question"), max_length=2000)
    asked_at = models.DateTimeField(_("asked at"), auto_now_add=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("unanswered question")
        verbose_name_plural = _("unanswered questions")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.text[:50]
