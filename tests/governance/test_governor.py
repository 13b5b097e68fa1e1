"""Worst-case reservations: the caller's limit, else the model's, else a guess."""

from __future__ import annotations

from megarouter.catalog.prices import CatalogModel
from megarouter.governance.governor import (
    FALLBACK_OUTPUT_TOKENS,
    worst_case_cost,
    worst_case_output,
)
from megarouter.providers.spec import ModelMode, ModelSpec, Price, ProviderSpec

PROVIDER = ProviderSpec(name="p", family="openai")


def model(
    max_output: int = 0, context: int = 0, mode: ModelMode = ModelMode.CHAT
) -> CatalogModel:
    spec = ModelSpec(
        "m", mode=mode, max_output_tokens=max_output, context_window=context
    )
    return CatalogModel(PROVIDER, spec, Price(1_000_000, 2_000_000))


def test_callers_limit_is_capped_by_the_models_own() -> None:
    assert worst_case_output(model(max_output=100), 500) == 100
    assert worst_case_output(model(max_output=100), 50) == 50
    assert worst_case_output(model(context=8_000), None) == 8_000


def test_unknown_model_limit_honours_the_callers_limit_over_the_guess() -> None:
    assert worst_case_output(model(), 10_000) == 10_000
    assert worst_case_output(model(), None) == FALLBACK_OUTPUT_TOKENS


def test_embeddings_bill_no_output_and_cost_takes_the_dearest_candidate() -> None:
    assert worst_case_output(model(mode=ModelMode.EMBEDDING), 100) == 0
    cheap, dear = model(max_output=10), model(max_output=1_000)
    # 100 input tokens at $1/M plus 1,000 output tokens at $2/M = 2,100 µ$.
    assert worst_case_cost([cheap, dear], 100, None) == 2_100
