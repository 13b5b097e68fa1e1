"""Provider health as catalog rows, mapped again only when health changes.

Each decision needs the catalog rows health holds back and the latency
observed for each row. Asking a board for them walks every circuit it knows,
and mapping the answers onto rows walks them again. A board that counts its
changes (``routability_epoch`` and ``latency_epoch``, as
:class:`~megarouter.providers.health.HealthBoard` does) lets
:class:`HealthReader` do both once per change instead of once per decision;
any other board is read afresh every time.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from megarouter.routing.catalog_view import RoutableCatalog


class HealthView(Protocol):
    """Live provider health, as the router reads it."""

    def unroutable(self) -> list[tuple[str, str]]:
        """(provider, model) pairs failing or cooling down right now."""
        ...

    def observed_latencies(self) -> dict[tuple[str, str], float]:
        """Average latency of every (provider, model) observed so far."""
        ...


@dataclass(frozen=True, slots=True)
class HealthRows:
    """What health says about one catalog's rows at one moment.

    Attributes:
        unhealthy: rows health holds back, ascending.
        seen: per row, whether a latency was observed (None: for none).
        latency: per row, the observed latency average where ``seen``.
    """

    unhealthy: tuple[int, ...]
    seen: NDArray[np.bool_] | None
    latency: NDArray[np.float64] | None

    def latencies(self, rows: NDArray[np.intp], default: float) -> NDArray[np.float64]:
        """Observed latency of each of ``rows``; ``default`` where unseen."""
        if self.seen is None or self.latency is None:
            return np.full(len(rows), default)
        return np.where(self.seen[rows], self.latency[rows], default)


@dataclass(frozen=True, slots=True)
class _Entry:
    health: HealthView
    epochs: tuple[int, int]
    rows: HealthRows


class HealthReader:
    """Reads health as rows of a catalog, reusing them while nothing changed."""

    def __init__(self) -> None:
        self._memo: weakref.WeakKeyDictionary[RoutableCatalog, _Entry] = (
            weakref.WeakKeyDictionary()
        )

    def read(self, catalog: RoutableCatalog, health: HealthView) -> HealthRows:
        epochs = _epochs(health)
        if epochs is None:
            return _health_rows(catalog, health)
        entry = self._memo.get(catalog)
        if entry is None or entry.health is not health:
            rows = _health_rows(catalog, health)
        elif entry.epochs == epochs:
            return entry.rows
        else:
            old = entry.rows
            unhealthy = old.unhealthy
            if entry.epochs[0] != epochs[0]:
                unhealthy = _unhealthy(catalog, health)
            seen, latency = old.seen, old.latency
            if entry.epochs[1] != epochs[1]:
                seen, latency = _latency(catalog, health)
            rows = HealthRows(unhealthy, seen, latency)
        self._memo[catalog] = _Entry(health, epochs, rows)
        return rows


def _epochs(health: HealthView) -> tuple[int, int] | None:
    """The board's change counters, when it keeps them."""
    routability: Callable[[], int] | None = getattr(health, "routability_epoch", None)
    latency: Callable[[], int] | None = getattr(health, "latency_epoch", None)
    if routability is None or latency is None:
        return None
    return routability(), latency()


def _health_rows(catalog: RoutableCatalog, health: HealthView) -> HealthRows:
    return HealthRows(_unhealthy(catalog, health), *_latency(catalog, health))


def _unhealthy(catalog: RoutableCatalog, health: HealthView) -> tuple[int, ...]:
    row_of = catalog.row_of
    return tuple(sorted({row_of[k] for k in health.unroutable() if k in row_of}))


def _latency(
    catalog: RoutableCatalog, health: HealthView
) -> tuple[NDArray[np.bool_] | None, NDArray[np.float64] | None]:
    row_of = catalog.row_of
    found = [
        (row, value)
        for key, value in health.observed_latencies().items()
        if (row := row_of.get(key)) is not None
    ]
    if not found:
        return None, None
    seen = np.zeros(len(catalog), dtype=bool)
    latency = np.zeros(len(catalog))
    for row, value in found:
        seen[row] = True
        latency[row] = value
    seen.flags.writeable = False
    latency.flags.writeable = False
    return seen, latency
