"""Medians over rounds, the side-by-side table and the ratios."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated, of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Measures:
    """Every round's figures, by system and measure name."""

    rounds: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )

    def add(self, system: str, measure: str, value: float) -> None:
        self.rounds[system][measure].append(value)

    def median(self, system: str, measure: str) -> float | None:
        values = self.rounds.get(system, {}).get(measure)
        return statistics.median(values) if values else None

    def spread(self, system: str, measure: str) -> str:
        values = self.rounds.get(system, {}).get(measure)
        if not values or len(values) < 2:
            return ""
        return f"{min(values):.4g}..{max(values):.4g}"


def cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(
    measures: Measures,
    systems: list[str],
    rows: list[tuple[str, str, int]],
    label_width: int = 30,
) -> list[str]:
    """Rows of medians, one column per system."""
    width = max(12, *(len(s) + 2 for s in systems))
    lines = ["".ljust(label_width) + "".join(s.rjust(width) for s in systems)]
    for label, measure, digits in rows:
        cells = [cell(measures.median(s, measure), digits) for s in systems]
        lines.append(label.ljust(label_width) + "".join(c.rjust(width) for c in cells))
    return lines


def ratio(numerator: float | None, denominator: float | None, digits: int = 1) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.{digits}f}x"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")
