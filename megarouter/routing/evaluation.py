"""How good is a router: quality-cost curves and the figures derived from them.

Everything here works on matrices: ``predicted`` (prompts x models) holds the
router's predicted quality, ``estimated`` the cost it expects, and ``scores``
and ``costs`` what each model really got and cost. The balanced strategy
picks, per prompt, the model maximising ``predicted - wtp * estimated`` for a
willingness to pay ``wtp`` (quality points per dollar); sweeping ``wtp``
traces the router's quality-cost curve. Mixing two routing policies at random
reaches every point on the segment between them, so the curve we report is
the upper envelope of the swept points, interpolated linearly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import NDArray

WTP_GRID: NDArray[np.float64] = np.concatenate(
    [[0.0], np.geomspace(1e-1, 1e7, 121), [np.inf]]
)
POOL_TARGET = 0.95


@dataclass(frozen=True)
class CurvePoint:
    """One operating point: mean quality for a total cost, in US dollars."""

    cost: float
    quality: float
    wtp: float = float("nan")


@dataclass(frozen=True)
class PoolResult:
    """A two-model pool: how many calls must go to the stronger model.

    Attributes:
        strong: the model with the higher mean score.
        weak: the other model.
        strong_quality: the strong model's mean score alone.
        weak_quality: the weak model's mean score alone.
        target: the quality to reach (95 % of the strong model's).
        router_share: share of calls the router sends to the strong model to
            reach the target (1.0 when it only gets there with every call).
        random_share: the same share for routing at random (chance).
    """

    strong: str
    weak: str
    strong_quality: float
    weak_quality: float
    target: float
    router_share: float
    random_share: float


@dataclass(frozen=True)
class RouterReport:
    """Every figure of one evaluation.

    Attributes:
        models: the pool, in column order.
        prompts: how many prompts were routed.
        curve: the router's quality-cost frontier, cheapest first.
        single: each model's (cost, quality) when it answers everything.
        best_model: the single model with the highest quality.
        share_to_match_best: the router's cost to match ``best_model``'s
            quality, as a share of that model's cost; None if never matched.
        quality_at_cost: the best router quality at each single model's cost
            (None where the router cannot spend that little).
        aiq: mean router quality over the cost range the models span,
            on a log-cost axis.
        pool: the two-model result when the pool has two models.
    """

    models: list[str]
    prompts: int
    curve: list[CurvePoint]
    single: dict[str, CurvePoint]
    best_model: str
    share_to_match_best: float | None
    quality_at_cost: dict[str, float | None]
    aiq: float
    pool: PoolResult | None = None
    extra: dict[str, object] = field(default_factory=dict)


def route_balanced(
    predicted: NDArray[np.float64], estimated: NDArray[np.float64], wtp: float
) -> NDArray[np.int64]:
    """Per prompt, the column that maximises quality minus wtp times cost."""
    if np.isinf(wtp):
        utility = -estimated + 1e-9 * predicted  # cheapest, quality breaks ties
    else:
        utility = predicted - wtp * estimated
    return np.asarray(np.argmax(utility, axis=1), dtype=np.int64)


def sweep(
    predicted: NDArray[np.float64],
    estimated: NDArray[np.float64],
    scores: NDArray[np.float64],
    costs: NDArray[np.float64],
    grid: Sequence[float] = tuple(WTP_GRID),
) -> list[CurvePoint]:
    """The realised (cost, quality) of the balanced strategy at each wtp."""
    rows = np.arange(len(scores))
    points = []
    for wtp in grid:
        choice = route_balanced(predicted, estimated, wtp)
        points.append(
            CurvePoint(
                cost=float(costs[rows, choice].sum()),
                quality=float(scores[rows, choice].mean()),
                wtp=float(wtp),
            )
        )
    return points


def frontier(points: Sequence[CurvePoint]) -> list[CurvePoint]:
    """The upper-left envelope: cheapest first, quality strictly rising."""
    ordered = sorted(points, key=lambda p: (p.cost, -p.quality))
    hull: list[CurvePoint] = []
    for point in ordered:
        if hull and point.quality <= hull[-1].quality:
            continue
        # Drop points under the segment from the previous one to this one.
        while len(hull) >= 2 and _below(hull[-2], hull[-1], point):
            hull.pop()
        hull.append(point)
    return hull


def _below(a: CurvePoint, b: CurvePoint, c: CurvePoint) -> bool:
    """True when b lies on or under the segment from a to c."""
    if c.cost == a.cost:
        return True
    t = (b.cost - a.cost) / (c.cost - a.cost)
    return b.quality <= a.quality + t * (c.quality - a.quality)


def quality_at(curve: Sequence[CurvePoint], cost: float) -> float | None:
    """The best quality the curve reaches spending at most ``cost``."""
    if not curve or cost < curve[0].cost:
        return None
    costs = np.array([p.cost for p in curve])
    qualities = np.array([p.quality for p in curve])
    return float(np.interp(cost, costs, qualities))


def cost_for(curve: Sequence[CurvePoint], quality: float) -> float | None:
    """The least cost at which the curve reaches ``quality``."""
    if not curve or curve[-1].quality < quality:
        return None
    if curve[0].quality >= quality:
        return curve[0].cost
    qualities = np.array([p.quality for p in curve])
    costs = np.array([p.cost for p in curve])
    return float(np.interp(quality, qualities, costs))


def area_under(curve: Sequence[CurvePoint], low: float, high: float) -> float:
    """Mean curve quality over [low, high] on a log-cost axis."""
    grid = np.geomspace(max(low, 1e-12), max(high, low * 1.0001), 200)
    values = [quality_at(curve, c) or 0.0 for c in grid]
    return float(np.mean(values))


def pool_result(
    models: Sequence[str],
    predicted: NDArray[np.float64],
    scores: NDArray[np.float64],
    target: float = POOL_TARGET,
) -> PoolResult:
    """The share of calls to the stronger of two models needed for ``target``.

    Prompts are sent to the strong model in order of the router's predicted
    gain from doing so; the share is the smallest that reaches ``target``
    times the strong model's quality.
    """
    means = scores.mean(axis=0)
    s, w = (0, 1) if means[0] >= means[1] else (1, 0)
    goal = target * means[s]

    order = np.argsort(-(predicted[:, s] - predicted[:, w]), kind="stable")
    gain = (scores[order, s] - scores[order, w]).cumsum()
    quality = (scores[:, w].sum() + np.concatenate([[0.0], gain])) / len(scores)
    reached = np.nonzero(quality >= goal - 1e-12)[0]
    router_share = float(reached[0] / len(scores)) if len(reached) else 1.0

    spread = means[s] - means[w]
    random_share = (
        0.0 if spread <= 0 else float(np.clip((goal - means[w]) / spread, 0, 1))
    )
    return PoolResult(
        strong=models[s],
        weak=models[w],
        strong_quality=float(means[s]),
        weak_quality=float(means[w]),
        target=float(goal),
        router_share=router_share,
        random_share=random_share,
    )


def report(
    models: Sequence[str],
    predicted: NDArray[np.float64],
    estimated: NDArray[np.float64],
    scores: NDArray[np.float64],
    costs: NDArray[np.float64],
) -> RouterReport:
    """Every figure for one set of routed prompts."""
    single = {
        m: CurvePoint(cost=float(costs[:, j].sum()), quality=float(scores[:, j].mean()))
        for j, m in enumerate(models)
    }
    best = max(models, key=lambda m: (single[m].quality, -single[m].cost))
    curve = frontier(sweep(predicted, estimated, scores, costs))
    matched = cost_for(curve, single[best].quality)
    low = min(p.cost for p in single.values())
    high = max(p.cost for p in single.values())
    return RouterReport(
        models=list(models),
        prompts=len(scores),
        curve=curve,
        single=single,
        best_model=best,
        share_to_match_best=None if matched is None else matched / single[best].cost,
        quality_at_cost={m: quality_at(curve, p.cost) for m, p in single.items()},
        aiq=area_under(curve, low, high),
        pool=pool_result(models, predicted, scores) if len(models) == 2 else None,
    )


def report_to_dict(result: RouterReport) -> dict[str, object]:
    """The report as JSON-safe plain values (infinite wtp becomes None)."""

    def point(p: CurvePoint) -> dict[str, float | None]:
        wtp = None if not np.isfinite(p.wtp) else p.wtp
        return {"cost": p.cost, "quality": p.quality, "wtp": wtp}

    return {
        "models": result.models,
        "prompts": result.prompts,
        "best_model": result.best_model,
        "share_to_match_best": result.share_to_match_best,
        "quality_at_cost": result.quality_at_cost,
        "aiq": result.aiq,
        "single": {m: point(p) for m, p in result.single.items()},
        "curve": [point(p) for p in result.curve],
        "pool": None if result.pool is None else asdict(result.pool),
        **result.extra,
    }
