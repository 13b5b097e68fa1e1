"""``megarouter admin report ...``: one command per question about AI use.

- ``usage``: what was used, by whom, at what cost (grouped, over time);
- ``teams``: which teams rely on AI most;
- ``scenarios``: which scenarios create value;
- ``budget BUDGET``: is the budget used well (burn rate, exhaustion date);
- ``waste``: where usage is wasted.

Each reads ``--since``/``--until`` (default: the last 30 days) and prints a
rich table with a terminal chart, or ``--format csv`` / ``--format json``
for tools (money stays in integer micro-dollars there). ``--chart out.png``
also draws the report with matplotlib where a picture reads better.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console, RenderableType

from megarouter.cli import output
from megarouter.cli.admin import app
from megarouter.cli.admin_audit import parse_when
from megarouter.cli.admin_session import AdminSession, fail, session_of
from megarouter.cli.calls import translated
from megarouter.v1 import governance_pb2 as gov

# The analytics modules import sqlalchemy and numpy; the commands import them
# when they run, so that `megarouter --help` need not.
if TYPE_CHECKING:
    from megarouter.governance.analytics_burn import BurnRate
    from megarouter.governance.analytics_output import ReportTable
    from megarouter.governance.analytics_reports import UsageReport
    from megarouter.governance.analytics_sql import Dimension, Granularity

report_app = typer.Typer(
    help="Usage reports: who relies on AI, what creates value, what is wasted.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


class Format(enum.StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class DimensionChoice(enum.StrEnum):
    """The analytics ``Dimension`` values, as choices (a test checks both agree)."""

    TEAM = "team"
    PRINCIPAL = "principal"
    KEY = "key"
    MODEL = "model"
    PROVIDER = "provider"
    TASK_TYPE = "task_type"
    SCENARIO = "scenario"

    @property
    def dimension(self) -> Dimension:
        from megarouter.governance.analytics_sql import Dimension

        return Dimension(self.value)


class GranularityChoice(enum.StrEnum):
    """The analytics ``Granularity`` values, as choices (a test checks both agree)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def granularity(self) -> Granularity:
        from megarouter.governance.analytics_sql import Granularity

        return Granularity(self.value)


DIMENSION_TO_PB = {
    DimensionChoice.TEAM: gov.USAGE_DIMENSION_TEAM,
    DimensionChoice.PRINCIPAL: gov.USAGE_DIMENSION_PRINCIPAL,
    DimensionChoice.KEY: gov.USAGE_DIMENSION_KEY,
    DimensionChoice.MODEL: gov.USAGE_DIMENSION_MODEL,
    DimensionChoice.PROVIDER: gov.USAGE_DIMENSION_PROVIDER,
    DimensionChoice.TASK_TYPE: gov.USAGE_DIMENSION_TASK_TYPE,
    DimensionChoice.SCENARIO: gov.USAGE_DIMENSION_SCENARIO,
}
GRANULARITY_TO_PB = {
    GranularityChoice.HOUR: gov.USAGE_GRANULARITY_HOUR,
    GranularityChoice.DAY: gov.USAGE_GRANULARITY_DAY,
    GranularityChoice.WEEK: gov.USAGE_GRANULARITY_WEEK,
    GranularityChoice.MONTH: gov.USAGE_GRANULARITY_MONTH,
}

OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The org, ID or orgs/ID (default: the caller's)."),
]
SinceOption = Annotated[
    str, typer.Option("--since", help="ISO 8601 time, or 30d, 24h ago.")
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="ISO 8601 time, or 1d ago (default: now)."),
]
TeamOption = Annotated[
    list[str] | None,
    typer.Option("--team", help="Only these teams' calls (repeatable)."),
]
FormatOption = Annotated[
    Format, typer.Option("--format", help="table for people; csv or json for tools.")
]
ChartOption = Annotated[
    Path | None, typer.Option("--chart", help="Also draw the report to this PNG.")
]


# --- scope and conversions ------------------------------------------------------


