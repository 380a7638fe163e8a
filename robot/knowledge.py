"""Knowledge-base services: every write of ``KnowledgeEntry`` rows (admin, import, the built-in set) and the
shop's robot threshold.

Rules, enforced here for every caller:
- **Right.** Writing the knowledge base needs ``Right.CONFIGURE_ROBOT`` (the owner has it): 403 otherwise.
  An entry, product or card of another shop is a 404 like a missing one.
- **Text.** The standard question and each similar question: 1-``MAX_QUESTION`` characters after trimming
  (control characters dropped, whitespace runs inside kept as typed); the answer: 1-``MAX_ANSWER``
  characters. Text is stored as typed (markup stays text; pages escape it). NUL and lone surrogates are
  refused. Similar questions: blanks and repeats (and the standard question itself) dropped, at most
  ``MAX_SIMILAR``.
- **Intent**: a code of ``routing.intents.Intent``; an unknown code is refused (422).
- **Scenario**: "" or a ``Scenario`` code.
- **Threshold**: a number from 0 to 1.
Every refusal is a clear error naming the field, and nothing is written.

Every write calls ``robot.matching.changed`` first in its transaction, so the matching index of the shop is
reloaded by every process at its next match, and concurrent writers of one shop lock its stamp row first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from backoffice.access import Right, has_right
from backoffice.errors import Forbidden, Invalid, NotFound
from backoffice.models import Product, Shop, StaffAccount
from backoffice.validation import text_error
from robot import matching
from robot.builtin import BUILTIN, entry_rows
from robot.models import KnowledgeEntry, RobotSettings, Scenario
from robot.models.knowledge import MAX_ANSWER, MAX_QUESTION, MAX_SIMILAR
from routing.intents import Intent

# C0 controls other than tab and newline: never typed on purpose, and not storable in an XLSX cell.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINES = re.compile(r"[\r\n]+")


def _invalid(field_name: str, message: str) -> Invalid:
    return Invalid(message, errors=[{"field": field_name, "message": message}])


def _clean(value: str, *, field_name: str, max_length: int, label: str) -> str:
    if not isinstance(value, str):
        raise _invalid(field_name, _("%(label)s must be text.") % {"label": label})
    if (error := text_error(value)) is not None:
        raise _invalid(field_name, error)
    text = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise _invalid(field_name, _("%(label)s may not be empty.") % {"label": label})
    if len(text) > max_length:
        raise _invalid(
            field_name,
            _("%(label)s is at most %(max)d characters long.") % {"label": label, "max": max_length},
        )
    return text


def clean_question(value: str, *, field_name: str = "question") -> str:
    """A standard or similar question: 1-``MAX_QUESTION`` characters after trimming, on one line."""
    text = _clean(value, field_name=field_name, max_length=MAX_QUESTION, label=_("A question"))
    return " ".join(_LINES.split(text))


def clean_answer(value: str) -> str:
    """The answer: 1-``MAX_ANSWER`` characters after trimming."""
    return _clean(value, field_name="answer", max_length=MAX_ANSWER, label=_("The answer"))


def clean_similar(value: str | Iterable[str], *, question: str = "") -> list[str]:
    """Similar questions from a list or from text with one per line; blanks, repeats and the standard
    question dropped; each checked like a question; at most ``MAX_SIMILAR``."""
    parts = _LINES.split(value) if isinstance(value, str) else list(value)
    out: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise _invalid("similar_questions", _("A question must be text."))
        if not part.strip():
            continue
        text = clean_question(part, field_name="similar_questions")
        if text != question and text not in out:
            out.append(text)
    if len(out) > MAX_SIMILAR:
        raise _invalid(
            "similar_questions", _("At most %(max)d similar questions per entry.") % {"max": MAX_SIMILAR}
        )
    return out


def clean_intent(value: str) -> str:
    """An intent code of ``routing.intents.Intent``."""
    if value not in Intent.values:
        raise _invalid(
            "intent",
            _("Unknown intent %(code)s; use one of: %(codes)s.")
            % {"code": str(value)[:40], "codes": ", ".join(Intent.values)},
        )
    return str(value)


def clean_scenario(value: str) -> str:
    if value not in Scenario.values:
        raise _invalid("scenario", _("Unknown data-aware answer %(code)s.") % {"code": str(value)[:40]})
    return str(value)


def clean_threshold(value: Any) -> float:
    """A number from 0 to 1."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not 0.0 <= number <= 1.0:  # NaN fails too
        raise _invalid("threshold", _("The threshold is a number from 0 to 1."))
    return number


