"""How fast a budget burns and when, at that pace, it runs out.

The arithmetic is in integers: money in micro-dollars, time in microseconds.
The pace is the budget window's spend so far divided by the time elapsed in
it; the projection assumes the rest of the window spends at the same pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from megarouter.errors import InvalidArgument
from megarouter.governance.analytics_output import Column, ColumnKind, ReportTable
from megarouter.store.tables import as_utc

_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class BurnRate:
    """A budget's pace over its window so far.

    Attributes:
        limit_micros: the budget's limit for the window.
        spent_micros: spent from the window's start to ``as_of``.
        remaining_micros: the limit less what was spent (never negative).
        window_start, window_end: the budget's window, ``[start, end)``.
        as_of: when the pace was measured (clamped into the window).
        daily_rate_micros: spend per day so far, rounded to a micro-dollar.
        projected_spend_micros: what the window will have spent at its end
            at this pace.
        projected_exhaustion: when the limit is reached at this pace, or
            None if it is not reached before the window ends. ``as_of``
            itself when the budget is already spent.
    """

    limit_micros: int
    spent_micros: int
    remaining_micros: int
    window_start: datetime
    window_end: datetime
    as_of: datetime
    daily_rate_micros: int
    projected_spend_micros: int
    projected_exhaustion: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.spent_micros >= self.limit_micros

    @property
    def projected_overspend_micros(self) -> int:
        """How far past the limit the window ends at this pace (0 if not)."""
        return max(0, self.projected_spend_micros - self.limit_micros)

    def table(self) -> ReportTable:
        """The figures as a one-row table."""
        columns = (
            Column("limit_micros", ColumnKind.MONEY, "limit"),
            Column("spent_micros", ColumnKind.MONEY, "spent"),
            Column("remaining_micros", ColumnKind.MONEY, "remaining"),
            Column("daily_rate_micros", ColumnKind.MONEY, "per day"),
            Column("projected_spend_micros", ColumnKind.MONEY, "projected spend"),
            Column("projected_exhaustion", ColumnKind.TIME, "runs out"),
            Column("window_end", ColumnKind.TIME, "window ends"),
        )
        row = (
            self.limit_micros,
            self.spent_micros,
            self.remaining_micros,
            self.daily_rate_micros,
            self.projected_spend_micros,
            self.projected_exhaustion,
            self.window_end,
        )
        return ReportTable("Budget burn rate", columns, (row,))


def project_burn(
    *,
    spent_micros: int,
    limit_micros: int,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> BurnRate:
    """The pace of a budget window and when it runs out at that pace.

    Args:
        spent_micros: what the window has spent so far.
        limit_micros: the window's limit.
        window_start: the window's start (naive means UTC).
        window_end: the window's end, exclusive.
        now: the moment of measurement; clamped into the window.

    Returns:
        The burn rate and its projection.

    Raises:
        InvalidArgument: the window is empty, or an amount is negative.
    """
    start, end = as_utc(window_start), as_utc(window_end)
    if end <= start:
        raise InvalidArgument.for_field("window_end", "must be after window_start")
    for name, amount in (
        ("spent_micros", spent_micros),
        ("limit_micros", limit_micros),
    ):
        if amount < 0:
            raise InvalidArgument.for_field(name, "must not be negative")
    as_of = min(max(as_utc(now), start), end).astimezone(UTC)

    elapsed = (as_of - start) // _MICROSECOND
    window = (end - start) // _MICROSECOND
    daily = _divide_rounded(spent_micros * (_DAY // _MICROSECOND), elapsed)
    projected = _divide_rounded(spent_micros * window, elapsed)

    return BurnRate(
        limit_micros=limit_micros,
        spent_micros=spent_micros,
        remaining_micros=max(0, limit_micros - spent_micros),
        window_start=start.astimezone(UTC),
        window_end=end.astimezone(UTC),
        as_of=as_of,
        daily_rate_micros=daily,
        projected_spend_micros=max(projected, spent_micros),
        projected_exhaustion=_exhaustion(
            spent_micros, limit_micros, elapsed, as_of, end
        ),
    )


def _exhaustion(
    spent: int, limit: int, elapsed: int, as_of: datetime, end: datetime
) -> datetime | None:
    """When the limit is reached at the pace so far, if before ``end``."""
    if spent >= limit:
        return as_of
    if spent == 0 or elapsed == 0:
        return None
    # remaining / (spent / elapsed), rounded up to the next microsecond.
    wait = -(-(limit - spent) * elapsed // spent)
    moment = as_of + timedelta(microseconds=wait)
    return moment if moment < end else None


def _divide_rounded(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up; 0 when nothing elapsed."""
    if denominator <= 0:
        return 0
    return (2 * numerator + denominator) // (2 * denominator)