def _stamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def report_scope(
    session: AdminSession,
    org: str | None,
    since: str,
    until: str | None,
    teams: Sequence[str] | None,
) -> gov.ReportScope:
    """The org, range and team filter the options describe."""
    now = datetime.now(UTC)
    start = parse_when(since, "--since", now)
    end = parse_when(until, "--until", now) if until else now
    if end <= start:
        fail("--until must be after --since", 2)
    scope = gov.ReportScope(
        parent=session.org(org), start_time=_stamp(start), end_time=_stamp(end)
    )
    if teams:
        ids = [team.rsplit("/", 1)[-1] for team in teams]
        scope.filters.add(dimension=gov.USAGE_DIMENSION_TEAM, values=ids)
    return scope


def _org_id(scope: gov.ReportScope) -> str:
    return scope.parent.removeprefix("orgs/")


def usage_report(
    scope: gov.ReportScope,
    group_by: Sequence[Dimension],
    granularity: Granularity | None,
    response: gov.GetUsageReportResponse,
) -> UsageReport:
    from megarouter.governance.analytics_reports import UsageLine, UsageReport

    lines = tuple(
        UsageLine(
            group={d.value: line.group.get(d.value, "") for d in group_by},
            bucket=_time(line.bucket_time) if line.HasField("bucket_time") else None,
            calls=line.calls,
            ok_calls=line.ok_calls,
            input_tokens=line.input_tokens,
            output_tokens=line.output_tokens,
            cost_micros=line.cost_micros,
            avg_latency_ms=line.avg_latency_ms,
        )
        for line in response.lines
    )
    start, end = _time(scope.start_time), _time(scope.end_time)
    return UsageReport(_org_id(scope), start, end, tuple(group_by), granularity, lines)


def show(table: ReportTable, fmt: Format, *extras: RenderableType | str | None) -> None:
    """Print a report's table in the chosen format; extras follow a table."""
    from megarouter.governance.analytics_output import to_csv, to_json, to_rich

    if fmt is Format.CSV:
        typer.echo(to_csv(table), nl=False)
        return
    if fmt is Format.JSON:
        output.print_json(to_json(table))
        return
    console = Console()
    console.print(to_rich(table))
    for extra in extras:
        if extra is not None:
            console.print(extra)


def saved(drawn: Path | None) -> str | None:
    """A note that the chart was written, for people."""
    return f"Chart written to {drawn}" if drawn is not None else None


# --- commands -----------------------------------------------------------------


@report_app.command("usage")
def usage(
    ctx: typer.Context,
    by: Annotated[
        list[DimensionChoice] | None,
        typer.Option("--by", help="Group by this dimension (repeatable)."),
    ] = None,
    granularity: Annotated[
        GranularityChoice | None,
        typer.Option("--granularity", help="Cut time into hours, days, ..."),
    ] = None,
    since: SinceOption = "30d",
    until: UntilOption = None,
    team: TeamOption = None,
    fmt: FormatOption = Format.TABLE,
    chart: ChartOption = None,
    org: OrgOption = None,
) -> None:
    """Usage and cost, grouped by team, principal, key, model, provider,
    task type or scenario, and by time."""
    from megarouter.governance import analytics_charts as charts
    from megarouter.governance.analytics_output import format_usd

    if chart is not None and granularity is None:
        fail("--chart draws cost over time: pass --granularity too", 2)
    session = session_of(ctx)
    scope = report_scope(session, org, since, until, team)
    group_by = list(dict.fromkeys(by or []))
    request = gov.GetUsageReportRequest(
        scope=scope,
        group_by=[DIMENSION_TO_PB[d] for d in group_by],
        granularity=(
            GRANULARITY_TO_PB[granularity]
            if granularity
            else gov.USAGE_GRANULARITY_UNSPECIFIED
        ),
    )
    with translated():
        response = session.client.admin.GetUsageReport(request)
    report = usage_report(
        scope,
        [d.dimension for d in group_by],
        granularity.granularity if granularity else None,
        response,
    )

    drawn = charts.cost_over_time_chart(report, chart) if chart else None
    trend = None
    if granularity is not None:
        costs: dict[datetime, int] = {}
        for line in report.lines:
            if line.bucket is not None:
                costs[line.bucket] = costs.get(line.bucket, 0) + line.cost_micros
        trend = f"Cost per {granularity.value}: " + charts.sparkline(
            [costs[b] for b in sorted(costs)]
        )
    total = f"Total: {format_usd(report.cost_micros)} over {report.calls:,} calls"
    show(report.table(), fmt, trend, total, saved(drawn))