def check_configure(*, actor: StaffAccount) -> None:
    """403 unless the account may configure the robot."""
    if not has_right(actor, Right.CONFIGURE_ROBOT):
        raise Forbidden(_("Configuring the robot needs the robot-configuration right."))


@dataclass(frozen=True)
class EntryFields:
    """Validated values of an entry, ready to store."""

    question: str
    similar_questions: list[str]
    answer: str
    intent: str
    product: Product | None
    card_product: Product | None
    scenario: str
    enabled: bool


def check_entry(
    *,
    actor: StaffAccount,
    question: str,
    answer: str,
    intent: str,
    similar_questions: str | Iterable[str] = (),
    product: Product | None = None,
    card_product: Product | None = None,
    scenario: str = "",
    enabled: bool = True,
    entry: KnowledgeEntry | None = None,
) -> EntryFields:
    """Authorize and validate an entry of the actor's shop without writing: 403 without the right, 404 for an
    entry or product of another shop, 422 for bad text, intent or scenario."""
    check_configure(actor=actor)
    if entry is not None and entry.shop_id != actor.shop_id:
        raise NotFound(_("No such knowledge-base entry in this shop."))
    for found in (product, card_product):
        if found is not None and found.shop_id != actor.shop_id:
            raise NotFound(_("No such product in this shop."))
    return fields_of(
        question=question,
        answer=answer,
        intent=intent,
        similar_questions=similar_questions,
        product=product,
        card_product=card_product,
        scenario=scenario,
        enabled=enabled,
    )


def fields_of(
    *,
    question: str,
    answer: str,
    intent: str,
    similar_questions: str | Iterable[str] = (),
    product: Product | None = None,
    card_product: Product | None = None,
    scenario: str = "",
    enabled: bool = True,
) -> EntryFields:
    """The validation of ``check_entry`` without the actor (import rows, the built-in set)."""
    errors: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    checks: Sequence[tuple[str, Any]] = (
        ("question", lambda: clean_question(question)),
        ("answer", lambda: clean_answer(answer)),
        ("intent", lambda: clean_intent(intent)),
        ("scenario", lambda: clean_scenario(scenario)),
    )
    for name, check in checks:
        try:
            values[name] = check()
        except Invalid as exc:
            errors.extend(exc.errors)
    try:
        values["similar_questions"] = clean_similar(similar_questions, question=values.get("question", ""))
    except Invalid as exc:
        errors.extend(exc.errors)
    if errors:
        raise Invalid(str(errors[0]["message"]), errors=errors)
    return EntryFields(
        question=values["question"],
        similar_questions=values["similar_questions"],
        answer=values["answer"],
        intent=values["intent"],
        product=product,
        card_product=card_product,
        scenario=values["scenario"],
        enabled=bool(enabled),
    )


SAVED_FIELDS = [
    "question",
    "similar_questions",
    "answer",
    "intent",
    "product",
    "card_product",
    "scenario",
    "enabled",
    "index_version",
]


def apply_fields(entry: KnowledgeEntry, fields: EntryFields, *, version: int) -> KnowledgeEntry:
    entry.question = fields.question
    entry.similar_questions = fields.similar_questions
    entry.answer = fields.answer
    entry.intent = fields.intent
    entry.product = fields.product
    entry.card_product = fields.card_product
    entry.scenario = fields.scenario
    entry.enabled = fields.enabled
    entry.index_version = version
    return entry


