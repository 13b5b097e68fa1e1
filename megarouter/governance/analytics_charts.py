"""Charts of the usage reports, where a person would rather look than read.

PNG charts are drawn with matplotlib, imported only when a chart is asked
for, on a bare :class:`~matplotlib.figure.Figure` (no pyplot, no display,
no global state). Terminal charts are rich renderables: bars of block
characters and a sparkline for a series over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from rich.table import Table
from rich.text import Text

from megarouter.governance.analytics_burn import BurnRate
from megarouter.governance.analytics_output import format_usd
from megarouter.governance.analytics_reports import (
    ScenarioValueReport,
    TopConsumers,
    UsageReport,
)
from megarouter.providers.spec import MICROS_PER_USD

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_SPARKS = "▁▂▃▄▅▆▇█"
_OTHERS = "(others)"
_UNNAMED = "(none)"


def _figure(width: float = 9.0, height: float = 5.0) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _save(figure: Figure, path: Path | str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png", dpi=100)
    return target


def _times(moments: Sequence[datetime]) -> NDArray[np.datetime64]:
    """UTC datetimes as numpy times, which matplotlib plots on a date axis."""
    naive = [moment.astimezone(UTC).replace(tzinfo=None) for moment in moments]
    return np.array(naive, dtype="datetime64[us]")


def _dollars(micros: int) -> float:
    """Dollars as a float, for plotting only; the figures stay integers."""
    return micros / MICROS_PER_USD


def cost_over_time_chart(
    report: UsageReport, path: Path | str, *, series: int = 8
) -> Path:
    """Cost per time bucket as stacked bars, one colour per group.

    The report's first grouped dimension names the stacks (a team per
    colour for a report grouped by team); the most expensive ``series``
    groups are drawn and the rest stacked as "(others)".

    Args:
        report: a usage report with a granularity.
        path: where to write the PNG.
        series: the most stacks to draw.

    Returns:
        The path written.

    Raises:
        ValueError: the report is not bucketed by time.
    """
    if report.granularity is None:
        raise ValueError("a cost-over-time chart needs a report with a granularity")
    buckets = sorted({line.bucket for line in report.lines if line.bucket})
    stacks = _stacks(report, buckets, series)

    figure, axes = _figure()
    width = _bar_width(buckets)
    bottom = [0.0] * len(buckets)
    for name, values in stacks.items():
        axes.bar(_times(buckets), values, width=width, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    dimension = report.group_by[0].value if report.group_by else "total"
    axes.set_title(f"Cost per {report.granularity.value} by {dimension}")
    axes.set_ylabel("cost (USD)")
    if report.group_by:
        axes.legend(title=dimension, fontsize="small")
    figure.autofmt_xdate()
    return _save(figure, path)


def _stacks(
    report: UsageReport, buckets: Sequence[datetime], series: int
) -> dict[str, list[float]]:
    """Dollars per bucket for each drawn group, the rest folded together."""
    first = report.group_by[0].value if report.group_by else None
    totals: dict[str, int] = {}
    for line in report.lines:
        name = (line.group[first] or _UNNAMED) if first else "total"
        totals[name] = totals.get(name, 0) + line.cost_micros
    drawn = sorted(totals, key=lambda n: (-totals[n], n))[:series]

    position = {bucket: i for i, bucket in enumerate(buckets)}
    stacks = {name: [0.0] * len(buckets) for name in drawn}
    for line in report.lines:
        name = (line.group[first] or _UNNAMED) if first else "total"
        if name not in stacks:
            name = _OTHERS
            stacks.setdefault(name, [0.0] * len(buckets))
        if line.bucket is not None:
            stacks[name][position[line.bucket]] += _dollars(line.cost_micros)
    return stacks


def _bar_width(buckets: Sequence[datetime]) -> float:
    """Bar width in days: 80% of the narrowest gap between buckets."""
    gaps = [b - a for a, b in pairwise(buckets)]
    return 0.8 * (min(gaps, default=timedelta(days=1)) / timedelta(days=1))


def top_consumers_chart(report: TopConsumers, path: Path | str) -> Path:
    """The top consumers' cost as horizontal bars, labelled with their share.

    Args:
        report: a top-consumers report.
        path: where to write the PNG.

    Returns:
        The path written.
    """
    names = [line.key or _UNNAMED for line in reversed(report.lines)]
    costs = [_dollars(line.cost_micros) for line in reversed(report.lines)]
    shares = [line.cost_share for line in reversed(report.lines)]

    figure, axes = _figure(height=max(2.5, 0.5 * len(names) + 1.5))
    bars = axes.barh(names, costs)
    axes.bar_label(bars, labels=[f"{share:.0%}" for share in shares], padding=3)
    axes.set_title(f"Top {report.dimension.value} consumers by cost")
    axes.set_xlabel("cost (USD)")
    return _save(figure, path)


def scenario_value_chart(report: ScenarioValueReport, path: Path | str) -> Path:
    """Each scenario's cost against its mean score, one labelled point each.

    Scenarios without feedback are left out: they have no score to plot.

    Args:
        report: a scenario-value report.
        path: where to write the PNG.

    Returns:
        The path written.
    """
    figure, axes = _figure()
    for line in report.lines:
        if line.mean_score is None:
            continue
        cost, score = _dollars(line.cost_micros), line.mean_score
        axes.scatter([cost], [score], s=40 + 4 * line.feedback_count)
        axes.annotate(
            line.scenario or _UNNAMED,
            (cost, score),
            xytext=(6, 6),
            textcoords="offset points",
        )
    axes.axhline(0.5, linestyle=":", color="grey")
    axes.set_ylim(0, 1.05)
    axes.set_title("Scenario value: cost against mean feedback score")
    axes.set_xlabel("cost (USD)")
    axes.set_ylabel("mean score")
    return _save(figure, path)


def burn_chart(burn: BurnRate, daily: UsageReport, path: Path | str) -> Path:
    """Cumulative spend against the limit, with the pace projected to the end.

    Args:
        burn: the budget's burn rate.
        daily: the budget scope's usage by day over the window so far.
        path: where to write the PNG.

    Returns:
        The path written.
    """
    days = sorted({line.bucket for line in daily.lines if line.bucket})
    spent_by_day = {day: 0 for day in days}
    for line in daily.lines:
        if line.bucket is not None:
            spent_by_day[line.bucket] += line.cost_micros
    moments, cumulative, running = [burn.window_start], [0.0], 0
    for day in days:
        running += spent_by_day[day]
        moments.append(min(day + timedelta(days=1), burn.as_of))
        cumulative.append(_dollars(running))

    figure, axes = _figure()
    axes.plot(_times(moments), cumulative, marker="o", label="spent")
    axes.plot(
        _times([burn.as_of, burn.window_end]),
        [_dollars(burn.spent_micros), _dollars(burn.projected_spend_micros)],
        linestyle="--",
        label="at this pace",
    )
    axes.axhline(_dollars(burn.limit_micros), color="red", label="limit")
    if burn.projected_exhaustion is not None:
        runs_out = _times([burn.projected_exhaustion])[0]
        axes.axvline(runs_out, color="red", linestyle=":", label="runs out")
    axes.set_title(f"Budget burn: {format_usd(burn.daily_rate_micros)} per day")
    axes.set_ylabel("cost (USD)")
    axes.legend(fontsize="small")
    figure.autofmt_xdate()
    return _save(figure, path)


def sparkline(values: Sequence[int | float]) -> str:
    """A one-line chart of a series: ``▁▃█▅``; empty for no values."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    steps = len(_SPARKS) - 1
    return "".join(
        _SPARKS[round((v - low) / span * steps) if span else steps] for v in values
    )


def terminal_bars(
    title: str, bars: Sequence[tuple[str, int]], *, money: bool = True, width: int = 40
) -> Table:
    """Labelled horizontal bars for a terminal, longest for the largest value.

    Args:
        title: the chart's title.
        bars: (label, value) pairs in the order to draw; values are
            micro-dollars when ``money``, plain counts otherwise.
        money: show values as dollars.
        width: the longest bar, in characters.

    Returns:
        A rich Table to print with a rich Console.
    """
    largest = max((value for _, value in bars), default=0)
    chart = Table(title=title, show_header=False, box=None, pad_edge=False)
    chart.add_column(justify="right")
    chart.add_column()
    chart.add_column(justify="right")
    for label, value in bars:
        length = round(width * value / largest) if largest > 0 else 0
        shown = format_usd(value) if money else f"{value:,}"
        chart.add_row(label or _UNNAMED, Text("█" * length, style="cyan"), shown)
    return chart
