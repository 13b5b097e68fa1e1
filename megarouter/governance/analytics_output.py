"""Reports as tables a person reads: rich tables, CSV and JSON.

Every report turns itself into a :class:`ReportTable`: typed columns and
rows of plain values. The renderers here know only that shape. Money stays
integer micro-dollars in CSV and JSON (exact, and what the API returns);
only the rich table shows it as dollars.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.table import Table

from megarouter.providers.spec import MICROS_PER_USD

Cell = str | int | float | datetime | None


class ColumnKind(enum.StrEnum):
    """What a column holds, which decides how it is shown."""

    TEXT = "text"
    COUNT = "count"  # a whole number of calls, tokens, people
    MONEY = "money"  # integer micro-dollars
    RATIO = "ratio"  # a fraction of one, shown as a percentage
    NUMBER = "number"  # any other measure (a score, milliseconds)
    TIME = "time"  # a UTC datetime


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its machine name, its kind and its human title."""

    name: str
    kind: ColumnKind
    title: str = ""

    @property
    def heading(self) -> str:
        return self.title or self.name.replace("_", " ")


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A report's figures, ready for any renderer.

    Attributes:
        title: what the table answers.
        columns: the columns, in order.
        rows: one tuple of cells per row, aligned with ``columns``.
    """

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def column(self, name: str) -> list[Cell]:
        """Every row's cell in the named column."""
        index = [c.name for c in self.columns].index(name)
        return [row[index] for row in self.rows]


def to_records(table: ReportTable) -> list[dict[str, Any]]:
    """The rows as JSON-able dicts: times in ISO 8601, money in micro-dollars.

    Args:
        table: a report's table.

    Returns:
        One dict per row, keyed by column name.
    """
    names = [c.name for c in table.columns]
    return [dict(zip(names, map(_json_cell, row), strict=True)) for row in table.rows]


def to_json(table: ReportTable) -> dict[str, Any]:
    """The whole table as a JSON-able dict (``title``, ``columns``, ``rows``).

    Args:
        table: a report's table.

    Returns:
        A dict that ``json.dumps`` accepts as is.
    """
    return {
        "title": table.title,
        "columns": [{"name": c.name, "kind": c.kind.value} for c in table.columns],
        "rows": to_records(table),
    }


def to_csv(table: ReportTable) -> str:
    """The table as CSV text with a header row of column names.

    Args:
        table: a report's table.

    Returns:
        CSV text (``\\r\\n`` line ends, as RFC 4180 has them).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if cell is None else _json_cell(cell) for cell in row])
    return buffer.getvalue()


def to_rich(table: ReportTable) -> Table:
    """The table as a rich Table: dollars, percentages, numbers right-aligned.

    Args:
        table: a report's table.

    Returns:
        A ``rich.table.Table`` to print with a rich Console.
    """
    shown = Table(title=table.title)
    for column in table.columns:
        right = column.kind not in (ColumnKind.TEXT, ColumnKind.TIME)
        shown.add_column(column.heading, justify="right" if right else "left")
    for row in table.rows:
        shown.add_row(*_shown_cells(table.columns, row))
    return shown


def format_usd(micros: int) -> str:
    """Micro-dollars as dollars, to the hundredth of a cent: ``$1,234.5678``.

    An amount that is not zero never reads as zero: 20 micro-dollars is
    ``<$0.0001`` (JSON output keeps the exact micro-dollars).
    """
    dollars = (abs(Decimal(micros)) / MICROS_PER_USD).quantize(Decimal("0.0001"))
    sign = "-" if micros < 0 else ""
    if micros and not dollars:
        return f"{sign}<$0.0001"
    return f"{sign}${dollars:,}"


def format_cell(column: Column, cell: Cell) -> str:
    """One cell as a person reads it."""
    if cell is None:
        return "-"
    if column.kind is ColumnKind.MONEY and isinstance(cell, int):
        return format_usd(cell)
    if column.kind is ColumnKind.RATIO and isinstance(cell, float):
        return f"{cell:.1%}"
    if column.kind is ColumnKind.COUNT and isinstance(cell, int):
        return f"{cell:,}"
    if isinstance(cell, float):
        return f"{cell:,.2f}"
    if isinstance(cell, datetime):
        midnight = (cell.hour, cell.minute, cell.second) == (0, 0, 0)
        return cell.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M")
    return str(cell) if cell != "" else "(none)"


def _shown_cells(columns: Sequence[Column], row: Sequence[Cell]) -> list[str]:
    return [format_cell(c, cell) for c, cell in zip(columns, row, strict=True)]


def _json_cell(cell: Cell) -> str | int | float | None:
    if isinstance(cell, datetime):
        return cell.isoformat()
    return cell
