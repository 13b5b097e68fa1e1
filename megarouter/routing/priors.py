"""Quality priors for models the quality predictor never saw.

A model absent from the outcome data still needs a predicted quality. We
describe every model by a few catalog facts (its price, the parameter count
in its name, a size word such as "mini" or "opus", its context window) and
fit a small non-negative linear map from those facts to the per-model
ability that the predictor learned for the models it did see. Non-negative
weights keep the prior monotone: within a family, a larger or pricier model
never gets a lower prior than a smaller or cheaper one.

The facts are plain values, so this module does not depend on the catalog
code; the router passes them in from whatever catalog it has.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import nnls

_PARAMS = re.compile(
    r"(?<![a-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE
)
_SMALL_WORDS = ("mini", "nano", "tiny", "small", "lite", "instant", "haiku", "flash")
_LARGE_WORDS = ("opus", "ultra", "large", "max", "pro")
_DEFAULT_PRICE_PER_MTOK = 1.0  # US dollars; a mid-tier guess when none is known
_MIXTURE_SHARE = 0.6  # a mixture of experts behaves like ~60 % of its total size

PRIOR_FEATURES: tuple[str, ...] = (
    "log_price",
    "log_params",
    "size_word",
    "log_context",
)


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the catalog knows about a model.

    Attributes:
        model_id: the model's id, with or without a provider prefix.
        input_per_mtok: list price in micro-dollars per million input
            tokens, or None when unknown.
        output_per_mtok: likewise for output tokens.
        context_window: tokens the model accepts, 0 when unknown.
    """

    model_id: str
    input_per_mtok: int | None = None
    output_per_mtok: int | None = None
    context_window: int = 0


# List prices (micro-dollars per Mtok) and context windows of the models in
# the shared RouterBench outcome data, as published when the data was made.
TRAINING_MODEL_FACTS: dict[str, ModelFacts] = {
    f.model_id: f
    for f in (
        ModelFacts("WizardLM/WizardLM-13B-V1.2", 300_000, 300_000, 4_096),
        ModelFacts("claude-instant-v1", 800_000, 2_400_000, 100_000),
        ModelFacts("claude-v1", 8_000_000, 24_000_000, 100_000),
        ModelFacts("claude-v2", 8_000_000, 24_000_000, 100_000),
        ModelFacts("gpt-3.5-turbo-1106", 1_000_000, 2_000_000, 16_385),
        ModelFacts("gpt-4-1106-preview", 10_000_000, 30_000_000, 128_000),
        ModelFacts("meta/code-llama-instruct-34b-chat", 776_000, 776_000, 16_384),
        ModelFacts("meta/llama-2-70b-chat", 900_000, 900_000, 4_096),
        ModelFacts("mistralai/mistral-7b-chat", 200_000, 200_000, 32_768),
        ModelFacts("mistralai/mixtral-8x7b-chat", 600_000, 600_000, 32_768),
        ModelFacts("zero-one-ai/Yi-34B-Chat", 800_000, 800_000, 4_096),
    )
}


def parameter_billions(model_id: str) -> float | None:
    """The parameter count named in a model id ("70b", "8x7b"), if any."""
    match = _PARAMS.search(model_id.rsplit("/", 1)[-1])
    if match is None:
        return None
    experts = int(match.group(1)) if match.group(1) else 1
    size = float(match.group(2)) * experts
    return size * _MIXTURE_SHARE if experts > 1 else size


def blended_price(facts: ModelFacts) -> float:
    """US dollars per million tokens, weighting input 3:1 over output."""
    if facts.input_per_mtok is None and facts.output_per_mtok is None:
        return _DEFAULT_PRICE_PER_MTOK
    inp = facts.input_per_mtok or facts.output_per_mtok or 0
    out = facts.output_per_mtok or inp
    return max((3 * inp + out) / 4 / 1_000_000, 0.01)


def prior_features(facts: ModelFacts) -> NDArray[np.float64]:
    """The facts as numbers, in the order of :data:`PRIOR_FEATURES`.

    A model whose size is not in its name is assumed to be as large as its
    price suggests, so the size feature never penalises a missing name.
    """
    price = blended_price(facts)
    log_price = math.log10(price)
    params = parameter_billions(facts.model_id)
    log_params = math.log10(params) if params else 1.5 + log_price
    name = facts.model_id.lower()
    size_word = 0.0
    if any(w in name for w in _SMALL_WORDS):
        size_word = -1.0
    elif any(re.search(rf"\b{w}\b", name) for w in _LARGE_WORDS):
        size_word = 1.0
    context = max(facts.context_window, 2_048)
    return np.array(
        [log_price, log_params, size_word, math.log2(context / 4_096)],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class PriorModel:
    """A monotone linear map from catalog facts to a model's ability logit."""

    intercept: float
    weights: NDArray[np.float64]
    centre: NDArray[np.float64]

    def ability(self, facts: ModelFacts) -> float:
        """The prior ability (a logit) of the model these facts describe."""
        x = prior_features(facts) - self.centre
        return float(self.intercept + x @ self.weights)


def fit_prior(
    facts: Sequence[ModelFacts], abilities: Sequence[float], ridge: float = 1.0
) -> PriorModel:
    """Fit non-negative weights from facts to abilities, with a ridge penalty."""
    x = np.stack([prior_features(f) for f in facts])
    centre = x.mean(axis=0)
    y = np.asarray(abilities, dtype=np.float64)
    intercept = float(y.mean())

    # Ridge as extra rows; nnls keeps every weight >= 0.
    design = np.vstack([x - centre, math.sqrt(ridge) * np.eye(x.shape[1])])
    target = np.concatenate([y - intercept, np.zeros(x.shape[1])])
    weights, _ = nnls(design, target)
    return PriorModel(intercept, weights, centre)


def facts_for(model_id: str, known: dict[str, ModelFacts] | None = None) -> ModelFacts:
    """The best facts we have for ``model_id`` without a catalog."""
    table = known if known is not None else TRAINING_MODEL_FACTS
    return table.get(model_id, ModelFacts(model_id))
