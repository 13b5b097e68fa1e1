"""What the usage, top-consumer and scenario-value reports return.

Each report is a frozen dataclass of exact figures (money in integer
micro-dollars) that turns itself into a :class:`ReportTable` for display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from megarouter.governance.analytics_output import Column, ColumnKind, ReportTable
from megarouter.governance.analytics_sql import Dimension, Granularity

_COUNT = ColumnKind.COUNT
_MONEY = ColumnKind.MONEY


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Usage of one group in one time bucket.

    Attributes:
        group: the group's value of each grouped dimension, by dimension name.
        bucket: the bucket's UTC start, or None when time is not bucketed.
        calls: every call, whatever its outcome.
        ok_calls: calls that ended with status OK.
        input_tokens, output_tokens: tokens billed.
        cost_micros: what the calls cost.
        avg_latency_ms: mean latency over every call.
    """

    group: Mapping[str, str]
    bucket: datetime | None
    calls: int
    ok_calls: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    avg_latency_ms: float


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage and cost grouped by dimensions and, optionally, by time."""

    org_id: str
    start: datetime
    end: datetime
    group_by: tuple[Dimension, ...]
    granularity: Granularity | None
    lines: tuple[UsageLine, ...]

    @property
    def cost_micros(self) -> int:
        return sum(line.cost_micros for line in self.lines)

    @property
    def calls(self) -> int:
        return sum(line.calls for line in self.lines)

    def table(self) -> ReportTable:
        """The report as a table: bucket, group columns, then the figures."""
        columns: list[Column] = []
        if self.granularity is not None:
            columns.append(Column("bucket", ColumnKind.TIME, self.granularity.value))
        columns += [Column(d.value, ColumnKind.TEXT) for d in self.group_by]
        columns += [
            Column("calls", _COUNT),
            Column("ok_calls", _COUNT),
            Column("input_tokens", _COUNT),
            Column("output_tokens", _COUNT),
            Column("cost_micros", _MONEY, "cost"),
            Column("avg_latency_ms", ColumnKind.NUMBER),
        ]
        rows = tuple(
            (
                *([line.bucket] if self.granularity is not None else []),
                *(line.group[d.value] for d in self.group_by),
                line.calls,
                line.ok_calls,
                line.input_tokens,
                line.output_tokens,
                line.cost_micros,
                line.avg_latency_ms,
            )
            for line in self.lines
        )
        title = f"Usage of {self.org_id}, {_period(self.start, self.end)}"
        return ReportTable(title, tuple(columns), rows)


@dataclass(frozen=True, slots=True)
class ConsumerLine:
    """One consumer (a team, a principal, a model...) and its share.

    Attributes:
        key: the consumer's id ("" for calls that name none).
        calls: every call it made.
        cost_micros: what its calls cost.
        input_tokens, output_tokens: tokens billed.
        active_principals: distinct principals behind its calls.
        call_share: its calls as a fraction of the scope's calls.
        cost_share: its cost as a fraction of the scope's cost (0 when the
            scope cost nothing).
    """

    key: str
    calls: int
    cost_micros: int
    input_tokens: int
    output_tokens: int
    active_principals: int
    call_share: float
    cost_share: float


@dataclass(frozen=True, slots=True)
class TopConsumers:
    """The biggest consumers along one dimension, most expensive first."""

    org_id: str
    start: datetime
    end: datetime
    dimension: Dimension
    total_calls: int
    total_cost_micros: int
    total_active_principals: int
    lines: tuple[ConsumerLine, ...]

    def table(self) -> ReportTable:
        """The report as a table, one row per consumer."""
        columns = (
            Column("key", ColumnKind.TEXT, self.dimension.value),
            Column("calls", _COUNT),
            Column("call_share", ColumnKind.RATIO, "share of calls"),
            Column("cost_micros", _MONEY, "cost"),
            Column("cost_share", ColumnKind.RATIO, "share of cost"),
            Column("active_principals", _COUNT),
            Column("input_tokens", _COUNT),
            Column("output_tokens", _COUNT),
        )
        rows = tuple(
            (
                line.key,
                line.calls,
                line.call_share,
                line.cost_micros,
                line.cost_share,
                line.active_principals,
                line.input_tokens,
                line.output_tokens,
            )
            for line in self.lines
        )
        title = (
            f"Top {self.dimension.value} consumers of {self.org_id}, "
            f"{_period(self.start, self.end)}"
        )
        return ReportTable(title, columns, rows)


@dataclass(frozen=True, slots=True)
class ScenarioValue:
    """What one scenario cost and what its users said it was worth.

    Attributes:
        scenario: the callers' tag ("" for untagged calls).
        calls: every call in the scenario.
        cost_micros: what they cost.
        feedback_count: calls that were scored.
        mean_score: the mean score (0 to 1), or None without feedback.
        good_outcomes: scored calls with a score of at least 0.5.
        cost_per_good_outcome_micros: the scenario's cost divided by the
            good outcomes its calls are estimated to have produced (calls
            times the good share of scored calls); None when none was good.
        value_index: estimated score points per dollar: mean score times
            calls, divided by the cost in dollars; None without feedback or
            when the scenario cost nothing.
    """

    scenario: str
    calls: int
    cost_micros: int
    feedback_count: int
    mean_score: float | None
    good_outcomes: int
    cost_per_good_outcome_micros: int | None
    value_index: float | None


@dataclass(frozen=True, slots=True)
class ScenarioValueReport:
    """Value per scenario, most valuable per dollar first."""

    org_id: str
    start: datetime
    end: datetime
    lines: tuple[ScenarioValue, ...]

    def table(self) -> ReportTable:
        """The report as a table, one row per scenario."""
        columns = (
            Column("scenario", ColumnKind.TEXT),
            Column("calls", _COUNT),
            Column("cost_micros", _MONEY, "cost"),
            Column("feedback_count", _COUNT, "scored"),
            Column("mean_score", ColumnKind.NUMBER),
            Column("good_outcomes", _COUNT),
            Column("cost_per_good_outcome_micros", _MONEY, "cost per good outcome"),
            Column("value_index", ColumnKind.NUMBER, "score per $"),
        )
        rows = tuple(
            (
                line.scenario,
                line.calls,
                line.cost_micros,
                line.feedback_count,
                line.mean_score,
                line.good_outcomes,
                line.cost_per_good_outcome_micros,
                line.value_index,
            )
            for line in self.lines
        )
        title = f"Value per scenario of {self.org_id}, {_period(self.start, self.end)}"
        return ReportTable(title, columns, rows)


def _period(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
