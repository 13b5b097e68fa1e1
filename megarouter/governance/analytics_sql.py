"""The SQL beneath the usage reports: dimensions, time buckets and scope.

Every report filters ``usage_records`` by one org and a half-open time range
``[start, end)``, optionally narrows it to values of some dimensions (a team,
a model, ...), and groups in the database. The two databases differ only in
how a timestamp is cut into buckets, which :func:`time_bucket` hides: both
yield the bucket's start as UTC text ``YYYY-MM-DD HH:MM:SS``, so grouping,
ordering and parsing are the same everywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, literal_column
from sqlalchemy.sql.elements import ColumnClause

from megarouter.errors import InvalidArgument
from megarouter.governance.ledger import USAGE_TABLE
from megarouter.store.tables import as_utc

USAGE: Table = USAGE_TABLE
BUCKET_FORMAT = "%Y-%m-%d %H:%M:%S"


class Dimension(enum.StrEnum):
    """What usage can be grouped or filtered by."""

    TEAM = "team"
    PRINCIPAL = "principal"
    KEY = "key"
    MODEL = "model"
    PROVIDER = "provider"
    TASK_TYPE = "task_type"
    SCENARIO = "scenario"

    @property
    def column_name(self) -> str:
        """The ``usage_records`` column that holds this dimension."""
        return _COLUMNS[self]


_COLUMNS = {
    Dimension.TEAM: "team_id",
    Dimension.PRINCIPAL: "principal_id",
    Dimension.KEY: "key_id",
    Dimension.MODEL: "model",
    Dimension.PROVIDER: "provider",
    Dimension.TASK_TYPE: "task_type",
    Dimension.SCENARIO: "scenario",
}


class Granularity(enum.StrEnum):
    """How finely a report cuts time; weeks start on Monday, all in UTC."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


Filters = Mapping[Dimension, str | Sequence[str]]

# strftime patterns and modifiers that give a bucket's start on SQLite.
_SQLITE_BUCKETS: dict[Granularity, tuple[str, tuple[str, ...]]] = {
    Granularity.HOUR: ("%Y-%m-%d %H:00:00", ()),
    Granularity.DAY: ("%Y-%m-%d 00:00:00", ()),
    Granularity.WEEK: ("%Y-%m-%d 00:00:00", ("weekday 0", "-6 days")),
    Granularity.MONTH: ("%Y-%m-01 00:00:00", ()),
}


def dimension_column(dimension: Dimension) -> ColumnClause[Any]:
    """The usage column of a dimension."""
    column: ColumnClause[Any] = USAGE.c[dimension.column_name]
    return column


def time_bucket(dialect: str, granularity: Granularity) -> ColumnElement[str]:
    """The start of each record's time bucket, as UTC text.

    Constants are inlined rather than bound, so that PostgreSQL sees the
    selected expression and the grouped one as the same.

    Raises:
        ValueError: the database is neither SQLite nor PostgreSQL.
    """
    created = USAGE.c.created_at
    if dialect == "postgresql":
        unit: ColumnClause[str] = literal_column(f"'{granularity.value}'")
        in_utc = func.timezone(literal_column("'UTC'"), created)
        text_form: ColumnClause[str] = literal_column("'YYYY-MM-DD HH24:MI:SS'")
        bucket: ColumnElement[str] = func.to_char(
            func.date_trunc(unit, in_utc), text_form
        )
        return bucket
    if dialect == "sqlite":
        pattern, modifiers = _SQLITE_BUCKETS[granularity]
        arguments: list[ColumnClause[str]] = [
            literal_column(f"'{m}'") for m in modifiers
        ]
        # Whole seconds only: SQLite's date arithmetic rounds 23:59:59.9995
        # up to the next day.
        seconds = func.substr(created, 1, 19)
        bucket = func.strftime(literal_column(f"'{pattern}'"), seconds, *arguments)
        return bucket
    raise ValueError(f"usage reports do not support {dialect}")


def parse_bucket(text: str) -> datetime:
    """The UTC start of a bucket from its text form."""
    return datetime.strptime(text, BUCKET_FORMAT).replace(tzinfo=UTC)


def checked_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``start`` and ``end`` in UTC (naive means UTC), refused if empty.

    Raises:
        InvalidArgument: ``end`` is not after ``start``.
    """
    start, end = as_utc(start).astimezone(UTC), as_utc(end).astimezone(UTC)
    if end <= start:
        raise InvalidArgument.for_field("end", "must be after start")
    return start, end


def in_scope(
    org_id: str,
    start: datetime,
    end: datetime,
    filters: Filters | None = None,
) -> ColumnElement[bool]:
    """One org's records in ``[start, end)`` that match every filter.

    A filter's value is one value or a list of accepted values.

    Raises:
        InvalidArgument: the range is empty or a filter lists no value.
    """
    start, end = checked_range(start, end)
    # Both bounds are UTC: SQLite compares the stored UTC text with them.
    created = USAGE.c.created_at
    clauses: list[ColumnElement[bool]] = [
        USAGE.c.org_id == org_id,
        created >= start,
        created < end,
    ]
    for dimension, wanted in (filters or {}).items():
        column = dimension_column(Dimension(dimension))
        if isinstance(wanted, str):
            clauses.append(column == wanted)
        elif wanted:
            clauses.append(column.in_(list(wanted)))
        else:
            raise InvalidArgument.for_field(f"filter.{dimension}", "lists no value")
    return and_(*clauses)
