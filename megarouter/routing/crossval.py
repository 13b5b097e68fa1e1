"""Cross-validated evaluation of the quality predictor.

Two honest protocols, both seeded and deterministic:

* **k-fold by prompt**, stratified by source: every prompt is predicted by a
  predictor that never saw it, but saw prompts of the same benchmarks. This
  estimates quality on unseen prompts *of the same sources*.
* **leave one source out**: each benchmark in turn is predicted by a
  predictor fitted on the others only. This estimates how routing carries
  over to prompts from a source the router has never seen (another
  benchmark, real chat traffic), which is what a deployed router meets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from megarouter.routing.costs import fit_costs
from megarouter.routing.evaluation import RouterReport, report
from megarouter.routing.outcomes import OutcomeData
from megarouter.routing.quality import QualityFitParams, fit_quality


class FittedPredictor(Protocol):
    """Anything that predicts a (prompts, models) matrix of probabilities."""

    def predict_matrix(
        self, prompts: Sequence[str], models: Sequence[str]
    ) -> NDArray[np.float64]:
        """Probabilities of a good answer, shape (prompts, models)."""
        ...


Fitter = Callable[[OutcomeData], FittedPredictor]


@dataclass(frozen=True)
class OutOfFold:
    """Predictions made for every prompt by a predictor that never saw it."""

    predicted: NDArray[np.float64]
    estimated: NDArray[np.float64]
    fold: NDArray[np.int64]


def stratified_folds(
    sources: NDArray[np.str_], k: int, seed: int = 0
) -> NDArray[np.int64]:
    """A fold number per prompt, each source spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(sources), dtype=np.int64)
    for source in sorted(set(sources.tolist())):
        rows = np.nonzero(sources == source)[0]
        fold[rng.permutation(rows)] = np.arange(len(rows)) % k
    return fold


def source_folds(sources: NDArray[np.str_]) -> NDArray[np.int64]:
    """One fold per source, numbered in sorted source order."""
    names = sorted(set(sources.tolist()))
    return np.array([names.index(s) for s in sources.tolist()], dtype=np.int64)


def _splits(
    fold: NDArray[np.int64],
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """(train rows, test rows) for each fold."""
    for f in np.unique(fold):
        yield np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]


def out_of_fold(
    data: OutcomeData,
    fold: NDArray[np.int64],
    params: QualityFitParams | None = None,
    on_fold: Callable[[], None] | None = None,
    fitter: Fitter | None = None,
) -> OutOfFold:
    """Fit on all folds but one, predict that one, for every fold.

    ``fitter`` replaces the quality predictor's fit (for comparing against
    another router); ``params`` is ignored then.
    """
    predicted = np.zeros_like(data.scores)
    estimated = np.zeros_like(data.scores)
    for train, test in _splits(fold):
        train_data = data.subset(train)
        predictor: FittedPredictor = (
            fitter(train_data) if fitter else fit_quality(train_data, params)
        )
        cost_model = fit_costs(train_data.prompts, data.models, train_data.costs)
        test_prompts = [data.prompts[i] for i in test]
        predicted[test] = predictor.predict_matrix(test_prompts, data.models)
        estimated[test] = cost_model.estimate(test_prompts, data.models)
        if on_fold is not None:
            on_fold()
    return OutOfFold(predicted, estimated, fold)


def prior_only(data: OutcomeData, fold: NDArray[np.int64]) -> NDArray[np.float64]:
    """The baseline: each model's mean score on the training folds, per prompt."""
    predicted = np.zeros_like(data.scores)
    for train, test in _splits(fold):
        predicted[test] = np.nanmean(data.scores[train], axis=0)
    return predicted


def protocol_folds(
    data: OutcomeData, protocol: str, k: int, seed: int = 0
) -> NDArray[np.int64]:
    """Fold numbers for ``kfold`` or ``lobo`` (leave one benchmark out)."""
    if protocol == "lobo":
        return source_folds(data.sources)
    return stratified_folds(data.sources, k, seed)


def pool_columns(data: OutcomeData, pool: list[str] | None) -> list[int]:
    """The columns of the pool's models (every model when no pool is given)."""
    if not pool:
        return list(range(len(data.models)))
    data.with_models(pool)  # raises InvalidArgument for unknown models
    return [data.models.index(m) for m in pool]


def evaluate_predictions(
    data: OutcomeData,
    predicted: NDArray[np.float64],
    estimated: NDArray[np.float64],
    baseline: NDArray[np.float64] | None,
    pool: list[str] | None = None,
) -> RouterReport:
    """The report for the pool's columns, with the prior-only baseline's figures."""
    columns = pool_columns(data, pool)
    models = [data.models[j] for j in columns]
    scores, costs = data.scores[:, columns], data.costs[:, columns]
    result = report(models, predicted[:, columns], estimated[:, columns], scores, costs)
    if baseline is not None:
        base = report(
            models, baseline[:, columns], estimated[:, columns], scores, costs
        )
        result.extra["baseline"] = {
            "share_to_match_best": base.share_to_match_best,
            "quality_at_cost": base.quality_at_cost,
            "aiq": base.aiq,
            "pool_share": base.pool.router_share if base.pool else None,
        }
    result.extra["brier"] = float(np.nanmean((predicted[:, columns] - scores) ** 2))
    if baseline is not None:
        result.extra["baseline_brier"] = float(
            np.nanmean((baseline[:, columns] - scores) ** 2)
        )
    return result
