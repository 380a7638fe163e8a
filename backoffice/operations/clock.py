"""The service-request clock (服务请求处理时效): it runs only from 09:00 to 21:00 shop time, every day of the
week, and, when the shop's owner turns the pause on, not at all on China's public holidays.

The rules, where the seed (002) is silent or only gives the example:
- Received 20:00 with 12 h: 1 h that evening, 11 h from 09:00 the next day, due 20:00 (the seed's example).
- A deadline landing exactly on 21:00 is due 21:00 that day: the seed moves a deadline to the next morning
  only when it ends *later than* 21:00 (晚于21:00). Likewise a deadline never lands on 09:00 of a later day:
  what is left at 21:00 is more than nothing, so it ends after 09:00.
- A ticket received before 09:00 starts counting at 09:00 that day; one received at or after 21:00 starts at
  09:00 the next (open) day. A ticket received on a paused holiday starts at 09:00 of the next open day.
- Shop time is the shop's own time zone (``Shop.zone``, Asia/Shanghai unless the owner chose another): the
  callers pass it. The window is read on the wall clock of that zone; in a zone with daylight saving, a day
  that springs forward or falls back still counts 09:00-21:00 local, i.e. the elapsed time of the window is
  the wall-clock difference (12 h), since 09:00 and 21:00 are never inside a DST gap of the IANA zones.
- A public holiday is a day ``chinese-calendar`` names as a statutory holiday (a day off with a holiday name);
  the make-up working days (调休) and plain weekends are not paused. For a year the package has no data for,
  no day is a holiday (the clock runs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo

import chinese_calendar  # type: ignore[import-untyped]  # ships no types

OPENS = time(9, 0)
CLOSES = time(21, 0)
DAY_LENGTH = timedelta(hours=12)

DaySkipped = Callable[[date], bool]


def no_day_skipped(day: date) -> bool:
    return False


@functools.lru_cache(maxsize=4096)
def is_public_holiday(day: date) -> bool:
    """A statutory holiday of mainland China (``chinese-calendar``); False outside the package's years."""
    try:
        off, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(off and name)


def _opening(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, OPENS, tzinfo=zone)


def _closing(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, CLOSES, tzinfo=zone)


def clock_start(received: datetime, *, zone: tzinfo, skipped: DaySkipped = no_day_skipped) -> datetime:
    """When the clock starts for a ticket received at ``received`` (aware): the same moment inside the
    window of an open day, else 09:00 of that day (before 09:00) or of the next open day."""
    local = received.astimezone(zone)
    day = local.date()
    if local.time() >= CLOSES:
        day += timedelta(days=1)
    elif local.time() >= OPENS and not skipped(day):
        return local
    while skipped(day):
        day += timedelta(days=1)
    return _opening(day, zone)


def add_business_time(
    received: datetime,
    duration: timedelta,
    *,
    zone: tzinfo,
    skipped: DaySkipped = no_day_skipped,
) -> datetime:
    """The moment ``duration`` of clock time after ``received``: counted only 09:00-21:00 shop time on days
    that ``skipped`` does not skip (the module's docstring gives the boundaries). Aware, in shop time."""
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    cursor = clock_start(received, skipped=skipped, zone=zone)
    left = duration
    while True:
        today_left = _closing(cursor.date(), zone) - cursor
        if left <= today_left:
            return cursor + left
        left -= today_left
        day = cursor.date() + timedelta(days=1)
        # Whole open days at once: a ticket of a few hundred hours takes no loop per hour.
        while skipped(day) or left > DAY_LENGTH:
            if not skipped(day):
                left -= DAY_LENGTH
            day += timedelta(days=1)
        cursor = _opening(day, zone)


def deadlines(
    received: datetime, hours: int, *, zone: tzinfo, skipped: DaySkipped = no_day_skipped
) -> tuple[datetime, datetime]:
    """(due, warn): the deadline of a ticket of ``hours`` clock hours, and the moment 80% of them have run,
    on the clock of ``zone`` (the shop's, ``Shop.zone``)."""
    due = add_business_time(received, timedelta(hours=hours), zone=zone, skipped=skipped)
    warn = add_business_time(received, timedelta(hours=hours) * 0.8, zone=zone, skipped=skipped)
    return due, warn
