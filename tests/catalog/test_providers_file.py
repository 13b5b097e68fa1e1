"""A deployment's providers file: read from JSON or TOML, refused when wrong."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pytest

from megarouter.catalog.specfile import (
    CapabilitiesEntry,
    ModelEntry,
    PriceEntry,
    ProviderEntry,
    provider_to_dict,
    read_providers_file,
)
from megarouter.errors import ConfigurationError
from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    ModelSpec,
    Price,
    ProviderSpec,
)

VLLM_TOML = textwrap.dedent("""
    format = 1

    [[providers]]
    name = "vllm"
    family = "openai"
    display_name = "vLLM on gpu-1"
    base_url = "http://gpu-1.internal:8000/v1"
    auth = "none"
    self_hosted = true

    [[providers.models]]
    id = "meta-llama/Llama-3.1-8B-Instruct"
    context_window = 131072
    max_output_tokens = 8192
    price = { input_per_mtok = 50000, output_per_mtok = 100000 }
    aliases = ["llama-3-8b"]
    capabilities = { streaming = true, tools = true }

    [[providers.models]]
    id = "unpriced-model"
""")

VLLM_JSON = {
    "format": 1,
    "providers": [
        {
            "name": "vllm",
            "family": "openai",
            "display_name": "vLLM on gpu-1",
            "base_url": "http://gpu-1.internal:8000/v1",
            "auth": "none",
            "self_hosted": True,
            "models": [
                {
                    "id": "meta-llama/Llama-3.1-8B-Instruct",
                    "context_window": 131072,
                    "max_output_tokens": 8192,
                    "price": {"input_per_mtok": 50000, "output_per_mtok": 100000},
                    "aliases": ["llama-3-8b"],
                    "capabilities": {"streaming": True, "tools": True},
                },
                {"id": "unpriced-model", "price": None},
            ],
        }
    ],
}

EXPECTED = ProviderSpec(
    name="vllm",
    family="openai",
    display_name="vLLM on gpu-1",
    base_url="http://gpu-1.internal:8000/v1",
    auth=AuthScheme.NONE,
    self_hosted=True,
    models=(
        ModelSpec(
            "meta-llama/Llama-3.1-8B-Instruct",
            context_window=131072,
            max_output_tokens=8192,
            price=Price(50_000, 100_000),
            capabilities=Capabilities(streaming=True, tools=True),
            aliases=("llama-3-8b",),
        ),
        ModelSpec("unpriced-model"),
    ),
)


def write(tmp_path: Path, name: str, document: Any) -> Path:
    """``document`` as a file: text as is, anything else as JSON."""
    path = tmp_path / name
    text = document if isinstance(document, str) else json.dumps(document)
    path.write_text(text, encoding="utf-8")
    return path


def vllm_with(**changes: Any) -> dict[str, Any]:
    """The JSON document with the vllm entry's fields changed."""
    entry = {**VLLM_JSON["providers"][0], **changes}
    return {"format": 1, "providers": [entry]}


def model_with(**changes: Any) -> dict[str, Any]:
    """The JSON document with the first model's fields changed."""
    entry = VLLM_JSON["providers"][0]
    model = {**entry["models"][0], **changes}
    return vllm_with(models=[model])


def refusal(path: Path) -> str:
    with pytest.raises(ConfigurationError) as caught:
        read_providers_file(path)
    return str(caught.value)


def test_toml_and_json_files_give_the_same_specs(tmp_path: Path) -> None:
    from_toml = read_providers_file(write(tmp_path, "providers.toml", VLLM_TOML))
    from_json = read_providers_file(write(tmp_path, "providers.json", VLLM_JSON))

    assert from_toml == from_json == [EXPECTED]


def test_a_file_written_from_specs_reads_back_the_same(tmp_path: Path) -> None:
    document = {"format": 1, "providers": [provider_to_dict(EXPECTED)]}

    assert read_providers_file(write(tmp_path, "p.json", document)) == [EXPECTED]


