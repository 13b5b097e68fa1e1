"""Reference prices become exact integer micro-dollars per million tokens.

Each expected value below was worked out by hand from the reference entry:
USD per token x 1,000,000 tokens x 1,000,000 micro-dollars per dollar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from megarouter.catalog.money import (
    micros_per_mtok_from_usd_per_mtok,
    micros_per_mtok_from_usd_per_token,
)
from megarouter.errors import InvalidArgument
from megarouter.providers.spec import Price, ProviderSpec

# (reference key, its input and output USD per token as written there,
#  catalog provider/model, expected micro-dollars per million in and out)
KNOWN = [
    ("gpt-4o", "2.5e-06", "1e-05", "openai", "gpt-4o", 2_500_000, 10_000_000),
    ("gpt-4o-mini", "1.5e-07", "6e-07", "openai", "gpt-4o-mini", 150_000, 600_000),
    (
        "claude-sonnet-4-5", "3e-06", "1.5e-05",
        "anthropic", "claude-sonnet-4-5", 3_000_000, 15_000_000,
    ),
    (
        "gemini/gemini-2.5-flash", "3e-07", "2.5e-06",
        "gemini", "gemini-2.5-flash", 300_000, 2_500_000,
    ),
    (
        "groq/openai/gpt-oss-120b", "1.5e-07", "6e-07",
        "groq", "openai/gpt-oss-120b", 150_000, 600_000,
    ),
    (
        "cloudflare/@cf/meta/llama-2-7b-chat-fp16", "1.923e-06", "1.923e-06",
        "cloudflare", "@cf/meta/llama-2-7b-chat-fp16", 1_923_000, 1_923_000,
    ),
]  # fmt: skip


@pytest.mark.parametrize("row", KNOWN, ids=[row[0] for row in KNOWN])
def test_known_chat_prices_convert_exactly(
    row: tuple[str, str, str, str, str, int, int],
    reference: dict[str, Any],
    providers: dict[str, ProviderSpec],
) -> None:
    key, usd_in, usd_out, provider, model_id, micros_in, micros_out = row
    entry = reference[key]
    assert entry["input_cost_per_token"] == Decimal(usd_in)
    assert entry["output_cost_per_token"] == Decimal(usd_out)

    model = next(m for m in providers[provider].models if m.id == model_id)

    assert model.price == Price(micros_in, micros_out)


def test_embedding_price_written_with_float_noise_rounds_to_the_intended_value(
    reference: dict[str, Any], providers: dict[str, ProviderSpec]
) -> None:
    # The reference writes $0.12999 per million as 1.2999000000000001e-07.
    entry = reference["databricks/databricks-gte-large-en"]
    assert entry["input_cost_per_token"] == Decimal("1.2999000000000001e-07")

    model = next(
        m for m in providers["databricks"].models if m.id == "databricks-gte-large-en"
    )

    assert model.price == Price(129_990, 0)


def test_a_free_tier_zero_price_in_the_reference_ships_as_unknown(
    reference: dict[str, Any], providers: dict[str, ProviderSpec]
) -> None:
    entry = reference["codestral/codestral-latest"]
    assert entry["input_cost_per_token"] == 0

    model = next(m for m in providers["codestral"].models if m.id == "codestral-latest")

    assert model.price is None


def test_usd_per_token_conversion_rounds_half_up() -> None:
    assert micros_per_mtok_from_usd_per_token("1.5e-12") == 2
    assert micros_per_mtok_from_usd_per_token("1.4e-12") == 1
    assert micros_per_mtok_from_usd_per_token(2.5e-06) == 2_500_000
    assert micros_per_mtok_from_usd_per_token(Decimal("0.000003")) == 3_000_000


def test_usd_per_million_conversion_is_exact_for_decimal_text() -> None:
    assert micros_per_mtok_from_usd_per_mtok("0.15") == 150_000
    assert micros_per_mtok_from_usd_per_mtok(0.1) == 100_000
    assert micros_per_mtok_from_usd_per_mtok("0.0000005") == 1


@pytest.mark.parametrize("bad", ["-1e-06", "nan", "inf", "three dollars"])
def test_conversion_refuses_what_is_not_a_price(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        micros_per_mtok_from_usd_per_token(bad)