@report_app.command("teams")
def teams(
    ctx: typer.Context,
    by: Annotated[
        DimensionChoice, typer.Option("--by", help="What a consumer is.")
    ] = DimensionChoice.TEAM,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many.")] = 10,
    since: SinceOption = "30d",
    until: UntilOption = None,
    team: TeamOption = None,
    fmt: FormatOption = Format.TABLE,
    chart: ChartOption = None,
    org: OrgOption = None,
) -> None:
    """Which teams (or principals, models, ...) rely on AI most."""
    from megarouter.governance import analytics_charts as charts
    from megarouter.governance.analytics_reports import ConsumerLine, TopConsumers

    session = session_of(ctx)
    scope = report_scope(session, org, since, until, team)
    request = gov.GetTopConsumersRequest(
        scope=scope, dimension=DIMENSION_TO_PB[by], limit=limit
    )
    with translated():
        response = session.client.admin.GetTopConsumers(request)
    report = TopConsumers(
        _org_id(scope),
        _time(scope.start_time),
        _time(scope.end_time),
        by.dimension,
        response.total_calls,
        response.total_cost_micros,
        response.total_active_principals,
        tuple(
            ConsumerLine(
                c.key,
                c.calls,
                c.cost_micros,
                c.input_tokens,
                c.output_tokens,
                c.active_principals,
                c.call_share,
                c.cost_share,
            )
            for c in response.consumers
        ),
    )

    drawn = charts.top_consumers_chart(report, chart) if chart else None
    bars = charts.terminal_bars(
        f"Cost by {by.value}", [(line.key, line.cost_micros) for line in report.lines]
    )
    show(report.table(), fmt, bars, saved(drawn))


@report_app.command("scenarios")
def scenarios(
    ctx: typer.Context,
    since: SinceOption = "30d",
    until: UntilOption = None,
    team: TeamOption = None,
    fmt: FormatOption = Format.TABLE,
    chart: ChartOption = None,
    org: OrgOption = None,
) -> None:
    """Which scenarios create value: cost against feedback scores."""
    from megarouter.governance import analytics_charts as charts
    from megarouter.governance.analytics_reports import (
        ScenarioValue,
        ScenarioValueReport,
    )

    session = session_of(ctx)
    scope = report_scope(session, org, since, until, team)
    with translated():
        response = session.client.admin.GetScenarioValue(
            gov.GetScenarioValueRequest(scope=scope)
        )
    report = ScenarioValueReport(
        _org_id(scope),
        _time(scope.start_time),
        _time(scope.end_time),
        tuple(
            ScenarioValue(
                scenario=v.scenario,
                calls=v.calls,
                cost_micros=v.cost_micros,
                feedback_count=v.feedback_count,
                mean_score=v.mean_score if v.HasField("mean_score") else None,
                good_outcomes=v.good_outcomes,
                cost_per_good_outcome_micros=(
                    v.cost_per_good_outcome_micros
                    if v.HasField("cost_per_good_outcome_micros")
                    else None
                ),
                value_index=v.value_index if v.HasField("value_index") else None,
            )
            for v in response.lines
        ),
    )

    drawn = charts.scenario_value_chart(report, chart) if chart else None
    bars = charts.terminal_bars(
        "Cost by scenario", [(v.scenario, v.cost_micros) for v in report.lines]
    )
    show(report.table(), fmt, bars, saved(drawn))