def test_the_checked_fields_are_exactly_the_spec_fields() -> None:
    pairs = [
        (ProviderEntry, ProviderSpec),
        (ModelEntry, ModelSpec),
        (PriceEntry, Price),
        (CapabilitiesEntry, Capabilities),
    ]
    for entry, spec in pairs:
        assert set(entry.model_fields) == {f.name for f in fields(spec)}, entry
    assert CapabilitiesEntry().model_dump() == asdict(Capabilities())


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"

    message = refusal(path)

    assert message == (
        f"providers file {path}: cannot read it: No such file or directory"
    )


def test_bad_json_is_refused_with_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, "providers.json", '{"format": 1, "providers": [,]}')

    message = refusal(path)

    assert message.startswith(f"providers file {path}: not valid JSON")
    assert "line 1 column" in message


def test_bad_toml_is_refused_with_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, "providers.toml", "format = 1\n[[providers]\n")

    message = refusal(path)

    assert message.startswith(f"providers file {path}: not valid TOML")
    assert "line 2" in message


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", {"format": 2, "providers": []})

    assert refusal(path) == f"providers file {path}: format: Input should be 1"


def test_a_file_without_providers_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", {"format": 1})

    assert refusal(path) == f"providers file {path}: 'providers' is required"


def test_two_entries_of_one_name_are_refused(tmp_path: Path) -> None:
    entry = VLLM_JSON["providers"][0]
    path = write(tmp_path, "p.json", {"format": 1, "providers": [entry, entry]})

    assert refusal(path) == (
        f"providers file {path}: provider 'vllm' is given more than once"
    )


def test_an_unknown_field_is_refused_not_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", vllm_with(base_uri="http://gpu-2:8000/v1"))

    message = refusal(path)

    assert message.startswith(
        f"providers file {path}: provider 'vllm': unknown field 'base_uri'"
    )


def test_an_entry_without_a_name_is_named_by_its_position(tmp_path: Path) -> None:
    entry = {k: v for k, v in VLLM_JSON["providers"][0].items() if k != "name"}
    path = write(tmp_path, "p.json", {"format": 1, "providers": [entry]})

    assert refusal(path) == (
        f"providers file {path}: providers entry 1: 'name' is required"
    )


def test_a_fractional_price_is_refused_not_rounded(tmp_path: Path) -> None:
    price = {"input_per_mtok": 0.05, "output_per_mtok": 0.10}
    path = write(tmp_path, "p.json", model_with(price=price))

    assert refusal(path) == (
        f"providers file {path}: provider 'vllm', model "
        "'meta-llama/Llama-3.1-8B-Instruct' (models entry 1): "
        "price.input_per_mtok: Input should be a valid integer of micro-dollars "
        "per million tokens ($0.05 is 50000)"
    )


def test_a_price_needs_both_input_and_output(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", model_with(price={"input_per_mtok": 5}))

    assert refusal(path).endswith(": 'price.output_per_mtok' is required")


def test_an_unknown_auth_scheme_is_refused_listing_the_schemes(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", vllm_with(auth="Bearer"))

    assert refusal(path) == (
        f"providers file {path}: provider 'vllm': auth: Input should be "
        "'bearer', 'header', 'query', 'sigv4' or 'none'"
    )


def test_an_unknown_capability_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", model_with(capabilities={"audio": True}))

    assert refusal(path).endswith("unknown field 'capabilities.audio'")


def test_a_misplaced_string_is_described_never_echoed(tmp_path: Path) -> None:
    pasted = "sk-live-0123456789abcdef"
    path = write(tmp_path, "p.json", vllm_with(credential_env=pasted))

    message = refusal(path)

    assert message.endswith("credential_env: Input should be a valid list")
    assert pasted not in message


def test_the_example_in_the_configuration_docs_reads(tmp_path: Path) -> None:
    docs = Path(__file__).parents[2] / "docs" / "configuration.md"
    section = docs.read_text().split("## Your own endpoints")[1]
    example = section.split("```toml\n")[1].split("```")[0]

    [vllm] = read_providers_file(write(tmp_path, "providers.toml", example))

    assert (vllm.name, vllm.auth, vllm.base_url) == (
        "vllm",
        AuthScheme.NONE,
        "http://gpu-1.internal:8000/v1",
    )
    assert vllm.models[0].price == Price(50_000, 100_000)
    assert vllm.models[0].aliases == ("llama-3-8b",)
