"""Budget periods: calendar windows in the org's time zone, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from megarouter.errors import InvalidArgument
from megarouter.governance.budget_periods import (
    LIFETIME_START,
    Period,
    Window,
    time_zone,
    window_at,
)

ZONES = [
    "UTC",
    "America/New_York",
    "America/Santiago",  # changes clocks at midnight
    "Australia/Lord_Howe",  # half-hour DST shift
    "Asia/Kathmandu",  # +05:45
    "Pacific/Apia",
    "Europe/Paris",
]
CALENDAR = [Period.DAILY, Period.WEEKLY, Period.MONTHLY]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@given(
    zone=st.sampled_from(ZONES),
    period=st.sampled_from(CALENDAR),
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ),
)
def test_windows_contain_instant_and_tile_time(
    zone: str, period: Period, instant: datetime
) -> None:
    window = window_at(period, time_zone(zone), instant)
    assert window.end is not None

    following = window_at(period, time_zone(zone), window.end)
    last = window_at(period, time_zone(zone), window.end - timedelta(microseconds=1))

    assert window.contains(instant)
    assert following.start == window.end
    assert last == window


def test_daily_window_follows_dst_day_lengths() -> None:
    new_york = time_zone("America/New_York")
    santiago = time_zone("America/Santiago")

    spring = window_at(Period.DAILY, new_york, utc("2026-03-08T12:00"))
    autumn = window_at(Period.DAILY, new_york, utc("2026-11-01T12:00"))
    skipped_midnight = window_at(Period.DAILY, santiago, utc("2026-09-06T12:00"))

    assert spring == Window(utc("2026-03-08T05:00"), utc("2026-03-09T04:00"))
    assert autumn == Window(utc("2026-11-01T04:00"), utc("2026-11-02T05:00"))
    # Clocks jump from 00:00 to 01:00: the day starts at the jump.
    assert skipped_midnight.start == utc("2026-09-06T04:00")
    assert skipped_midnight.end == utc("2026-09-07T03:00")


def test_weekly_window_starts_monday_midnight_local() -> None:
    tokyo = time_zone("Asia/Tokyo")

    window = window_at(Period.WEEKLY, tokyo, utc("2026-06-14T16:00"))  # Mon 01:00

    assert window == Window(utc("2026-06-14T15:00"), utc("2026-06-21T15:00"))


def test_monthly_window_rolls_over_year_end() -> None:
    paris = time_zone("Europe/Paris")

    window = window_at(Period.MONTHLY, paris, utc("2026-12-31T22:59:59"))

    assert window == Window(utc("2026-11-30T23:00"), utc("2026-12-31T23:00"))


def test_lifetime_window_never_ends() -> None:
    window = window_at(Period.LIFETIME, time_zone("UTC"), utc("2090-01-01T00:00"))

    assert window == Window(LIFETIME_START, None)
    assert window.contains(utc("2300-01-01T00:00"))


def test_unknown_time_zone_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as caught:
        time_zone("Mars/Olympus_Mons")

    assert caught.value.violations[0].field == "time_zone"