def same_fields(entry: KnowledgeEntry, fields: EntryFields) -> bool:
    """Whether storing ``fields`` (its enabled flag aside) would leave ``entry`` as it is."""
    return (
        entry.question,
        entry.similar_questions,
        entry.answer,
        entry.intent,
        entry.product_id,
        entry.card_product_id,
        entry.scenario,
    ) == (
        fields.question,
        fields.similar_questions,
        fields.answer,
        fields.intent,
        fields.product.pk if fields.product else None,
        fields.card_product.pk if fields.card_product else None,
        fields.scenario,
    )


def create_entry(*, actor: StaffAccount, **values: Any) -> KnowledgeEntry:
    """A new entry of the actor's shop (arguments of ``check_entry``)."""
    fields = check_entry(actor=actor, **values)
    with transaction.atomic():
        version = matching.changed(actor.shop_id)
        entry = apply_fields(KnowledgeEntry(shop_id=actor.shop_id), fields, version=version)
        entry.save()
    return entry


def update_entry(*, actor: StaffAccount, entry: KnowledgeEntry, **values: Any) -> KnowledgeEntry:
    """Change an entry of the actor's shop; an entry deleted meanwhile is a 404."""
    fields = check_entry(actor=actor, entry=entry, **values)
    with transaction.atomic():
        version = matching.changed(entry.shop_id)
        if not KnowledgeEntry.objects.filter(pk=entry.pk, shop_id=entry.shop_id).select_for_update().exists():
            raise NotFound(_("No such knowledge-base entry in this shop."))
        apply_fields(entry, fields, version=version).save(update_fields=[*SAVED_FIELDS, "updated_at"])
    return entry


def delete_entries(*, actor: StaffAccount, entries: Iterable[KnowledgeEntry]) -> int:
    """Delete entries of the actor's shop; the number deleted."""
    check_configure(actor=actor)
    ids = [e.pk for e in entries]
    if any(e.shop_id != actor.shop_id for e in entries):
        raise NotFound(_("No such knowledge-base entry in this shop."))
    with transaction.atomic():
        matching.changed(actor.shop_id, removed=ids)
        deleted, _rows = KnowledgeEntry.objects.filter(shop_id=actor.shop_id, pk__in=ids).delete()
    return deleted


def set_enabled(*, actor: StaffAccount, entries: Iterable[KnowledgeEntry], enabled: bool) -> int:
    """Turn entries of the actor's shop on or off (a disabled entry is never matched); the number changed."""
    check_configure(actor=actor)
    chosen = list(entries)
    if any(e.shop_id != actor.shop_id for e in chosen):
        raise NotFound(_("No such knowledge-base entry in this shop."))
    with transaction.atomic():
        version = matching.changed(actor.shop_id)
        return KnowledgeEntry.objects.filter(shop_id=actor.shop_id, pk__in=[e.pk for e in chosen]).update(
            enabled=enabled, index_version=version
        )


def set_threshold(*, actor: StaffAccount, threshold: Any) -> RobotSettings:
    """The shop's answer threshold (0-1): the robot answers only at or above it."""
    check_configure(actor=actor)
    value = clean_threshold(threshold)
    settings, _created = RobotSettings.objects.get_or_create(shop_id=actor.shop_id)
    settings.threshold = value
    settings.save(update_fields=["threshold"])
    return settings


# --- the built-in set ----------------------------------------------------------------------------------


def ensure_builtin(shop: Shop | int) -> int:
    """Give the shop the entries of the built-in set (``robot.builtin``) that it lacks, by key; the number
    created. Idempotent: an edited built-in entry is left as it is. Runs at shop creation (``set_up_shop``)
    and, for the shops created before, in the data migration."""
    shop_id = shop if isinstance(shop, int) else shop.pk

    def present() -> set[str]:
        keys = KnowledgeEntry.objects.filter(shop_id=shop_id).exclude(builtin_key="")
        return set(keys.values_list("builtin_key", flat=True))

    if len(present()) == len(BUILTIN):
        return 0
    with transaction.atomic():
        version = matching.changed(shop_id)  # the shop's writers queue here: read what is there after it
        rows = entry_rows(KnowledgeEntry, shop_id=shop_id, have=present(), version=version)
        KnowledgeEntry.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def set_up_shop(shop: Shop) -> None:
    """``SHOP_SETUP``: a new shop starts with the built-in intent set."""
    ensure_builtin(shop)
