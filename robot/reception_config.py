"""The shop's reception settings (``RobotSettings``: full-auto reception, the opening, not-understood and
hand-off texts, how many unsure answers in a row before a hand-off), written only here.

Rules: the robot-configuration right (the owner has it); texts are plain text of 1-500 characters after
trimming (markup is kept as typed and shown escaped); the unsure limit is a whole number from 1 to 10. A bad
value is an ``Invalid`` naming its field, and nothing is written."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from backoffice.errors import Invalid
from backoffice.models import Shop, StaffAccount
from backoffice.validation import text_error
from robot.knowledge import check_configure
from robot.models import RobotSettings

TEXTS = ("opening_text", "unsure_text", "handoff_text")
MAX_TEXT = 500


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(message, errors=[{"field": field, "message": message}])


def clean_reception(values: dict[str, Any]) -> dict[str, Any]:
    """The checked values (only the keys given): the module's rules."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in TEXTS:
            text = value.strip() if isinstance(value, str) else ""
            if not text:
                raise _invalid(name, _("This text cannot be empty."))
            if len(text) > MAX_TEXT:
                raise _invalid(name, _("This text is limited to %(max)d characters.") % {"max": MAX_TEXT})
            if (problem := text_error(text)) is not None:
                raise _invalid(name, problem)
            out[name] = text
        elif name == "unsure_limit":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
                raise _invalid(name, _("The number of unsure answers must be a whole number from 1 to 10."))
            out[name] = value
        elif name == "full_auto":
            if not isinstance(value, bool):
                raise _invalid(name, _("Full-auto reception is on or off."))
            out[name] = value
        else:
            raise _invalid(name, _("Unknown setting %(name)s.") % {"name": name})
    return out


def save_reception(shop: Shop, values: dict[str, Any]) -> RobotSettings:
    """Write checked values (the demo and the admin, whose form checked the right)."""
    clean = clean_reception(values)
    with transaction.atomic():
        row, _created = RobotSettings.objects.select_for_update().get_or_create(shop=shop)
        for name, value in clean.items():
            setattr(row, name, value)
        row.save()
    return row


def configure_reception(*, actor: StaffAccount, **values: Any) -> RobotSettings:
    """Change the actor's shop's reception settings (the module's rules)."""
    check_configure(actor=actor)
    return save_reception(actor.shop, values)
