"""Usage analytics: who uses AI, for what, at what cost, and how well.

Every report reads the usage ledger (``usage_records``) of one org over a
half-open time range ``[start, end)`` and groups in the database, on SQLite
and PostgreSQL alike. Filters narrow a report to values of any dimension, a
team for a team's own view. The four questions an organisation asks, and
the report that answers each:

- Which teams rely on AI most? :meth:`Analytics.top_consumers`.
- Which scenarios create value? :meth:`Analytics.scenario_value`.
- Is the budget used well? :meth:`Analytics.burn_rate` and
  :meth:`Analytics.usage` by day.
- Where is usage wasted? :meth:`Analytics.waste`.

Each report is a dataclass with a ``table()`` that the renderers of
:mod:`megarouter.governance.analytics_output` and the charts of
:mod:`megarouter.governance.analytics_charts` take.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    Table,
    and_,
    case,
    func,
    select,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from megarouter.errors import InvalidArgument, Unavailable
from megarouter.governance.analytics_burn import BurnRate, project_burn
from megarouter.governance.analytics_reports import (
    ConsumerLine,
    ScenarioValue,
    ScenarioValueReport,
    TopConsumers,
    UsageLine,
    UsageReport,
)
from megarouter.governance.analytics_sql import (
    USAGE,
    Dimension,
    Filters,
    Granularity,
    checked_range,
    dimension_column,
    in_scope,
    parse_bucket,
    time_bucket,
)
from megarouter.governance.analytics_waste import (
    EquivalentModelFinder,
    WasteLine,
    WasteReport,
    most_saving_first,
)
from megarouter.governance.usage import CallStatus
from megarouter.providers.spec import MICROS_PER_USD
from megarouter.store.database import Database
from megarouter.store.feedback_tables import FeedbackRow
from megarouter.store.tables import as_utc

logger = logging.getLogger(__name__)

FEEDBACK_TABLE: Table = FeedbackRow.__table__  # type: ignore[attr-defined]
GOOD_SCORE = 0.5  # a scored call at or above this is a good outcome

_OK = USAGE.c.status == CallStatus.OK.value


def _total(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


def _measures() -> list[ColumnElement[Any]]:
    """The figures every usage line carries."""
    return [
        func.count().label("calls"),
        _total(case((_OK, 1), else_=0)).label("ok_calls"),
        _total(USAGE.c.input_tokens).label("input_tokens"),
        _total(USAGE.c.output_tokens).label("output_tokens"),
        _total(USAGE.c.cost_micros).label("cost_micros"),
        func.avg(USAGE.c.latency_ms).label("avg_latency_ms"),
    ]


class Analytics:
    """Usage reports over the ledger of one database.

    Args:
        database: the database that holds ``usage_records`` (migrated).
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._dialect = database.engine.dialect.name

    async def usage(
        self,
        org_id: str,
        start: datetime,
        end: datetime,
        *,
        group_by: Sequence[Dimension] = (),
        granularity: Granularity | None = None,
        filters: Filters | None = None,
    ) -> UsageReport:
        """Usage and cost grouped by dimensions and, optionally, by time.

        Args:
            org_id: the organisation; no other org's calls are counted.
            start: the range's start, inclusive (naive means UTC).
            end: the range's end, exclusive.
            group_by: the dimensions to group by, in column order.
            granularity: cut time into buckets of this size (UTC), or None
                for one line per group over the whole range.
            filters: accepted values per dimension (a team's own view is
                ``{Dimension.TEAM: team_id}``).

        Returns:
            One line per bucket and group, by bucket then group; without
            grouping or buckets, one total line (zeros if nothing was used).

        Raises:
            InvalidArgument: the range is empty or a filter lists no value.
            Unavailable: the database could not be read.
        """
        dimensions = tuple(dict.fromkeys(Dimension(d) for d in group_by))
        keys: list[ColumnElement[Any]] = [dimension_column(d) for d in dimensions]
        shown = list(keys)
        if granularity is not None:
            bucket = time_bucket(self._dialect, Granularity(granularity))
            keys.insert(0, bucket)
            shown.insert(0, bucket.label("bucket"))
        query = (
            select(*shown, *_measures())
            .where(in_scope(org_id, start, end, filters))
            .group_by(*keys)
            .order_by(*keys)
        )

        rows = await self._fetch(query)

        lines = tuple(
            UsageLine(
                group={d.value: row[d.column_name] for d in dimensions},
                bucket=parse_bucket(row["bucket"]) if granularity else None,
                calls=int(row["calls"]),
                ok_calls=int(row["ok_calls"]),
                input_tokens=int(row["input_tokens"]),
                output_tokens=int(row["output_tokens"]),
                cost_micros=int(row["cost_micros"]),
                avg_latency_ms=float(row["avg_latency_ms"] or 0.0),
            )
            for row in rows
        )
        start, end = checked_range(start, end)
        return UsageReport(org_id, start, end, dimensions, granularity, lines)

    async def top_consumers(
        self,
        org_id: str,
        start: datetime,
        end: datetime,
        *,
        dimension: Dimension = Dimension.TEAM,
        limit: int = 10,
        filters: Filters | None = None,
    ) -> TopConsumers:
        """The biggest consumers along one dimension: who relies on AI most.

        Args:
            org_id: the organisation.
            start: the range's start, inclusive.
            end: the range's end, exclusive.
            dimension: what a consumer is (a team by default).
            limit: how many consumers to list, most expensive first.
            filters: accepted values per dimension.

        Returns:
            The consumers with their share of the scope's calls and cost.

        Raises:
            InvalidArgument: the range is empty or ``limit`` is not positive.
            Unavailable: the database could not be read.
        """
        if limit < 1:
            raise InvalidArgument.for_field("limit", "must be at least 1")
        scope = in_scope(org_id, start, end, filters)
        key = dimension_column(Dimension(dimension))
        principals = func.count(USAGE.c.principal_id.distinct())
        figures = (
            func.count().label("calls"),
            _total(USAGE.c.cost_micros).label("cost_micros"),
            principals.label("principals"),
        )
        tokens = (
            _total(USAGE.c.input_tokens).label("input_tokens"),
            _total(USAGE.c.output_tokens).label("output_tokens"),
        )
        ranked = (
            select(key.label("key"), *figures, *tokens)
            .where(scope)
            .group_by(key)
            .order_by(figures[1].desc(), figures[0].desc(), key)
            .limit(limit)
        )

        totals = (await self._fetch(select(*figures).where(scope)))[0]
        rows = await self._fetch(ranked)

        calls, cost = int(totals["calls"]), int(totals["cost_micros"])
        lines = tuple(
            ConsumerLine(
                key=row["key"],
                calls=int(row["calls"]),
                cost_micros=int(row["cost_micros"]),
                input_tokens=int(row["input_tokens"]),
                output_tokens=int(row["output_tokens"]),
                active_principals=int(row["principals"]),
                call_share=int(row["calls"]) / calls,
                cost_share=int(row["cost_micros"]) / cost if cost else 0.0,
            )
            for row in rows
        )
        start, end = checked_range(start, end)
        return TopConsumers(
            org_id,
            start,
            end,
            Dimension(dimension),
            calls,
            cost,
            int(totals["principals"]),
            lines,
        )

    async def burn_rate(
        self,
        org_id: str,
        *,
        limit_micros: int,
        window_start: datetime,
        window_end: datetime,
        now: datetime,
        filters: Filters | None = None,
        spent_micros: int | None = None,
    ) -> BurnRate:
        """A budget's pace so far and when, at that pace, it runs out.

        Args:
            org_id: the organisation.
            limit_micros: the budget's limit for the window.
            window_start: the budget window's start, inclusive.
            window_end: the window's end, exclusive.
            now: the moment of measurement (clamped into the window).
            filters: the budget's scope as dimension values (a team, a
                principal, a key, a model); none for the whole org.
            spent_micros: what the budget itself says was spent; when None,
                the ledger's cost over ``[window_start, now)`` in scope.

        Returns:
            The daily rate, the projected spend and the exhaustion date.

        Raises:
            InvalidArgument: the window is empty or an amount is negative.
            Unavailable: the database could not be read.
        """
        window_start, window_end = checked_range(window_start, window_end)
        if spent_micros is None:
            until = min(as_utc(now), window_end)
            spent_micros = 0
            if until > window_start:
                spent = _total(USAGE.c.cost_micros).label("spent")
                query = select(spent).where(
                    in_scope(org_id, window_start, until, filters)
                )
                spent_micros = int((await self._fetch(query))[0]["spent"])
        return project_burn(
            spent_micros=spent_micros,
            limit_micros=limit_micros,
            window_start=window_start,
            window_end=window_end,
            now=now,
        )

    async def waste(
        self,
        org_id: str,
        start: datetime,
        end: datetime,
        finder: EquivalentModelFinder,
        *,
        group_by: Sequence[Dimension] = (),
        filters: Filters | None = None,
    ) -> WasteReport:
        """Successful calls that a cheaper allowed model would have done as well.

        Calls are grouped by task type and model (and ``group_by``); each
        group for which ``finder`` names a cheaper model is reported with
        its tokens priced at that model, and the difference as the saving.

        Args:
            org_id: the organisation.
            start: the range's start, inclusive.
            end: the range's end, exclusive.
            finder: names the cheaper equivalent of a model for a task type.
            group_by: further dimensions to split the waste by (a team).
            filters: accepted values per dimension.

        Returns:
            The wasteful groups, biggest saving first.

        Raises:
            InvalidArgument: the range is empty or a filter lists no value.
            Unavailable: the database could not be read.
        """
        extra = tuple(
            d
            for d in dict.fromkeys(Dimension(d) for d in group_by)
            if d not in (Dimension.TASK_TYPE, Dimension.MODEL)
        )
        keys = [
            dimension_column(Dimension.TASK_TYPE),
            dimension_column(Dimension.MODEL),
        ]
        keys += [dimension_column(d) for d in extra]
        query = (
            select(*keys, *_measures())
            .where(in_scope(org_id, start, end, filters), _OK, USAGE.c.model != "")
            .group_by(*keys)
        )

        rows = await self._fetch(query)

        lines: list[WasteLine] = []
        for row in rows:
            line = _waste_line(
                row, finder, {d.value: row[d.column_name] for d in extra}
            )
            if line is not None:
                lines.append(line)
        start, end = checked_range(start, end)
        return WasteReport(
            org_id,
            start,
            end,
            tuple(d.value for d in extra),
            sum(int(row["cost_micros"]) for row in rows),
            most_saving_first(lines),
        )

    async def scenario_value(
        self,
        org_id: str,
        start: datetime,
        end: datetime,
        *,
        filters: Filters | None = None,
        feedback: Table | None = None,
    ) -> ScenarioValueReport:
        """What each scenario cost and what its users' scores say it is worth.

        Scores join calls by request id; calls are counted in the range by
        when they were made, whenever they were scored.

        Args:
            org_id: the organisation.
            start: the range's start, inclusive.
            end: the range's end, exclusive.
            filters: accepted values per dimension.
            feedback: a table with ``org_id``, ``request_id`` and ``score``
                columns (at most one row per request); the ``feedback``
                table by default.

        Returns:
            One line per scenario, most score per dollar first.

        Raises:
            InvalidArgument: the range is empty or a filter lists no value.
            Unavailable: the database could not be read.
        """
        scores = FEEDBACK_TABLE if feedback is None else feedback
        joined = USAGE.outerjoin(
            scores,
            and_(
                scores.c.org_id == USAGE.c.org_id,
                scores.c.request_id == USAGE.c.request_id,
                USAGE.c.request_id != "",
            ),
        )
        score = scores.c.score
        query = (
            select(
                USAGE.c.scenario,
                func.count().label("calls"),
                _total(USAGE.c.cost_micros).label("cost_micros"),
                func.count(score).label("scored"),
                func.sum(score).label("score_sum"),
                _total(case((score >= GOOD_SCORE, 1), else_=0)).label("good"),
            )
            .select_from(joined)
            .where(in_scope(org_id, start, end, filters))
            .group_by(USAGE.c.scenario)
        )

        rows = await self._fetch(query)

        lines = sorted(
            (_scenario_value(row) for row in rows),
            key=lambda v: (v.value_index is None, -(v.value_index or 0), v.scenario),
        )
        start, end = checked_range(start, end)
        return ScenarioValueReport(org_id, start, end, tuple(lines))

    async def _fetch(self, query: Select[Any]) -> list[RowMapping]:
        """Every row of a query, by column name."""
        try:
            async with self._database.engine.connect() as connection:
                return list((await connection.execute(query)).mappings())
        except (SQLAlchemyError, OSError) as exc:
            reason = _describe(exc)
            logger.error("usage report query failed: %s", reason)
            raise Unavailable(f"cannot read the usage ledger: {reason}") from exc


