"""Resolving global model ids to models and the price MegaRouter charges."""

from __future__ import annotations

import re

import pytest

from megarouter.catalog.prices import PriceTable, UnpricedModel
from megarouter.errors import ConfigurationError, InvalidArgument, NotFound
from megarouter.providers.spec import (
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)

GROQ = ProviderSpec(
    name="groq",
    family="openai",
    base_url="https://api.groq.com/openai/v1",
    models=(
        ModelSpec(
            id="llama-3.3-70b-versatile",
            context_window=131_072,
            max_output_tokens=32_768,
            price=Price(590_000, 790_000),
            aliases=("llama-70b",),
        ),
        ModelSpec(id="meta-llama/llama-guard-4-12b", context_window=131_072),
    ),
)
VLLM = ProviderSpec(
    name="vllm",
    family="openai",
    base_url="http://localhost:8000/v1",
    self_hosted=True,
    models=(ModelSpec(id="Qwen/Qwen3-8B", context_window=32_768),),
)
OPENAI = ProviderSpec(
    name="openai",
    family="openai",
    models=(
        ModelSpec(
            id="text-embedding-3-small",
            mode=ModelMode.EMBEDDING,
            context_window=8191,
            price=Price(20_000, 0),
        ),
        ModelSpec(id="mystery", price=Price(1_000_000, 2_000_000)),
    ),
)


def _table(**overrides: Price) -> PriceTable:
    keyed = {_key(global_id): price for global_id, price in overrides.items()}
    return PriceTable([GROQ, VLLM, OPENAI], keyed)


def _key(global_id: str) -> tuple[str, str]:
    provider, _, model = global_id.partition("/")
    return provider, model


def test_price_for_returns_the_list_price_by_global_id() -> None:
    assert _table().price_for("groq/llama-3.3-70b-versatile") == Price(590_000, 790_000)


def test_price_for_resolves_an_alias_and_a_model_id_with_slashes() -> None:
    table = PriceTable([GROQ, VLLM, OPENAI])

    assert table.price_for("groq/llama-70b") == Price(590_000, 790_000)
    entry = table.resolve("groq/meta-llama/llama-guard-4-12b")
    assert entry.global_id == "groq/meta-llama/llama-guard-4-12b"
    assert entry.price is None


def test_price_for_an_unpriced_model_raises_and_names_it() -> None:
    with pytest.raises(UnpricedModel) as caught:
        _table().price_for("vllm/Qwen/Qwen3-8B")

    assert isinstance(caught.value, ConfigurationError)
    assert "vllm/Qwen/Qwen3-8B" in str(caught.value)
    assert "administrator must set" in str(caught.value)


def test_an_administrators_price_makes_an_unpriced_model_callable() -> None:
    table = PriceTable(
        [GROQ, VLLM, OPENAI], {("vllm", "Qwen/Qwen3-8B"): Price(50_000, 80_000)}
    )

    assert table.price_for("vllm/Qwen/Qwen3-8B") == Price(50_000, 80_000)
    assert table.cost_micros("vllm/Qwen/Qwen3-8B", 1_000_000, 500_000) == 90_000


def test_an_administrators_price_wins_over_the_list_price_even_by_alias() -> None:
    table = PriceTable([GROQ], {("groq", "llama-70b"): Price(500_000, 700_000)})

    assert table.price_for("groq/llama-3.3-70b-versatile") == Price(500_000, 700_000)
    assert table.resolve("groq/llama-70b").price == Price(500_000, 700_000)


def test_a_price_for_a_model_nobody_serves_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("groq/no-such-model")):
        PriceTable([GROQ], {("groq", "no-such-model"): Price(1, 1)})


def test_a_negative_price_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="negative"):
        PriceTable([GROQ], {("groq", "llama-70b"): Price(-1, 1)})


def test_an_unknown_model_is_not_found_and_a_bare_id_gets_suggestions() -> None:
    table = PriceTable([GROQ, VLLM, OPENAI])

    with pytest.raises(NotFound, match=re.escape("groq/no-such-model")):
        table.price_for("groq/no-such-model")
    with pytest.raises(
        NotFound, match=re.escape("did you mean groq/llama-3.3-70b-versatile")
    ):
        table.resolve("llama-3.3-70b-versatile")
    assert "nobody/llama-3.3-70b-versatile" not in table
    assert "groq/llama-70b" in table


def test_two_providers_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="registered twice"):
        PriceTable([GROQ, GROQ])


def test_estimate_reserves_the_callers_output_limit() -> None:
    # 1,000 in x $0.59/M + 2,000 out x $0.79/M = 590 + 1,580 micro-dollars.
    assert _table().estimate_cost_micros("groq/llama-70b", 1_000, 2_000) == 2_170


def test_estimate_without_a_limit_reserves_the_models_longest_answer() -> None:
    # 1,000 x 0.59 + 32,768 x 0.79 micro-dollars, rounded up.
    expected = -(-(1_000 * 590_000 + 32_768 * 790_000) // 1_000_000)

    assert _table().estimate_cost_micros("groq/llama-70b", 1_000) == expected
    assert _table().estimate_cost_micros("groq/llama-70b", 1_000, 10**9) == expected


def test_estimate_for_a_model_without_any_output_limit_needs_one() -> None:
    table = _table()

    with pytest.raises(InvalidArgument, match="max_output_tokens"):
        table.estimate_cost_micros("openai/mystery", 10)
    assert table.estimate_cost_micros("openai/mystery", 10, 10) == 30


def test_estimate_for_an_embedding_counts_input_only() -> None:
    # 50,000 tokens x $0.02/M = $0.001 = 1,000 micro-dollars.
    assert (
        _table().estimate_cost_micros("openai/text-embedding-3-small", 50_000) == 1_000
    )


def test_estimate_refuses_negative_token_counts_and_unpriced_models() -> None:
    table = _table()

    with pytest.raises(InvalidArgument, match="input_tokens"):
        table.estimate_cost_micros("groq/llama-70b", -1)
    with pytest.raises(UnpricedModel):
        table.estimate_cost_micros("vllm/Qwen/Qwen3-8B", 10, 10)


def test_models_lists_every_model_with_its_effective_price() -> None:
    table = _table(**{"vllm/Qwen/Qwen3-8B": Price(1, 2)})

    chat = {entry.global_id: entry.price for entry in table.models(ModelMode.CHAT)}
    embedding = [entry.global_id for entry in table.models(ModelMode.EMBEDDING)]

    assert chat["vllm/Qwen/Qwen3-8B"] == Price(1, 2)
    assert chat["groq/meta-llama/llama-guard-4-12b"] is None
    assert embedding == ["openai/text-embedding-3-small"]
    assert len(table) == 5


def test_the_shipped_catalogs_load_into_one_price_table(
    providers: dict[str, ProviderSpec],
) -> None:
    table = PriceTable(providers.values())

    assert table.price_for("openai/gpt-4o") == Price(2_500_000, 10_000_000)
    assert table.price_for("anthropic/claude-sonnet-4-5") == Price(
        3_000_000, 15_000_000
    )
    with pytest.raises(UnpricedModel):
        table.price_for("ollama/llama3")
