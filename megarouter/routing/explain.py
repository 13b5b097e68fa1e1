"""Why the predictor expects what it does: the largest terms of a prediction.

A prediction's logit is a sum: the model's ability, plus one term per shape
feature, plus one term per hashed word gram. Listing the biggest terms, with
the shape features named and the hashed buckets mapped back to the prompt's
own words, says in plain terms what pushed a model's predicted quality up or
down for this prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from megarouter.routing.features import (
    SHAPE_NAMES,
    gram_bucket,
    normalise_prompt,
    prompt_focus,
    word_grams,
)
from megarouter.routing.priors import ModelFacts
from megarouter.routing.quality import N_SHAPE, QualityPredictor


@dataclass(frozen=True, slots=True)
class Contribution:
    """One term of a prediction's logit.

    Attributes:
        feature: a shape feature's name, or ``words: ...`` for word grams.
        logit: how much it adds to the model's logit (negative lowers it).
    """

    feature: str
    logit: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """A model's predicted quality for a prompt and its largest reasons.

    Attributes:
        model: the model id.
        quality: the predicted probability of a good answer.
        ability: the model's base logit (learned, or from catalog facts).
        learned: whether the model was in the training data.
        top: the largest other terms, biggest magnitude first.
    """

    model: str
    quality: float
    ability: float
    learned: bool
    top: list[Contribution]


def explain(
    predictor: QualityPredictor, prompt: str, model: str | ModelFacts, top: int = 5
) -> Explanation:
    """The predicted quality of ``model`` on ``prompt`` and its biggest terms."""
    model_id = model.model_id if isinstance(model, ModelFacts) else model
    learned = model_id in predictor.models
    column = predictor.models.index(model_id) if learned else None
    weights = predictor.shared.copy()
    if column is not None:
        weights += predictor.own[:, column]
    ability = (
        float(predictor.ability[column])
        if column is not None
        else predictor.prior_ability(model)
    )

    shape, buckets, values = predictor.scaler.row(prompt)
    terms = [
        Contribution(name, float(shape[i] * weights[i]))
        for i, name in enumerate(SHAPE_NAMES)
    ]
    bucket_logit = dict(
        zip(
            buckets.tolist(),
            (values * weights[N_SHAPE + buckets]).tolist(),
            strict=True,
        )
    )
    terms.extend(_word_terms(prompt, bucket_logit, len(predictor.scaler.idf)))

    quality = float(predictor.predict(prompt, [model])[0])
    ranked = sorted(terms, key=lambda c: -abs(c.logit))[:top]
    return Explanation(model_id, quality, ability, learned, ranked)


def _word_terms(
    prompt: str, bucket_logit: dict[int, float], n_buckets: int
) -> list[Contribution]:
    """Word-gram terms, each bucket named by the first gram that fell in it."""
    named: dict[int, str] = {}
    for gram in word_grams(prompt_focus(normalise_prompt(prompt))):
        named.setdefault(gram_bucket(gram, n_buckets), gram)
    return [
        Contribution(f"words: {named.get(b, '?')}", logit)
        for b, logit in bucket_logit.items()
        if not np.isclose(logit, 0.0)
    ]
