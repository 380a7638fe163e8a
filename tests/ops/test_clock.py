"""The service-request clock: 09:00-21:00 shop time, its boundaries, the holiday pause, and a few hundred
generated cases against an independent business-hours library (businesstimedelta, test-only)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import businesstimedelta  # type: ignore[import-untyped]  # ships no types
import pytest
import pytz  # type: ignore[import-untyped]  # businesstimedelta wants pytz zones

from backoffice.operations import clock

ZONE = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZONE)


def test_seed_example_20h_with_12h_is_due_20h_next_day() -> None:
    assert clock.add_business_time(at(2026, 3, 2, 20), timedelta(hours=12), zone=ZONE) == at(2026, 3, 3, 20)


def test_deadline_landing_exactly_on_21h_stays_that_day() -> None:
    assert clock.add_business_time(at(2026, 3, 2, 19), timedelta(hours=2), zone=ZONE) == at(2026, 3, 2, 21)
    assert clock.add_business_time(at(2026, 3, 2, 9), timedelta(hours=12), zone=ZONE) == at(2026, 3, 2, 21)


def test_deadline_one_minute_past_21h_moves_to_next_morning() -> None:
    assert clock.add_business_time(at(2026, 3, 2, 19, 1), timedelta(hours=2), zone=ZONE) == at(
        2026, 3, 3, 9, 1
    )


def test_ticket_before_9h_counts_from_9h() -> None:
    assert clock.add_business_time(at(2026, 3, 2, 7, 30), timedelta(hours=2), zone=ZONE) == at(2026, 3, 2, 11)


def test_ticket_at_or_after_21h_counts_from_next_9h() -> None:
    assert clock.add_business_time(at(2026, 3, 2, 21), timedelta(hours=2), zone=ZONE) == at(2026, 3, 3, 11)
    assert clock.add_business_time(at(2026, 3, 2, 23, 59), timedelta(hours=2), zone=ZONE) == at(
        2026, 3, 3, 11
    )


def test_general_request_of_24h_spans_two_clock_days() -> None:
    assert clock.add_business_time(at(2026, 3, 2, 10), timedelta(hours=24), zone=ZONE) == at(2026, 3, 4, 10)


def test_weekends_are_not_paused() -> None:
    saturday = at(2026, 3, 7, 20)
    assert clock.add_business_time(saturday, timedelta(hours=2), zone=ZONE) == at(2026, 3, 8, 10)


def test_warning_is_at_80_percent_of_the_clock_time() -> None:
    due, warn = clock.deadlines(at(2026, 3, 2, 20), 2, zone=ZONE)
    assert (due, warn) == (at(2026, 3, 3, 10), at(2026, 3, 3, 9, 36))


def test_utc_input_is_read_in_shop_time() -> None:
    received = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("UTC"))  # 20:00 in Shanghai
    assert clock.add_business_time(received, timedelta(hours=12), zone=ZONE) == at(2026, 3, 3, 20)


def test_holiday_pause_skips_national_day() -> None:
    # 2026-09-30 20:00 + 12 h: 1 h that evening; 1-7 October are the National Day holiday (chinese-calendar).
    assert clock.is_public_holiday(date(2026, 10, 1))
    received = at(2026, 9, 30, 20)
    assert clock.add_business_time(received, timedelta(hours=12), zone=ZONE) == at(2026, 10, 1, 20)
    paused = clock.add_business_time(
        received, timedelta(hours=12), skipped=clock.is_public_holiday, zone=ZONE
    )
    assert paused == at(2026, 10, 8, 20)


def test_ticket_arriving_on_a_paused_holiday_starts_after_it() -> None:
    received = at(2026, 10, 3, 12)
    assert clock.add_business_time(
        received, timedelta(hours=2), skipped=clock.is_public_holiday, zone=ZONE
    ) == at(2026, 10, 8, 11)


def test_weekend_and_makeup_workday_are_not_public_holidays() -> None:
    assert not clock.is_public_holiday(date(2026, 12, 5))  # a plain Saturday
    assert not clock.is_public_holiday(date(2031, 10, 1))  # a year chinese-calendar has no data for


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError):
        clock.add_business_time(at(2026, 3, 2, 10), timedelta(hours=-1), zone=ZONE)


# --- against businesstimedelta -----------------------------------------------------------------------------

PYTZ = pytz.timezone("Asia/Shanghai")
FAR = date(2030, 1, 1)  # businesstimedelta fails when it finds no holiday within 5 years ahead


def reference(received: datetime, hours: float, holidays: set[date]) -> datetime:
    rules: list[object] = [
        businesstimedelta.WorkDayRule(
            start_time=time(9), end_time=time(21), working_days=list(range(7)), tz=PYTZ
        )
    ]
    if holidays:
        rules.append(businesstimedelta.HolidayRule(sorted({*holidays, FAR}), tz=PYTZ))
    due = received.astimezone(PYTZ) + businesstimedelta.BusinessTimeDelta(
        businesstimedelta.Rules(rules), hours=hours
    )
    result: datetime = due.astimezone(ZONE)
    return result


def generated_cases(count: int) -> list[tuple[datetime, int, frozenset[date]]]:
    rng = random.Random(19)
    cases = []
    for _ in range(count):
        received = at(2026, 1, 1, 0) + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        hours = rng.choice([2, 2, 3, 5, 12, 24, 24, 36, 48, rng.randrange(2, 200)])
        start = received.date()
        holidays = frozenset(start + timedelta(days=rng.randrange(0, 20)) for _ in range(rng.randrange(0, 4)))
        cases.append((received, hours, holidays))
    return cases


@pytest.mark.parametrize(("received", "hours", "holidays"), generated_cases(400))
def test_clock_agrees_with_businesstimedelta(
    received: datetime, hours: int, holidays: frozenset[date]
) -> None:
    ours = clock.add_business_time(
        received, timedelta(hours=hours), skipped=lambda day: day in holidays, zone=ZONE
    )
    theirs = reference(received, hours, set(holidays))
    if ours.time() == clock.CLOSES:
        # The one boundary where the two may differ only in how they name the instant: a deadline that
        # ends exactly at 21:00 (ours: 21:00 that day, as documented); the reference says 21:00 as well or
        # the next open day's 09:00, which is the same business moment.
        assert theirs == ours or (theirs.time() == clock.OPENS and theirs > ours)
    else:
        assert ours == theirs