@report_app.command("budget")
def budget(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The budget's ID or full name.")],
    fmt: FormatOption = Format.TABLE,
    chart: ChartOption = None,
    org: OrgOption = None,
) -> None:
    """Is the budget used well: its pace and when it runs out at that pace."""
    from megarouter.governance import analytics_charts as charts
    from megarouter.governance.analytics_burn import BurnRate
    from megarouter.governance.analytics_reports import UsageLine, UsageReport
    from megarouter.governance.analytics_sql import Granularity

    session = session_of(ctx)
    request = gov.GetBudgetBurnRequest(name=session.name(name, "budgets", org))
    with translated():
        response = session.client.admin.GetBudgetBurn(request)
    burn = BurnRate(
        limit_micros=response.limit_micros,
        spent_micros=response.spent_micros,
        remaining_micros=response.remaining_micros,
        window_start=_time(response.window_start_time),
        window_end=_time(response.window_end_time),
        as_of=_time(response.as_of_time),
        daily_rate_micros=response.daily_rate_micros,
        projected_spend_micros=response.projected_spend_micros,
        projected_exhaustion=(
            _time(response.projected_exhaustion_time)
            if response.HasField("projected_exhaustion_time")
            else None
        ),
    )
    daily = UsageReport(
        response.budget.split("/")[1],
        burn.window_start,
        burn.as_of,
        (),
        Granularity.DAY,
        tuple(
            UsageLine({}, _time(d.day_time), 0, 0, 0, 0, d.cost_micros, 0.0)
            for d in response.daily
        ),
    )

    drawn = charts.burn_chart(burn, daily, chart) if chart else None
    costs = [d.cost_micros for d in response.daily]
    trend = f"Spend per day: {charts.sparkline(costs)}" if costs else None
    show(burn.table(), fmt, trend, verdict(burn), saved(drawn))


def verdict(burn: BurnRate) -> str:
    """One sentence on the budget's pace."""
    if burn.exhausted:
        return "The budget is spent."
    if burn.projected_exhaustion is not None:
        day = f"{burn.projected_exhaustion:%Y-%m-%d}"
        return f"At this pace the budget runs out on {day}, before its window ends."
    return "At this pace the budget lasts its window."


@report_app.command("waste")
def waste(
    ctx: typer.Context,
    by: Annotated[
        list[DimensionChoice] | None,
        typer.Option("--by", help="Also split by this dimension (repeatable)."),
    ] = None,
    since: SinceOption = "30d",
    until: UntilOption = None,
    team: TeamOption = None,
    fmt: FormatOption = Format.TABLE,
    org: OrgOption = None,
) -> None:
    """Where usage is wasted: simple tasks run on premium models."""
    from megarouter.governance import analytics_charts as charts
    from megarouter.governance.analytics_waste import WasteLine, WasteReport

    session = session_of(ctx)
    scope = report_scope(session, org, since, until, team)
    request = gov.GetWasteReportRequest(
        scope=scope, group_by=[DIMENSION_TO_PB[d] for d in by or []]
    )
    with translated():
        response = session.client.admin.GetWasteReport(request)
    names = tuple(
        d.value
        for d in dict.fromkeys(by or [])
        if d not in (DimensionChoice.TASK_TYPE, DimensionChoice.MODEL)
    )
    report = WasteReport(
        _org_id(scope),
        _time(scope.start_time),
        _time(scope.end_time),
        names,
        response.total_cost_micros,
        tuple(
            WasteLine(
                task_type=w.task_type,
                model=w.model,
                calls=w.calls,
                input_tokens=w.input_tokens,
                output_tokens=w.output_tokens,
                cost_micros=w.cost_micros,
                alternative=w.alternative,
                alternative_cost_micros=w.alternative_cost_micros,
                saving_micros=w.saving_micros,
                group={n: w.group.get(n, "") for n in names},
            )
            for w in response.lines
        ),
    )

    bars = charts.terminal_bars(
        "Saving by model and task",
        [(f"{w.model} / {w.task_type}", w.saving_micros) for w in report.lines],
    )
    show(report.table(), fmt, bars)
