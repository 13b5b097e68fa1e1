"""Waste: calls a cheaper allowed model was expected to answer as well.

The waste report asks an :class:`EquivalentModelFinder`, for each task type
and model seen in the ledger, which cheaper model would have done as well.
The server wires one to the router's quality predictor and the org's allowed
models; :class:`PremiumForSimpleTasks` is a stand-in that needs only a price
list: simple tasks (classification, extraction) run on a premium model could
have run on the cheapest listed model instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from megarouter.catalog.prices import CatalogModel
from megarouter.governance.analytics_output import (
    Cell,
    Column,
    ColumnKind,
    ReportTable,
)
from megarouter.providers.spec import ModelMode, Price

SIMPLE_TASKS = frozenset({"classification", "extraction"})
PREMIUM_INPUT_MICROS_PER_MTOK = 1_000_000  # above $1 per million input tokens


class Alternative(NamedTuple):
    """A cheaper model expected to do as well, and its price."""

    model: str
    price: Price


class EquivalentModelFinder(Protocol):
    """Names the cheapest allowed model expected to do a task as well."""

    def __call__(self, task_type: str, model: str) -> Alternative | None:
        """The cheaper equivalent of ``model`` for ``task_type``, if any.

        Args:
            task_type: the task type the router saw ("" if unknown).
            model: the model that answered, ``provider/model``.

        Returns:
            The alternative and its price, or None when no cheaper allowed
            model is expected to do as well.
        """
        ...


@dataclass(frozen=True, slots=True)
class PremiumForSimpleTasks:
    """Flags simple tasks run on premium models, without a quality predictor.

    Args:
        prices: the prices of the models the org allows, by global id. A
            model missing here is never judged: its price is unknown.
        simple_tasks: task types that any listed model is taken to handle.
        premium_above: input micro-dollars per million tokens above which a
            model counts as premium.
    """

    prices: Mapping[str, Price]
    simple_tasks: frozenset[str] = SIMPLE_TASKS
    premium_above: int = PREMIUM_INPUT_MICROS_PER_MTOK

    @classmethod
    def from_catalog(
        cls,
        models: Iterable[CatalogModel],
        *,
        simple_tasks: frozenset[str] = SIMPLE_TASKS,
        premium_above: int = PREMIUM_INPUT_MICROS_PER_MTOK,
    ) -> PremiumForSimpleTasks:
        """The rule over the priced chat models among ``models``.

        Args:
            models: the models the org allows, such as those of
                ``PriceTable.models()`` that its settings enable.
            simple_tasks: task types that any listed model is taken to handle.
            premium_above: input micro-dollars per million tokens above which
                a model counts as premium.

        Returns:
            The rule; unpriced and embedding models are left out.
        """
        prices = {
            model.global_id: model.price
            for model in models
            if model.price is not None and model.spec.mode is ModelMode.CHAT
        }
        return cls(prices, simple_tasks=simple_tasks, premium_above=premium_above)

    def __call__(self, task_type: str, model: str) -> Alternative | None:
        """The cheapest listed model if ``model`` is premium for a simple task."""
        price = self.prices.get(model)
        if task_type not in self.simple_tasks or price is None:
            return None
        if price.input_per_mtok <= self.premium_above:
            return None
        cheaper = [
            Alternative(name, other)
            for name, other in self.prices.items()
            if name != model and _undercuts(other, price)
        ]
        if not cheaper:
            return None
        return min(cheaper, key=lambda a: (_list_total(a.price), a.model))


def _undercuts(candidate: Price, price: Price) -> bool:
    """No dearer on either side, and cheaper on at least one."""
    return (
        candidate.input_per_mtok <= price.input_per_mtok
        and candidate.output_per_mtok <= price.output_per_mtok
        and candidate != price
    )


def _list_total(price: Price) -> int:
    return price.input_per_mtok + price.output_per_mtok


@dataclass(frozen=True, slots=True)
class WasteLine:
    """Successful calls of one task type on one model that could cost less.

    Attributes:
        task_type, model: the group.
        group: the group's value of any further dimension, by name.
        calls: the group's successful calls.
        input_tokens, output_tokens: their tokens.
        cost_micros: what they cost.
        alternative: the cheaper model expected to do as well.
        alternative_cost_micros: their tokens at the alternative's price.
        saving_micros: cost less the alternative's cost (always positive).
    """

    task_type: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    alternative: str
    alternative_cost_micros: int
    saving_micros: int
    group: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WasteReport:
    """Where usage was wasted, the biggest saving first.

    Attributes:
        total_cost_micros: the cost of every successful call in scope, so
            that the saving reads as a share of the spend.
    """

    org_id: str
    start: datetime
    end: datetime
    group_by: tuple[str, ...]
    total_cost_micros: int
    lines: tuple[WasteLine, ...]

    @property
    def saving_micros(self) -> int:
        return sum(line.saving_micros for line in self.lines)

    @property
    def wasted_calls(self) -> int:
        return sum(line.calls for line in self.lines)

    def table(self) -> ReportTable:
        """The report as a table, one row per wasteful group."""
        columns = (
            *(Column(name, ColumnKind.TEXT) for name in self.group_by),
            Column("task_type", ColumnKind.TEXT),
            Column("model", ColumnKind.TEXT),
            Column("calls", ColumnKind.COUNT),
            Column("cost_micros", ColumnKind.MONEY, "cost"),
            Column("alternative", ColumnKind.TEXT),
            Column("alternative_cost_micros", ColumnKind.MONEY, "would cost"),
            Column("saving_micros", ColumnKind.MONEY, "saving"),
        )
        rows: tuple[tuple[Cell, ...], ...] = tuple(
            (
                *(line.group[name] for name in self.group_by),
                line.task_type,
                line.model,
                line.calls,
                line.cost_micros,
                line.alternative,
                line.alternative_cost_micros,
                line.saving_micros,
            )
            for line in self.lines
        )
        title = f"Waste in {self.org_id}: {format_share(self)} of spend could be saved"
        return ReportTable(title, columns, rows)


def format_share(report: WasteReport) -> str:
    """The saving as a percentage of the spend, for titles."""
    if report.total_cost_micros <= 0:
        return "0.0%"
    return f"{report.saving_micros / report.total_cost_micros:.1%}"


def most_saving_first(lines: Iterable[WasteLine]) -> tuple[WasteLine, ...]:
    """Lines ordered by saving, then by task type and model for stability."""
    return tuple(sorted(lines, key=lambda x: (-x.saving_micros, x.task_type, x.model)))
