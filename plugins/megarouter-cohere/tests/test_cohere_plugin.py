"""The plugin's hooks, registered through an inline pluggy PluginManager."""

from __future__ import annotations

from pathlib import Path

import pluggy
from megarouter_cohere import plugin
from megarouter_cohere.adapter import CohereAdapter

from megarouter.catalog.specfile import dump_provider_specs, load_provider_specs
from megarouter.providers import hookspecs
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import AuthScheme, ModelSpec, ProviderSpec


def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    return manager


def test_register_families_registers_the_cohere_adapter() -> None:
    families: list[type[ProviderAdapter]] = []

    plugin_manager().hook.register_families(register=families.append)

    assert families == [CohereAdapter]
    assert CohereAdapter.family == "cohere"


def test_register_providers_registers_the_packaged_catalog() -> None:
    specs: list[ProviderSpec] = []

    plugin_manager().hook.register_providers(register=specs.append)

    catalog = plugin.packaged_catalog()
    expected = load_provider_specs(catalog) if catalog.is_file() else []
    assert specs == expected
    assert all(spec.family == "cohere" for spec in specs)


def test_catalog_specs_reads_a_catalog_file(tmp_path: Path) -> None:
    spec = ProviderSpec(
        "cohere",
        "cohere",
        base_url="https://api.cohere.com",
        auth=AuthScheme.BEARER,
        credential_env=("CO_API_KEY",),
        models=(ModelSpec("command-x", max_output_tokens=8000),),
    )
    path = tmp_path / "catalog.json"
    path.write_text(dump_provider_specs([spec]))

    assert plugin.catalog_specs(path) == [spec]


def test_catalog_specs_is_empty_when_the_file_is_absent(tmp_path: Path) -> None:
    assert plugin.catalog_specs(tmp_path / "catalog.json") == []
