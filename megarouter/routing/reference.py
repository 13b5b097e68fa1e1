"""The issue's reference router, kept only to measure ours against it.

A plain TF-IDF of the full prompt (word unigrams and bigrams, sublinear term
frequency, L2-normalised rows) feeds one independent L2 logistic regression
per model. Nothing is shared between models and nothing is read from the
prompt's shape. Words use the common ``\\b\\w\\w+\\b`` pattern, are hashed
with CRC-32 into :data:`N_BUCKETS` buckets, and buckets seen in fewer than two
training prompts are dropped, which keeps the fit to about a minute.

It is not used at serving time; ``megarouter router eval --model reference``
cross-validates it with the same folds, costs and figures as the real
predictor.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit

from megarouter.routing.features import normalise_prompt
from megarouter.routing.outcomes import OutcomeData

N_BUCKETS = 1 << 18
MIN_DF = 2
INVERSE_L2 = 1.0  # C: the data term's weight against 0.5 * ||w||^2

_WORD = re.compile(r"\b\w\w+\b")


def _counts(prompts: Sequence[str]) -> sparse.csr_matrix:
    """Hashed word unigram and bigram counts of whole prompts."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, prompt in enumerate(prompts):
        words = [w.lower() for w in _WORD.findall(normalise_prompt(prompt))]
        grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        counts = Counter(zlib.crc32(g.encode("utf-8")) % N_BUCKETS for g in grams)
        rows.extend([i] * len(counts))
        cols.extend(counts.keys())
        vals.extend(float(c) for c in counts.values())
    return sparse.csr_matrix(
        (np.array(vals), (np.array(rows, dtype=np.int64), np.array(cols))),
        shape=(len(prompts), N_BUCKETS),
    )


@dataclass(frozen=True)
class ReferencePredictor:
    """Per-model logistic regressions over a full-prompt TF-IDF."""

    models: list[str]
    columns: NDArray[np.int64]
    idf: NDArray[np.float64]
    weights: NDArray[np.float64]
    intercept: NDArray[np.float64]

    def _design(self, prompts: Sequence[str]) -> sparse.csr_matrix:
        """Sublinear TF-IDF rows of unit length over the kept buckets."""
        x = _counts(prompts)[:, self.columns].tocsr()
        x.data = 1.0 + np.log(x.data)
        x = (x @ sparse.diags(self.idf)).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ x)

    def predict_matrix(
        self, prompts: Sequence[str], models: Sequence[str]
    ) -> NDArray[np.float64]:
        """Probabilities, shape (prompts, models); unknown models get 0.5."""
        z = self._design(prompts) @ self.weights + self.intercept
        out = np.full((len(prompts), len(models)), 0.5)
        for j, model in enumerate(models):
            if model in self.models:
                out[:, j] = expit(z[:, self.models.index(model)])
        return out


def fit_reference(data: OutcomeData, max_iter: int = 300) -> ReferencePredictor:
    """Fit the reference router on outcome data (scores in [0, 1])."""
    counts = _counts(data.prompts)
    df = np.asarray((counts > 0).sum(axis=0)).ravel()
    columns = np.nonzero(df >= MIN_DF)[0].astype(np.int64)
    idf = np.log((1.0 + len(data)) / (1.0 + df[columns])) + 1.0
    draft = ReferencePredictor(
        list(data.models), columns, idf, np.zeros((0, 0)), np.zeros(0)
    )
    x = draft._design(data.prompts)
    y = np.clip(np.nan_to_num(data.scores, nan=0.5), 0.0, 1.0)
    mask = (~np.isnan(data.scores)).astype(np.float64)
    weights, intercept = _solve(x, y, mask, max_iter)
    return ReferencePredictor(list(data.models), columns, idf, weights, intercept)


def _solve(
    x: sparse.csr_matrix,
    y: NDArray[np.float64],
    mask: NDArray[np.float64],
    max_iter: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Independent L2 logistic regressions, one per column of ``y``."""
    n_features, n_models = x.shape[1], y.shape[1]
    xt = x.T.tocsr()

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w = theta[:-n_models].reshape(n_features, n_models)
        z = x @ w + theta[-n_models:]
        nll = (mask * (np.logaddexp(0.0, z) - y * z)).sum()
        r = INVERSE_L2 * mask * (expit(z) - y)
        grad = np.concatenate([(xt @ r + w).ravel(), r.sum(axis=0)])
        return float(INVERSE_L2 * nll + 0.5 * (w * w).sum()), grad

    base = np.clip((y * mask).sum(0) / np.maximum(mask.sum(0), 1.0), 0.01, 0.99)
    theta0 = np.concatenate(
        [np.zeros(n_features * n_models), np.log(base / (1 - base))]
    )
    result = minimize(
        loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter}
    )
    theta = result.x
    return theta[:-n_models].reshape(n_features, n_models).copy(), theta[-n_models:]
