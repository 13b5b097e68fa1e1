"""Expected cost of a call before it is made, for evaluating routers offline.

In production the router prices a call from the catalog's price table and the
prompt's token count. Outcome data carries what each call really cost, which
depends on the answer's length too; a fair offline evaluation must not peek
at it. So the evaluation predicts each model's cost from the prompt's length
alone, with a per-model line fitted on the training prompts in log space:
``log(cost) = a_m + b_m * log(chars)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class CallCostModel:
    """Per-model expected call cost (US dollars) from prompt length.

    Attributes:
        models: model ids, one per row of ``coefficients``.
        coefficients: shape (models, 2), intercept and slope in log space.
    """

    models: list[str]
    coefficients: NDArray[np.float64]

    def estimate(
        self, prompts: Sequence[str], models: Sequence[str]
    ) -> NDArray[np.float64]:
        """Expected cost of each model on each prompt, shape (prompts, models)."""
        log_chars = np.log1p([len(p) for p in prompts])
        out = np.empty((len(prompts), len(models)))
        fallback = self.coefficients.mean(axis=0)
        for j, model in enumerate(models):
            a, b = (
                self.coefficients[self.models.index(model)]
                if model in self.models
                else fallback
            )
            out[:, j] = np.exp(a + b * log_chars)
        return out


def fit_costs(
    prompts: Sequence[str], models: Sequence[str], costs: NDArray[np.float64]
) -> CallCostModel:
    """Fit each model's cost line on observed costs (NaNs are skipped)."""
    log_chars = np.log1p([len(p) for p in prompts])
    coefficients = np.zeros((len(models), 2))
    for j in range(len(models)):
        known = np.isfinite(costs[:, j]) & (costs[:, j] > 0)
        if known.sum() < 2:
            coefficients[j] = (np.log(1e-3), 0.0)
            continue
        x = np.stack([np.ones(known.sum()), log_chars[known]], axis=1)
        coefficients[j], *_ = np.linalg.lstsq(x, np.log(costs[known, j]), rcond=None)
    return CallCostModel(list(models), coefficients)
