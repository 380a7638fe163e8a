"""Diversion rules (导流): which new chats the robot takes.

Rules, per shop (``DiversionRule``):
- a rule is a daily window in the shop's time (``Shop.zone``), ``start`` to ``end`` (an end before the start
  runs past midnight: 22:00-02:00), and the share of new chats the robot takes in it, 0-100 %;
- windows of one shop never overlap (a minute belongs to at most one rule), and a window is not empty;
- a shop without rules: the robot takes every new chat (when full-auto reception is on); a shop with rules:
  chats outside every enabled window go straight to humans ("only during the 20:00-23:00 live stream");
- a buyer's assignment is a hash of (rule, the window's day, buyer), not a coin flip per message: the same
  buyer lands on the same side all through one window, and the shares hold over many buyers.

Writers: ``save_rule`` and ``delete_rule`` (check, then do: a bad ratio or an overlap is an ``Invalid`` with
the field, and nothing is written). The robot's reception asks ``robot_takes``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Invalid
from backoffice.models import Shop
from robot.models import DiversionRule

DAY = 24 * 60


@dataclass(frozen=True)
class Window:
    """The window a moment falls in: its rule and the day it started on (a night window's day is the day
    of its start)."""

    rule: DiversionRule
    day: date


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(message, errors=[{"field": field, "message": message}])


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _spans(start: time, end: time) -> list[tuple[int, int]]:
    """The minutes of a day a window covers, as half-open spans."""
    a, b = _minutes(start), _minutes(end)
    return [(a, b)] if a < b else [(a, DAY), (0, b)]


def _overlaps(one: list[tuple[int, int]], other: list[tuple[int, int]]) -> bool:
    return any(a < d and c < b for a, b in one for c, d in other)


def check_rule(*, shop: Shop, start: time, end: time, ratio: int, rule: DiversionRule | None = None) -> None:
    """A share of 0-100 %, a window that is not empty (minutes count, seconds do not) and overlaps none of
    the shop's other windows."""
    if isinstance(ratio, bool) or not isinstance(ratio, int) or not 0 <= ratio <= 100:
        raise _invalid("ratio", _("The share to the robot must be a whole number from 0 to 100."))
    if _minutes(start) == _minutes(end):
        raise _invalid("end", _("A time window must end at another time than it starts."))
    mine = _spans(start, end)
    others = DiversionRule.objects.for_shop(shop)
    if rule is not None and rule.pk is not None:
        others = others.exclude(pk=rule.pk)
    for other in others:
        if _overlaps(mine, _spans(other.start, other.end)):
            raise _invalid(
                "start",
                _("This time window overlaps the window %(window)s.")
                % {"window": f"{other.start:%H:%M}-{other.end:%H:%M}"},
            )


def save_rule(
    *,
    shop: Shop,
    start: time,
    end: time,
    ratio: int,
    enabled: bool = True,
    rule: DiversionRule | None = None,
) -> DiversionRule:
    """Create a rule (``rule`` None) or change one of the shop's; seconds are dropped (windows are in
    minutes). Checked under the shop's rules' locks, so two overlapping rules saved at once cannot both
    land."""
    start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    with transaction.atomic():
        Shop.objects.select_for_update().filter(pk=shop.pk).first()  # one writer of a shop's rules at a time
        check_rule(shop=shop, start=start, end=end, ratio=ratio, rule=rule)
        row = rule if rule is not None else DiversionRule(shop=shop)
        row.start, row.end, row.ratio, row.enabled = start, end, ratio, enabled
        row.save()
    return row


def delete_rule(*, rule: DiversionRule) -> None:
    rule.delete()


def window_at(rules: list[DiversionRule], moment: datetime, zone: tzinfo) -> Window | None:
    """The enabled window ``moment`` (aware) falls in, read in the shop's time zone ``zone``, or None."""
    local = timezone.localtime(moment, zone)
    minute = local.hour * 60 + local.minute
    for rule in rules:
        if not rule.enabled:
            continue
        a, b = _minutes(rule.start), _minutes(rule.end)
        if a < b and a <= minute < b:
            return Window(rule, local.date())
        if a > b and minute >= a:
            return Window(rule, local.date())
        if a > b and minute < b:
            return Window(rule, local.date() - timedelta(days=1))
    return None


def bucket(window: Window, buyer_id: int) -> int:
    """The buyer's place 0-9999 in this window: stable for the window, uniform over buyers."""
    key = f"{window.rule.pk}:{window.day.isoformat()}:{buyer_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % 10_000


def robot_takes(*, shop_id: int, buyer_id: int, now: datetime | None = None) -> bool:
    """Whether the robot takes a new chat of this buyer now (the module's rules)."""
    rules = list(DiversionRule.objects.filter(shop_id=shop_id).select_related("shop"))
    if not rules:
        return True
    window = window_at(rules, now or timezone.now(), rules[0].shop.zone)
    if window is None:
        return False
    return bucket(window, buyer_id) < window.rule.ratio * 100
