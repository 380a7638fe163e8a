"""The report pages' query-string filters, parsed strictly: a bad value is an ``Invalid`` with a message the
page shows (status 400), an agent or group that is not the shop's (or, for an agent, a colleague) is a 404.

Periods are local dates (the shop's time zone, ``Shop.zone``), both ends included; the
default is the last 7 days up to today; at most ``MAX_DAYS`` days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.http import Http404, QueryDict
from django.utils.translation import gettext as _

from backoffice import validation
from backoffice.errors import Invalid
from backoffice.models import StaffAccount
from reports.access import Viewer
from reports.rollups import today
from routing.models import AgentGroup

MAX_DAYS = 366
DEFAULT_DAYS = 7
MAX_QUERY = 100
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def text(params: QueryDict, name: str, max_length: int = MAX_QUERY) -> str:
    value = params.get(name, "").strip()
    error = validation.text_error(value)
    if error is None and len(value) > max_length:
        error = _("At most %(max)d characters.") % {"max": max_length}
    if error is not None:
        raise Invalid(error)
    return value


def parse_date(params: QueryDict, name: str, default: date) -> date:
    raw = text(params, name, 10)
    if not raw:
        return default
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise Invalid(_("%(value)s is not a date (YYYY-MM-DD).") % {"value": raw}) from None
    if not EARLIEST <= value <= LATEST:  # far dates overflow the time zone arithmetic (and mean nothing)
        raise Invalid(_("Choose a date from %(first)s to %(last)s.") % {"first": EARLIEST, "last": LATEST})
    return value


def period(params: QueryDict, viewer: Viewer, *, default_days: int = DEFAULT_DAYS) -> Period:
    """The ``from`` and ``to`` dates: reversed or longer than a year is refused."""
    last_default = today(viewer.shop)
    first = parse_date(params, "from", last_default - timedelta(days=default_days - 1))
    last = parse_date(params, "to", last_default)
    if last < first:
        raise Invalid(_("The end date is before the start date."))
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid(_("A period is at most %(days)d days long.") % {"days": MAX_DAYS})
    return Period(first, last)


def _id(params: QueryDict, name: str) -> int | None:
    raw = params.get(name, "")
    if not raw:
        return None
    value = validation.parse_id(raw)
    if value is None:
        raise Invalid(_("%(name)s must be an id.") % {"name": name})
    return value


def agent(params: QueryDict, viewer: Viewer) -> StaffAccount | None:
    """The ``agent`` filter: one of the shop's accounts; an agent may name only themself (else 404)."""
    agent_id = _id(params, "agent")
    if agent_id is None:
        return None if viewer.whole_shop else viewer.staff
    found = StaffAccount.objects.filter(shop=viewer.shop, pk=agent_id).first()
    if found is None or (not viewer.whole_shop and found.pk != viewer.staff.pk):
        raise Http404(_("No such agent in this shop."))
    return found


def group(params: QueryDict, viewer: Viewer) -> AgentGroup | None:
    group_id = _id(params, "group")
    if group_id is None:
        return None
    found = AgentGroup.objects.for_shop(viewer.shop).filter(pk=group_id).first()
    if found is None:
        raise Http404(_("No such group in this shop."))
    return found


def choice(params: QueryDict, name: str, allowed: tuple[str, ...]) -> str:
    value = text(params, name, 20)
    if value and value not in allowed:
        raise Invalid(_("Unknown value %(value)s for %(name)s.") % {"value": value, "name": name})
    return value


def page_number(params: QueryDict) -> int:
    raw = params.get("page", "1") or "1"
    value = validation.parse_id(raw)
    if value is None or value > 100_000:
        raise Invalid(_("page must be a positive number."))
    return value
