"""The learned quality predictor: how likely each model is to do well on a prompt.

For prompt features ``x`` (see :mod:`megarouter.routing.features`) and model
``m`` the predictor says::

    P(good | x, m) = sigmoid(ability_m + x . (shared + own_m))

``shared`` is one weight vector for every model: it learns what makes a
prompt hard or easy in general. ``own_m`` is what is peculiar to model ``m``
(the coder that fails at riddles), and it is penalised much more strongly
than ``shared``, so a model's prediction only leaves the common pattern where
the data insist. A model the predictor never saw gets its ability from
catalog facts (:mod:`megarouter.routing.priors`) and no ``own`` weights, so
it still ranks prompts by the shared difficulty.

The fit is one convex problem (logistic loss with L2 penalties) solved with
L-BFGS; it takes seconds on the shared training data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit

from megarouter.routing.features import SHAPE_NAMES, PromptFeatures, featurise
from megarouter.routing.outcomes import OutcomeData
from megarouter.routing.priors import (
    TRAINING_MODEL_FACTS,
    ModelFacts,
    PriorModel,
    facts_for,
    fit_prior,
)

logger = logging.getLogger(__name__)

N_SHAPE = len(SHAPE_NAMES)

ScaledRow = tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]


@dataclass(frozen=True)
class QualityFitParams:
    """The knobs of a fit; recorded in every artifact.

    Attributes:
        n_buckets: hashed word buckets.
        shared_l2: penalty on the weights shared by every model.
        own_l2: penalty on each model's own weights (shrinks toward shared).
        ability_l2: penalty pulling each model's ability toward the mean.
        prior_ridge: ridge penalty of the catalog-facts prior.
        max_iter: L-BFGS iterations.
    """

    n_buckets: int = 1 << 12
    shared_l2: float = 10.0
    own_l2: float = 40.0
    ability_l2: float = 0.01
    prior_ridge: float = 1.0
    max_iter: int = 200


@dataclass
class FeatureScaler:
    """Standardises shape features and weights hashed words by TF-IDF."""

    shape_mean: NDArray[np.float64]
    shape_scale: NDArray[np.float64]
    idf: NDArray[np.float64]

    def row(self, prompt: str) -> ScaledRow:
        """One prompt's scaled shape vector, word buckets and their weights."""
        return self.scale(featurise(prompt, len(self.idf)))

    def scale(self, feats: PromptFeatures) -> ScaledRow:
        """Standardise the shape and TF-IDF-weight the words of one prompt."""
        shape = (feats.shape - self.shape_mean) / self.shape_scale
        weights = (1.0 + np.log(feats.counts)) * self.idf[feats.buckets]
        norm = float(np.sqrt(weights @ weights)) or 1.0
        return shape, feats.buckets, weights / norm

    def matrix(self, prompts: Sequence[str]) -> sparse.csr_matrix:
        """The design matrix of raw prompts."""
        return self.matrix_of([featurise(p, len(self.idf)) for p in prompts])

    def matrix_of(self, features: Sequence[PromptFeatures]) -> sparse.csr_matrix:
        """The design matrix: shape columns first, then the word buckets."""
        rows, cols, vals = [], [], []
        for i, feats in enumerate(features):
            shape, buckets, weights = self.scale(feats)
            rows.append(np.full(N_SHAPE + len(buckets), i))
            cols.append(np.concatenate([np.arange(N_SHAPE), N_SHAPE + buckets]))
            vals.append(np.concatenate([shape, weights]))
        return sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(features), N_SHAPE + len(self.idf)),
        )


def fit_scaler(features: Sequence[PromptFeatures], n_buckets: int) -> FeatureScaler:
    """Learn shape means and scales and the word IDF from training prompts."""
    df = np.zeros(n_buckets)
    for feats in features:
        df[feats.buckets] += 1.0
    stacked = np.stack([f.shape for f in features])
    scale = stacked.std(axis=0)
    scale[scale < 1e-6] = 1.0
    idf = np.log((1.0 + len(features)) / (1.0 + df)) + 1.0
    return FeatureScaler(stacked.mean(axis=0), scale, idf)


