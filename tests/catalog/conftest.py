"""Shared fixtures: the catalogs the build script wrote into the plugins."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from megarouter.catalog.specfile import load_provider_specs
from megarouter.providers.spec import ProviderSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (
    REPO_ROOT.parent / "shared/data/reference/model_prices_and_context_window.json"
)
CATALOGS = {
    "openai": "plugins/megarouter-openai/megarouter_openai/catalog.json",
    "azure_openai": "plugins/megarouter-azure/megarouter_azure/catalog.json",
    "anthropic": "plugins/megarouter-anthropic/megarouter_anthropic/catalog.json",
    "gemini": "plugins/megarouter-gemini/megarouter_gemini/catalog.json",
    "bedrock": "plugins/megarouter-bedrock/megarouter_bedrock/catalog.json",
    "cohere": "plugins/megarouter-cohere/megarouter_cohere/catalog.json",
    "ollama": "plugins/megarouter-ollama/megarouter_ollama/catalog.json",
}


@pytest.fixture(scope="session")
def catalogs() -> dict[str, list[ProviderSpec]]:
    """Every shipped catalog, by the family whose plugin ships it."""
    return {
        family: load_provider_specs(REPO_ROOT / path)
        for family, path in CATALOGS.items()
    }


@pytest.fixture(scope="session")
def providers(catalogs: dict[str, list[ProviderSpec]]) -> dict[str, ProviderSpec]:
    """Every shipped provider, by name."""
    return {spec.name: spec for specs in catalogs.values() for spec in specs}


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    """The reference model table, numbers read exactly as written."""
    document: dict[str, Any] = json.loads(
        REFERENCE.read_text(encoding="utf-8"), parse_float=Decimal
    )
    return document


@pytest.fixture(scope="session")
def reference_path() -> Path:
    """Where the reference model table lives beside the repository."""
    return REFERENCE
