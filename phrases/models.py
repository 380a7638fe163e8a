"""Quick phrases (快捷短语): team phrases for the whole shop and each agent's personal phrases, in groups.

Scope: a row with ``owner`` NULL belongs to the team (every agent of the shop sees it; only the owner and
accounts with the team-phrase right change it); a row with an owner is that agent's personal phrase (nobody
else sees it). ``Phrase.objects.visible_to(staff)`` applies both rules and the shop scope in one place.

``search_text`` is the content and keywords normalized for matching (NFKC, traditional to simplified,
case-folded); it is written by the services together with the content, never edited on its own.
"""

from __future__ import annotations

from typing import Self, TypeVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from backoffice.models import Product, Shop, ShopQuerySet, StaffAccount
from routing.models import Attachment

_M = TypeVar("_M", bound=models.Model)

MAX_CONTENT = 1000
MAX_CODE = 20
MAX_GROUP_NAME = 30
MAX_KEYWORDS = 200


class ScopedQuerySet(ShopQuerySet[_M]):
    """Shop scope plus the team/personal rule shared by phrases and their groups."""

    def visible_to(self, staff: StaffAccount) -> Self:
        """The shop's team rows and the account's own personal rows; nobody else's."""
        return self.for_shop(staff.shop).filter(Q(owner__isnull=True) | Q(owner=staff))

    def team(self) -> Self:
        return self.filter(owner__isnull=True)

    def personal(self, staff: StaffAccount) -> Self:
        return self.filter(owner=staff)


class PhraseGroup(models.Model):
    """A category of phrases (e.g. 物流问题). Team groups hold team phrases, personal groups personal ones."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    owner = models.ForeignKey(
        StaffAccount,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("Empty for a team group."),
    )
    name = models.CharField(_("name"), max_length=MAX_GROUP_NAME)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("phrase group")
        verbose_name_plural = _("phrase groups")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "name"], condition=Q(owner__isnull=True), name="phrase_group_team_name"
            ),
            models.UniqueConstraint(
                fields=["owner", "name"], condition=Q(owner__isnull=False), name="phrase_group_personal_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Phrase(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    owner = models.ForeignKey(
        StaffAccount,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("Empty for a team phrase."),
    )
    group = models.ForeignKey(
        PhraseGroup,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="phrases",
        verbose_name=pgettext_lazy("phrase", "group"),
    )
    content = models.CharField(_("content"), max_length=MAX_CONTENT)
    code = models.CharField(
        _("code"),
        max_length=MAX_CODE,
        blank=True,
        help_text=_('Type "/" and the code in the chat input to find the phrase.'),
    )
    keywords = models.CharField(_("keywords"), max_length=MAX_KEYWORDS, blank=True)
    products = models.ManyToManyField(
        Product, blank=True, related_name="+", verbose_name=_("linked products")
    )
    image = models.ForeignKey(
        Attachment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("image"),
        help_text=_("Sent after the text (图文发送)."),
    )
    search_text = models.TextField(editable=False, default="")
    template_key = models.CharField(max_length=40, blank=True, editable=False)
    usage_count = models.PositiveIntegerField(_("times used"), default=0, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        StaffAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The shop's phrase-index version (``phrases.index``) of the write that last changed what the index
    # holds of this row: a process whose index is at version N re-reads the rows above N.
    index_version = models.BigIntegerField(default=0, editable=False)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("quick phrase")
        verbose_name_plural = _("quick phrases")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "code"],
                condition=Q(owner__isnull=True) & ~Q(code=""),
                name="phrase_team_code",
            ),
            models.UniqueConstraint(
                fields=["owner", "code"],
                condition=Q(owner__isnull=False) & ~Q(code=""),
                name="phrase_personal_code",
            ),
            models.UniqueConstraint(
                fields=["shop", "template_key"],
                condition=Q(owner__isnull=True) & ~Q(template_key=""),
                name="phrase_team_template",
            ),
            models.UniqueConstraint(
                fields=["owner", "template_key"],
                condition=Q(owner__isnull=False) & ~Q(template_key=""),
                name="phrase_personal_template",
            ),
        ]
        indexes = [
            models.Index(fields=["shop", "owner", "code"], name="phrase_shop_owner_code"),
            # The search index's usage refresh: phrases of a shop used since a moment.
            models.Index(fields=["shop", "last_used_at"], name="phrase_shop_last_used"),
            # The index's incremental update: phrases of a shop changed since a version.
            models.Index(fields=["shop", "index_version"], name="phrase_shop_index_version"),
        ]

    def __str__(self) -> str:
        return self.content[:40]

    @property
    def keyword_list(self) -> list[str]:
        return [k for k in self.keywords.split(",") if k]


class PhraseUse(models.Model):
    """An agent's last use of a phrase: the "recently used" list (one row per agent and phrase)."""

    staff = models.ForeignKey(StaffAccount, on_delete=models.CASCADE, related_name="+")
    phrase = models.ForeignKey(Phrase, on_delete=models.CASCADE, related_name="uses")
    used_at = models.DateTimeField()

    shop_path = "staff__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("phrase use")
        verbose_name_plural = _("phrase uses")
        constraints = [models.UniqueConstraint(fields=["staff", "phrase"], name="phrase_use_per_agent")]
        indexes = [models.Index(fields=["staff", "-used_at"], name="phrase_use_recent")]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.phrase_id} {self.used_at}"
