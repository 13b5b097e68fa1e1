"""Router.decide(): candidates = catalog ∩ allowed ∩ capable ∩ healthy ∩
affordable, each scored on predicted quality, estimated cost and latency, then
ranked by the caller's policy.

The same decision serves RouteService (explain without calling) and
CompletionService (try the candidates in order), so what Route says is what
Complete does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from megarouter.errors import InvalidArgument
from megarouter.providers.spec import ModelMode
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.decision import (
    AUTO,
    Candidate,
    DropGroup,
    DropReason,
    RouteDecision,
    RouteRequest,
    Strategy,
)
from megarouter.routing.filters import Filtered, FilterMemo
from megarouter.routing.health_rows import HealthReader, HealthView

# Expected answer length by task type when the caller sets no max_tokens:
# what the cost and latency estimates assume.
EXPECTED_OUTPUT_TOKENS = {
    "chat": 300,
    "classification": 10,
    "extraction": 150,
    "summarization": 250,
    "translation": 0,  # about as long as the input
    "retrieval_qa": 200,
    "coding": 500,
    "math_reasoning": 400,
    "creative_writing": 600,
}
DEFAULT_OUTPUT_TOKENS = 300
EMBEDDING_TASK = "embedding"
MAX_RANKED = 25  # candidates returned; a call never needs more


class QualityModel(Protocol):
    """Predicts each candidate's quality (0 to 1) for one prompt."""

    name: str

    def predict(
        self,
        prompt: str,
        task: str,
        org_id: str,
        rows: NDArray[np.intp],
        catalog: RoutableCatalog,
    ) -> NDArray[np.float64]: ...


