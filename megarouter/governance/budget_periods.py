"""Budget periods: which window of spend an instant falls in.

Daily, weekly and monthly windows start at midnight on calendar boundaries
in the org's time zone (weeks start on Monday, as ISO 8601 has it); a
lifetime budget has one window that never ends. Windows are half-open,
``start <= instant < end``, and given in UTC, so consecutive windows tile
time exactly, across daylight-saving changes too: a day may last 23 or 25
hours, and a midnight that a zone skips starts its day at the first instant
that exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from megarouter.errors import InvalidArgument

LIFETIME_START = datetime(1970, 1, 1, tzinfo=UTC)


class Period(enum.StrEnum):
    """How often a budget starts again from zero."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    LIFETIME = "lifetime"


@dataclass(frozen=True, slots=True)
class Window:
    """One period of a budget: ``start <= t < end``, in UTC; no end for lifetime."""

    start: datetime
    end: datetime | None

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant and (self.end is None or instant < self.end)


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name`` ("" means UTC).

    Raises:
        InvalidArgument: no such zone.
    """
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument.for_field(
            "time_zone", f"{name!r} is not an IANA time zone"
        ) from None


def window_at(period: Period, zone: ZoneInfo, instant: datetime) -> Window:
    """The window of ``period`` that contains ``instant``.

    Args:
        period: the budget's period.
        zone: the org's time zone; calendar boundaries are its midnights.
        instant: an aware datetime.

    Returns:
        The window, with UTC bounds.
    """
    if period is Period.LIFETIME:
        return Window(LIFETIME_START, None)
    today = instant.astimezone(zone).date()
    first, following = _first_days(period, today)
    return Window(_midnight(first, zone), _midnight(following, zone))


def _first_days(period: Period, today: date) -> tuple[date, date]:
    """The first day of ``today``'s period and of the next one."""
    if period is Period.DAILY:
        return today, today + timedelta(days=1)
    if period is Period.WEEKLY:
        monday = today - timedelta(days=today.weekday())
        return monday, monday + timedelta(weeks=1)
    first = today.replace(day=1)
    if first.month == 12:
        return first, first.replace(year=first.year + 1, month=1)
    return first, first.replace(month=first.month + 1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone``, in UTC.

    When the zone skips midnight (clocks jump forward at 00:00), the wall
    time does not exist; zoneinfo reads it with the offset in force before
    the jump, which lands exactly on the jump, the day's first instant.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
