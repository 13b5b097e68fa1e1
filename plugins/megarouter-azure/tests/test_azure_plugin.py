"""The plugin's hooks, called through a pluggy PluginManager built inline."""

from __future__ import annotations

from pathlib import Path

import pluggy
from megarouter_azure import plugin
from megarouter_azure.adapter import AzureOpenAIAdapter
from megarouter_openai.adapter import OpenAIAdapter

from megarouter.catalog.specfile import dump_provider_specs
from megarouter.providers import AuthScheme, ProviderAdapter, ProviderSpec, hookspecs


def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    return manager


def test_register_families_registers_the_azure_adapter_only() -> None:
    families: list[type[ProviderAdapter]] = []

    plugin_manager().hook.register_families(register=families.append)

    assert families == [AzureOpenAIAdapter]
    assert families[0].family == "azure_openai"
    assert families[0].family != OpenAIAdapter.family


def test_register_providers_registers_what_the_packaged_catalog_lists() -> None:
    providers: list[ProviderSpec] = []

    plugin_manager().hook.register_providers(register=providers.append)

    assert providers == plugin.catalog_specs()
    assert all(spec.family == "azure_openai" for spec in providers)


def test_catalog_specs_reads_a_catalog_file(tmp_path: Path) -> None:
    spec = ProviderSpec(
        name="azure",
        family="azure_openai",
        base_url="https://example.openai.azure.com",
        auth=AuthScheme.HEADER,
        auth_header="api-key",
        options={"api_version": "2024-10-21"},
    )
    path = tmp_path / "catalog.json"
    path.write_text(dump_provider_specs([spec]), encoding="utf-8")

    assert plugin.catalog_specs(path) == [spec]


def test_catalog_specs_is_empty_when_the_file_is_absent(tmp_path: Path) -> None:
    assert plugin.catalog_specs(tmp_path / "catalog.json") == []
