"""The learned quality predictor: fitted on outcome data, judged on held-out prompts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from megarouter.routing.bundle import (
    RouterBundle,
    load_bundle,
    load_default_predictor,
    save_bundle,
)
from megarouter.routing.costs import fit_costs
from megarouter.routing.crossval import stratified_folds
from megarouter.routing.explain import explain
from megarouter.routing.outcomes import OutcomeData, load_outcomes
from megarouter.routing.priors import ModelFacts
from megarouter.routing.quality import QualityFitParams, QualityPredictor, fit_quality
from megarouter.routing.reference import fit_reference

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "routing"
TRAIN_CSV = SHARED / "routerbench_train.csv"
FAST = QualityFitParams(max_iter=60)


@pytest.fixture(scope="module")
def outcomes() -> OutcomeData:
    return load_outcomes(TRAIN_CSV, sample=900)


@pytest.fixture(scope="module")
def held_out(
    outcomes: OutcomeData,
) -> tuple[QualityPredictor, OutcomeData, OutcomeData]:
    fold = stratified_folds(outcomes.sources, 4, seed=0)
    train = outcomes.subset(np.nonzero(fold != 0)[0])
    test = outcomes.subset(np.nonzero(fold == 0)[0])
    return fit_quality(train, FAST), train, test


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def test_predictor_beats_prior_only_baseline_on_held_out_prompts(
    held_out: tuple[QualityPredictor, OutcomeData, OutcomeData],
) -> None:
    predictor, train, test = held_out
    predicted = predictor.predict_matrix(test.prompts, test.models)
    baseline = np.broadcast_to(train.scores.mean(axis=0), test.scores.shape)

    # Measured offline: 0.581 against 0.609 on this split.
    assert _log_loss(predicted, test.scores) < _log_loss(baseline, test.scores) - 0.015


def test_predictor_ranks_the_strong_model_above_the_weak_one_on_average(
    held_out: tuple[QualityPredictor, OutcomeData, OutcomeData],
) -> None:
    predictor, _, test = held_out
    predicted = predictor.predict_matrix(test.prompts[:50], test.models)
    strong = test.models.index("gpt-4-1106-preview")
    weak = test.models.index("mistralai/mistral-7b-chat")
    assert predicted[:, strong].mean() > predicted[:, weak].mean() + 0.1


def test_fit_is_deterministic_when_repeated(outcomes: OutcomeData) -> None:
    small = outcomes.subset(np.arange(0, len(outcomes), 6))
    first = fit_quality(small, QualityFitParams(max_iter=20))
    second = fit_quality(small, QualityFitParams(max_iter=20))
    np.testing.assert_array_equal(first.own, second.own)
    np.testing.assert_array_equal(first.shared, second.shared)


def test_artifact_round_trip_predicts_identically(
    held_out: tuple[QualityPredictor, OutcomeData, OutcomeData], tmp_path: Path
) -> None:
    predictor, train, test = held_out
    costs = fit_costs(train.prompts, train.models, train.costs)
    save_bundle(RouterBundle(predictor, costs, {"note": "test"}), tmp_path)

    loaded = load_bundle(tmp_path)
    for prompt in test.prompts[:20]:
        np.testing.assert_array_equal(
            loaded.predictor.predict(prompt, test.models),
            predictor.predict(prompt, test.models),
        )
    assert loaded.notes == {"note": "test"}
    assert loaded.predictor.data_sha256 == train.sha256


def test_default_predictor_records_the_shared_data_it_was_fitted_on() -> None:
    predictor = load_default_predictor()
    assert predictor.data_sha256 == hashlib.sha256(TRAIN_CSV.read_bytes()).hexdigest()
    quality = predictor.predict(
        "Write a python function to reverse a list.", predictor.models
    )
    assert quality.shape == (11,)
    assert np.all((quality > 0) & (quality < 1))


def test_unseen_model_gets_a_prediction_from_its_facts_alone() -> None:
    predictor = load_default_predictor()
    quality = predictor.predict(
        "What is the capital of Peru?",
        [
            "no-such-model",
            ModelFacts("acme/frontier-large", 5_000_000, 15_000_000, 200_000),
        ],
    )
    assert np.all((quality > 0) & (quality < 1))


def test_unseen_bigger_model_of_a_family_predicts_higher_than_its_smaller_sibling() -> (
    None
):
    predictor = load_default_predictor()
    small, big = predictor.predict(
        "Explain why the sky is blue.",
        [
            ModelFacts("meta-llama/llama-3-8b-instruct", 100_000, 100_000, 8_192),
            ModelFacts("meta-llama/llama-3-70b-instruct", 900_000, 900_000, 8_192),
        ],
    )
    assert big > small


def test_unseen_pricier_model_predicts_higher_than_its_mini_variant() -> None:
    predictor = load_default_predictor()
    mini, full = predictor.predict(
        "Prove that the square root of 2 is irrational.",
        [
            ModelFacts("gpt-4o-mini", 150_000, 600_000, 128_000),
            ModelFacts("gpt-4o", 2_500_000, 10_000_000, 128_000),
        ],
    )
    assert full > mini


def test_explanation_names_the_prompts_own_words_and_matches_the_prediction() -> None:
    predictor = load_default_predictor()
    prompt = "Write a python function to merge two sorted lists."
    why = explain(predictor, prompt, "gpt-4-1106-preview", top=40)
    assert why.learned
    assert why.quality == pytest.approx(
        predictor.predict(prompt, ["gpt-4-1106-preview"])[0]
    )
    words = [c.feature for c in why.top if c.feature.startswith("words: ")]
    assert words and all(
        w.split(": ", 1)[1].split()[0] in prompt.lower() for w in words
    )


def test_prompt_logits_agree_with_logits_for_known_and_unseen_models() -> None:
    predictor = load_default_predictor()
    prompt = "Which gas do plants absorb from the air?\nA) oxygen\nB) carbon dioxide"
    unseen = ModelFacts("acme/frontier-large", 5_000_000, 15_000_000, 200_000)
    trained, offset = predictor.prompt_logits(prompt)

    np.testing.assert_allclose(trained, predictor.logits(prompt, predictor.models))
    assert predictor.prior_ability(unseen) + offset == pytest.approx(
        predictor.logits(prompt, [unseen])[0]
    )


def test_prompt_logits_differ_between_prompts_of_different_difficulty() -> None:
    predictor = load_default_predictor()
    easy, easy_offset = predictor.prompt_logits("Hello!")
    hard, hard_offset = predictor.prompt_logits(
        "Write a python function to find the longest palindromic subsequence."
    )
    assert easy_offset != hard_offset
    assert not np.allclose(easy, hard)


def test_reference_router_learns_the_strong_model_is_stronger(
    outcomes: OutcomeData,
) -> None:
    fold = stratified_folds(outcomes.sources, 4, seed=0)
    train = outcomes.subset(np.nonzero(fold != 0)[0])
    test = outcomes.subset(np.nonzero(fold == 0)[0])
    reference = fit_reference(train, max_iter=60)
    models = ["gpt-4-1106-preview", "mistralai/mistral-7b-chat", "no-such-model"]

    predicted = reference.predict_matrix(test.prompts, models)

    assert predicted[:, 0].mean() > predicted[:, 1].mean() + 0.1
    np.testing.assert_array_equal(predicted[:, 2], 0.5)
