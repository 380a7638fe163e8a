"""The robot's knowledge base (知识库): per shop, entries of a standard question, any number of similar
questions, an answer (text, optionally with a product card), an intent and an optional product scope.

Rules (enforced by ``robot.knowledge``, the only writer):
- the standard question, every similar question and the answer are non-empty, storable text; a question is
  at most ``MAX_QUESTION`` characters, the answer at most ``MAX_ANSWER``; at most ``MAX_SIMILAR`` similar
  questions;
- the intent is one of ``routing.intents.Intent``;
- the product scope and the product card are products of the entry's shop. An entry with a product scope
  answers only buyers who came from that product's page, and is preferred there over a general entry;
- ``builtin_key`` marks the entries of the built-in set (``robot.builtin``), one per key and shop, and
  ``scenario`` names the data-aware answer reception renders for it (the buyer's order data), "" for a
  plain text answer.

``index_version``: the shop's knowledge-index version of the write that last changed the row (the stamped
per-shop cache of ``backoffice.text``), like phrases' rows.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice.models import Product, Shop, ShopQuerySet
from routing.intents import Intent

MAX_QUESTION = 200
MAX_ANSWER = 2000
MAX_SIMILAR = 200


class Scenario(models.TextChoices):
    """Answers that need the buyer's data; reception renders them (the text is the fallback's frame)."""

    NONE = "", _("plain answer")
    LOGISTICS = "logistics", _("carrier and tracking number of the latest shipped order")
    URGE_SHIPPING = "urge_shipping", _("promised ship-by time, or shipped with tracking")
    CHANGE_ADDRESS = "change_address", _("what the order's state allows for a new address")


class KnowledgeEntry(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    question = models.CharField(_("standard question"), max_length=MAX_QUESTION)
    similar_questions = models.JSONField(
        _("similar questions"), default=list, blank=True, help_text=_("Other ways buyers ask the same.")
    )
    answer = models.TextField(
        _("answer"),
        max_length=MAX_ANSWER,
        help_text=_("Quick-phrase variables such as {买家昵称} are filled in when the robot answers."),
    )
    intent = models.CharField(_("intent"), max_length=40, choices=Intent.choices)
    product = models.ForeignKey(
        Product,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("product scope"),
        help_text=_("Only for buyers who came from this product's page (preferred there)."),
    )
    card_product = models.ForeignKey(
        Product,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("product card"),
        help_text=_("A product card sent with the answer."),
    )
    scenario = models.CharField(
        _("data-aware answer"), max_length=40, choices=Scenario.choices, blank=True, default=""
    )
    builtin_key = models.CharField(max_length=40, blank=True, default="", editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    index_version = models.BigIntegerField(default=0, editable=False)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("knowledge-base entry")
        verbose_name_plural = _("knowledge base")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "builtin_key"], condition=~models.Q(builtin_key=""), name="kb_builtin_key"
            )
        ]
        indexes = [models.Index(fields=["shop", "index_version"], name="kb_shop_version")]

    def __str__(self) -> str:
        return self.question