class PriorQuality:
    """Quality from catalog facts alone (see ``catalog_view.prior_quality``)."""

    name = "catalog prior"

    def predict(
        self,
        prompt: str,
        task: str,
        org_id: str,
        rows: NDArray[np.intp],
        catalog: RoutableCatalog,
    ) -> NDArray[np.float64]:
        return np.asarray(catalog.prior[rows])


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What the router needs to know about this caller and this moment.

    Attributes:
        catalog: the org's routable models.
        health: live provider health.
        budget_left_micros: the smallest remaining amount of any budget that
            covers the caller, or None when no budget applies.
        org_id: the caller's org (feedback adjustments are per org).
        budget_name: the budget that leaves ``budget_left_micros``.
    """

    catalog: RoutableCatalog
    health: HealthView
    budget_left_micros: int | None = None
    org_id: str = ""
    budget_name: str = ""


class Router:
    """Decides which models serve a request, and in which order.

    A router remembers, per catalog, what its filters and the health board
    said (see :mod:`megarouter.routing.filters` and
    :mod:`megarouter.routing.health_rows`), so keep one for the process and
    call it from one thread, as the event loop does.

    Args:
        quality: the quality model; the catalog prior until a learned one is
            given.
        classify: prompt -> task type; "chat" for everything when None.
    """

    def __init__(
        self,
        quality: QualityModel | None = None,
        classify: Callable[[str], str] | None = None,
    ) -> None:
        self.quality = quality or PriorQuality()
        self._classify = classify
        self._filters = FilterMemo()
        self._health = HealthReader()

    def decide(self, request: RouteRequest, context: RouteContext) -> RouteDecision:
        """Rank the candidates for ``request``.

        Raises:
            NotFound: an explicit model name matches nothing in the catalog.
        """
        catalog, needs, policy = context.catalog, request.requirements, request.policy
        task = self._task_type(request)
        health = self._health.read(catalog, context.health)
        filtered = self._filters.filter(request, catalog, health.unhealthy)
        rows, dropped = filtered.rows, list(filtered.dropped)

        output_tokens = self._expected_output(task, request)
        costs = _estimate_costs(filtered, needs.input_tokens, output_tokens)
        if request.model == AUTO:
            quality = self.quality.predict(
                request.prompt, task, context.org_id, rows, catalog
            )
        else:
            # A named model's providers serve the same model: the prior is
            # enough to check a quality floor, and the prediction would cost
            # more than the rest of the decision.
            quality = np.asarray(catalog.prior[rows])
        latency = health.latencies(rows, 400.0 + 15.0 * output_tokens)
        limits = [
            (
                DropReason.BELOW_QUALITY_FLOOR,
                policy.min_quality,
                quality,
                "<",
                "quality",
            ),
            (DropReason.ABOVE_COST_CAP, policy.max_cost_micros, costs, ">", "cost"),
            (DropReason.ABOVE_LATENCY_CAP, policy.max_latency_ms, latency, ">", "ms"),
            (
                DropReason.OVER_BUDGET,
                context.budget_left_micros,
                costs,
                ">",
                f"cost (budget {context.budget_name or 'left'})",
            ),
        ]
        keep: NDArray[np.bool_] | None = None
        for reason, limit, values, op, unit in limits:
            if limit is None:
                continue
            bad = values < limit if op == "<" else values > limit
            hit = np.flatnonzero(bad if keep is None else bad & keep)
            if len(hit):
                dropped.append(
                    _limit_group(
                        reason, catalog, rows[hit], values[hit], unit, op, limit
                    )
                )
            keep = ~bad if keep is None else keep & ~bad
        if keep is not None:
            rows, costs, quality, latency = (
                rows[keep],
                costs[keep],
                quality[keep],
                latency[keep],
            )

        # A named model is served by whichever provider offers it cheapest.
        strategy = policy.strategy if request.model == AUTO else Strategy.COST_FIRST
        scores = _score(strategy, quality, costs, latency, policy.willingness_to_pay)
        order = _top(scores, MAX_RANKED)
        models = catalog.models
        candidates = Candidate.many(
            zip(
                [models[r] for r in rows[order].tolist()],
                quality[order].tolist(),
                [int(c) for c in costs[order].tolist()],
                latency[order].tolist(),
                scores[order].tolist(),
                strict=True,
            )
        )
        considered = filtered.considered
        return RouteDecision(
            task_type=task,
            strategy=strategy,
            candidates=candidates,
            drop_groups=tuple(dropped),
            considered=considered,
            reason=_reason(request, candidates, strategy, task, considered),
            max_attempts=policy.max_attempts,
            policy=policy.name,
            limiting_budget=context.budget_name,
        )

    def _task_type(self, request: RouteRequest) -> str:
        if request.requirements.mode is ModelMode.EMBEDDING:
            return EMBEDDING_TASK
        if request.task_type:
            if request.task_type not in EXPECTED_OUTPUT_TOKENS:
                known = ", ".join(EXPECTED_OUTPUT_TOKENS)
                raise InvalidArgument.for_field(
                    "routing.task_type", f"unknown task type; known: {known}"
                )
            return request.task_type
        if self._classify is None or not request.prompt:
            return "chat"
        return self._classify(request.prompt)

    @staticmethod
    def _expected_output(task: str, request: RouteRequest) -> int:
        needs = request.requirements
        if task == EMBEDDING_TASK:
            return 0
        guess = EXPECTED_OUTPUT_TOKENS.get(task, DEFAULT_OUTPUT_TOKENS)
        if guess == 0:
            guess = max(needs.input_tokens, 50)
        if needs.max_output_tokens is not None:
            return min(guess, needs.max_output_tokens)
        return guess


def _limit_group(
    reason: DropReason,
    catalog: RoutableCatalog,
    rows: NDArray[np.intp],
    values: NDArray[np.float64],
    unit: str,
    op: str,
    limit: float,
) -> DropGroup:
    """Models over a cap or under a floor, each with the figure that failed."""
    ids = catalog.ids

    def models() -> list[str]:
        return [ids[r] for r in rows]

    def details() -> list[str]:
        if unit.startswith("cost"):  # micro-dollars, shown as dollars
            return [f"{unit} {_usd(value)} {op} {_usd(limit)}" for value in values]
        return [f"{unit} {value:.4g} {op} {limit}" for value in values]

    return DropGroup(reason, models, details, len(rows))


def _usd(micros: float) -> str:
    """Micro-dollars as dollars, to the micro-dollar: 182 -> $0.000182."""
    return f"${micros / 1e6:,.6f}"


def _top(scores: NDArray[np.float64], count: int) -> NDArray[np.intp]:
    """Indices of the ``count`` best scores, best first, ties in order."""
    if len(scores) > count:
        best = np.argpartition(-scores, count - 1)[:count]
        best.sort()  # keep catalog order among equal scores
        return np.asarray(best[np.argsort(-scores[best], kind="stable")])
    return np.asarray(np.argsort(-scores, kind="stable"))


def _estimate_costs(
    filtered: Filtered, input_tokens: int, output_tokens: int
) -> NDArray[np.float64]:
    """Each survivor's list-price cost of the call, in whole micro-dollars."""
    total = filtered.in_price * input_tokens
    total += filtered.out_price * output_tokens
    total /= 1_000_000
    return np.ceil(total, out=total)


def _score(
    strategy: Strategy,
    quality: NDArray[np.float64],
    costs: NDArray[np.float64],
    latency: NDArray[np.float64],
    willingness_to_pay: float,
) -> NDArray[np.float64]:
    """Higher is better; ties keep catalog order (stable sort)."""
    if strategy is Strategy.COST_FIRST:
        return -costs + quality * 1e-9  # cheapest; quality breaks ties
    if strategy is Strategy.QUALITY_FIRST:
        return quality - costs * 1e-12  # best; price breaks ties
    if strategy is Strategy.LATENCY_FIRST:
        return -latency + quality * 1e-6
    return np.asarray(quality - costs / max(willingness_to_pay, 1e-9))


def _reason(
    request: RouteRequest,
    candidates: tuple[Candidate, ...],
    strategy: Strategy,
    task: str,
    considered: int,
) -> str:
    if not candidates:
        return f"no model of {considered} considered fits the request"
    best = candidates[0]
    if request.model != AUTO:
        return f"{best.global_id}: requested ({len(candidates)} ready, cheapest first)"
    return (
        f"{best.global_id}: best {strategy.value} choice for {task} among "
        f"{len(candidates)} of {considered} models (quality {best.quality:.2f}, "
        f"est. {_usd(best.cost_micros)})"
    )