def _describe(exc: BaseException) -> str:
    """The database's own words, without the statement or its parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _waste_line(
    row: RowMapping, finder: EquivalentModelFinder, group: dict[str, str]
) -> WasteLine | None:
    """The group's waste, if a cheaper model would have done as well."""
    alternative = finder(row["task_type"], row["model"])
    if alternative is None:
        return None
    input_tokens, output_tokens = int(row["input_tokens"]), int(row["output_tokens"])
    cost = int(row["cost_micros"])
    would_cost = alternative.price.cost_micros(input_tokens, output_tokens)
    if would_cost >= cost:
        return None
    return WasteLine(
        task_type=row["task_type"],
        model=row["model"],
        calls=int(row["calls"]),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_micros=cost,
        alternative=alternative.model,
        alternative_cost_micros=would_cost,
        saving_micros=cost - would_cost,
        group=group,
    )


def _scenario_value(row: RowMapping) -> ScenarioValue:
    """One scenario's figures from its aggregated row."""
    calls, cost = int(row["calls"]), int(row["cost_micros"])
    scored, good = int(row["scored"]), int(row["good"])
    mean = float(row["score_sum"]) / scored if scored else None

    per_good = None
    if good:
        # cost / (calls * good / scored), rounded half up
        numerator, denominator = cost * scored, calls * good
        per_good = (2 * numerator + denominator) // (2 * denominator)
    value_index = None
    if mean is not None and cost > 0:
        value_index = mean * calls * MICROS_PER_USD / cost

    return ScenarioValue(
        scenario=row["scenario"],
        calls=calls,
        cost_micros=cost,
        feedback_count=scored,
        mean_score=mean,
        good_outcomes=good,
        cost_per_good_outcome_micros=per_good,
        value_index=value_index,
    )
