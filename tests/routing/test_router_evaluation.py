"""Quality-cost curves and the figures derived from them."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from megarouter.routing.crossval import (
    evaluate_predictions,
    out_of_fold,
    prior_only,
    stratified_folds,
)
from megarouter.routing.evaluation import (
    CurvePoint,
    RouterReport,
    frontier,
    pool_result,
    report_to_dict,
)
from megarouter.routing.outcomes import load_outcomes
from megarouter.routing.quality import QualityFitParams

TRAIN_CSV = (
    Path(__file__).resolve().parents[3] / "shared/data/routing/routerbench_train.csv"
)
POOL = ["gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"]


@pytest.fixture(scope="module")
def cross_validated() -> tuple[RouterReport, RouterReport]:
    data = load_outcomes(TRAIN_CSV, sample=600)
    fold = stratified_folds(data.sources, 3, seed=0)
    oof = out_of_fold(data, fold, QualityFitParams(max_iter=40))
    baseline = prior_only(data, fold)
    full = evaluate_predictions(data, oof.predicted, oof.estimated, baseline)
    pool = evaluate_predictions(data, oof.predicted, oof.estimated, baseline, POOL)
    return full, pool


def test_curve_rises_in_quality_as_cost_rises(
    cross_validated: tuple[RouterReport, RouterReport],
) -> None:
    full, _ = cross_validated
    costs = [p.cost for p in full.curve]
    qualities = [p.quality for p in full.curve]
    assert len(full.curve) >= 3
    assert costs == sorted(costs) and len(set(costs)) == len(costs)
    assert all(b > a for a, b in itertools.pairwise(qualities))


def test_cost_shares_lie_between_zero_and_one(
    cross_validated: tuple[RouterReport, RouterReport],
) -> None:
    full, pool = cross_validated
    assert full.best_model == "gpt-4-1106-preview"
    if full.share_to_match_best is not None:
        assert 0.0 <= full.share_to_match_best <= 1.0
    assert pool.pool is not None
    assert 0.0 <= pool.pool.router_share <= 1.0
    assert 0.0 <= pool.pool.random_share <= 1.0


def test_router_reaches_at_least_each_single_models_quality_at_its_cost(
    cross_validated: tuple[RouterReport, RouterReport],
) -> None:
    full, _ = cross_validated
    cheapest = min(full.single.values(), key=lambda p: p.cost)
    for model, point in full.single.items():
        reached = full.quality_at_cost[model]
        if point.cost >= full.curve[0].cost:
            assert reached is not None
        if reached is not None and point is not cheapest:
            # Always picking the best single model is one of the swept policies'
            # neighbours, so the router should not fall far below it.
            assert reached >= point.quality - 0.05


def test_router_sends_fewer_calls_to_the_strong_model_than_chance(
    cross_validated: tuple[RouterReport, RouterReport],
) -> None:
    _, pool = cross_validated
    assert pool.pool is not None
    assert pool.pool.router_share < pool.pool.random_share


def test_report_serialises_to_plain_values(
    cross_validated: tuple[RouterReport, RouterReport],
) -> None:
    full, _ = cross_validated
    document = report_to_dict(full)
    assert document["best_model"] == "gpt-4-1106-preview"
    assert all(isinstance(p["cost"], float) for p in document["curve"])  # type: ignore[union-attr]
    assert "baseline" in document


def test_frontier_drops_dominated_points_and_keeps_the_envelope() -> None:
    points = [
        CurvePoint(1.0, 0.5),
        CurvePoint(2.0, 0.55),  # under the segment from (1, .5) to (3, .7)
        CurvePoint(3.0, 0.7),
        CurvePoint(4.0, 0.65),  # dearer and worse
    ]
    assert [(p.cost, p.quality) for p in frontier(points)] == [(1.0, 0.5), (3.0, 0.7)]


def test_pool_with_a_perfect_predictor_needs_only_the_calls_the_weak_model_fails() -> (
    None
):
    scores = np.array([[1, 0], [1, 1], [1, 1], [1, 1]], dtype=float)
    result = pool_result(["strong", "weak"], scores, scores)
    assert result.strong == "strong"
    assert result.router_share == pytest.approx(0.25)
    assert result.random_share == pytest.approx(0.8)