@dataclass
class QualityPredictor:
    """Predicts, per prompt, each model's probability of a good answer.

    Attributes:
        models: the model ids the predictor was fitted on.
        ability: shape (models,), each model's base logit.
        shared: shape (features,), weights common to every model.
        own: shape (features, models), each model's own weights.
        scaler: turns prompts into features.
        prior: maps catalog facts to an ability for unseen models.
        params: the fit's knobs.
        data_sha256: digest of the outcome data it was fitted on.
    """

    models: list[str]
    ability: NDArray[np.float64]
    shared: NDArray[np.float64]
    own: NDArray[np.float64]
    scaler: FeatureScaler
    prior: PriorModel
    params: QualityFitParams
    data_sha256: str = ""

    def logits(
        self, prompt: str, models: Sequence[str | ModelFacts]
    ) -> NDArray[np.float64]:
        """Per-model logits of a good answer to ``prompt``."""
        shape, buckets, weights = self.scaler.row(prompt)
        cols = N_SHAPE + buckets
        common = shape @ self.shared[:N_SHAPE] + weights @ self.shared[cols]
        own = shape @ self.own[:N_SHAPE] + weights @ self.own[cols]

        out = np.empty(len(models))
        for j, model in enumerate(models):
            index = self._index(model)
            if index is None:
                out[j] = self.prior_ability(model) + common
            else:
                out[j] = self.ability[index] + common + own[index]
        return out

    def predict(
        self, prompt: str, models: Sequence[str | ModelFacts]
    ) -> NDArray[np.float64]:
        """Probability of a good answer from each of ``models``.

        Args:
            prompt: the prompt text.
            models: model ids, or catalog facts for models the predictor may
                not know; a known id uses what was learned about it.

        Returns:
            One probability in (0, 1) per model, in the given order.
        """
        return expit(self.logits(prompt, models))

    def prompt_logits(self, prompt: str) -> tuple[NDArray[np.float64], float]:
        """Every fitted model's logit for ``prompt``, and the offset for others.

        Featurises the prompt once, so a caller that scores many candidates
        pays for the text only once.

        Args:
            prompt: the prompt text.

        Returns:
            The logits of a good answer for :attr:`models`, in that order, and
            the prompt's shared term: a model the predictor was not fitted on
            has the logit ``prior_ability(facts) + offset``.
        """
        shape, buckets, weights = self.scaler.row(prompt)
        cols = N_SHAPE + buckets
        common = float(shape @ self.shared[:N_SHAPE] + weights @ self.shared[cols])
        own = shape @ self.own[:N_SHAPE] + weights @ self.own[cols]
        return np.asarray(self.ability + common + own, dtype=np.float64), common

    def predict_matrix(
        self, prompts: Sequence[str], models: Sequence[str]
    ) -> NDArray[np.float64]:
        """Probabilities for many prompts at once, shape (prompts, models)."""
        x = self.scaler.matrix(prompts)
        common = x @ self.shared
        own = x @ self.own
        out = np.empty((len(prompts), len(models)))
        for j, model in enumerate(models):
            index = self._index(model)
            if index is None:
                out[:, j] = self.prior_ability(model) + common
            else:
                out[:, j] = self.ability[index] + common + own[:, index]
        return np.asarray(expit(out))

    def prior_ability(self, model: str | ModelFacts) -> float:
        """The ability logit of a model from its catalog facts alone."""
        facts = model if isinstance(model, ModelFacts) else facts_for(model)
        return self.prior.ability(facts)

    def _index(self, model: str | ModelFacts) -> int | None:
        """The column of a model the predictor was fitted on, if any."""
        model_id = model.model_id if isinstance(model, ModelFacts) else model
        try:
            return self.models.index(model_id)
        except ValueError:
            return None

    def describe_params(self) -> dict[str, object]:
        """The fit parameters as plain values."""
        return asdict(self.params)


def fit_quality(
    data: OutcomeData,
    params: QualityFitParams | None = None,
    facts: dict[str, ModelFacts] | None = None,
    progress: Callable[[int], None] | None = None,
) -> QualityPredictor:
    """Fit the predictor on outcome data.

    Args:
        data: prompts and per-model scores (scores are read as probabilities
            of a good answer, so they must lie in [0, 1]).
        params: fit knobs; defaults when None.
        facts: catalog facts of the data's models for the prior; the known
            RouterBench models' facts when None.
        progress: called with the number of optimiser steps done so far.

    Returns:
        The fitted predictor.
    """
    params = params or QualityFitParams()
    features = [featurise(p, params.n_buckets) for p in data.prompts]
    scaler = fit_scaler(features, params.n_buckets)
    x = scaler.matrix_of(features)
    y = np.clip(np.nan_to_num(data.scores, nan=0.5), 0.0, 1.0)
    mask = (~np.isnan(data.scores)).astype(np.float64)
    ability, shared, own = _solve(x, y, mask, params, progress)

    table = facts or TRAINING_MODEL_FACTS
    prior = fit_prior(
        [facts_for(m, table) for m in data.models], list(ability), params.prior_ridge
    )
    logger.info("fitted quality predictor on %d prompts x %d models", *y.shape)
    return QualityPredictor(
        models=list(data.models),
        ability=ability,
        shared=shared,
        own=own,
        scaler=scaler,
        prior=prior,
        params=params,
        data_sha256=data.sha256,
    )


def _solve(
    x: sparse.csr_matrix,
    y: NDArray[np.float64],
    mask: NDArray[np.float64],
    params: QualityFitParams,
    progress: Callable[[int], None] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Minimise the penalised logistic loss; returns ability, shared, own."""
    n, n_models = y.shape
    n_features = x.shape[1]
    xt = x.T.tocsr()
    base = np.log((y * mask).sum(0) + 1.0) - np.log(((1 - y) * mask).sum(0) + 1.0)

    def unpack(theta: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        ability = theta[:n_models]
        shared = theta[n_models : n_models + n_features]
        own = theta[n_models + n_features :].reshape(n_features, n_models)
        return ability, shared, own

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        ability, shared, own = unpack(theta)
        z = ability + (x @ shared)[:, None] + x @ own
        p = expit(z)
        eps = 1e-12
        nll = -(mask * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))).sum() / n
        r = mask * (p - y) / n
        penalty = (
            params.shared_l2 * shared @ shared
            + params.own_l2 * (own * own).sum()
            + params.ability_l2 * ((ability - base) ** 2).sum()
        ) / n
        grad = np.concatenate(
            [
                r.sum(0) + 2 * params.ability_l2 * (ability - base) / n,
                xt @ r.sum(1) + 2 * params.shared_l2 * shared / n,
                (xt @ r + 2 * params.own_l2 * own / n).ravel(),
            ]
        )
        return float(nll + penalty), grad

    steps = 0

    def step(xk: object) -> None:
        nonlocal steps
        steps += 1
        if progress is not None:
            progress(steps)

    theta0: NDArray[np.float64] = np.concatenate(
        [base, np.zeros(n_features * (n_models + 1))]
    )
    result = minimize(
        loss,
        theta0,
        jac=True,
        method="L-BFGS-B",
        callback=step,
        options={"maxiter": params.max_iter},
    )
    ability, shared, own = unpack(result.x)
    return ability.copy(), shared.copy(), own.copy()
