"""The plugin's hooks, called through an inline pluggy PluginManager."""

from __future__ import annotations

from pathlib import Path

import pluggy
from megarouter_gemini import plugin
from megarouter_gemini.adapter import GeminiAdapter

from megarouter.catalog.specfile import dump_provider_specs
from megarouter.providers import hookspecs
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import AuthScheme, ProviderSpec


def manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    return pm


def test_plugin_registers_the_gemini_family() -> None:
    families: list[type[ProviderAdapter]] = []

    manager().hook.register_families(register=families.append)

    assert families == [GeminiAdapter]
    assert families[0].family == "gemini"


def test_plugin_registers_only_gemini_providers_from_its_catalog() -> None:
    specs: list[ProviderSpec] = []

    manager().hook.register_providers(register=specs.append)

    assert all(spec.family == "gemini" for spec in specs)
    assert len({spec.name for spec in specs}) == len(specs)


def test_catalog_specs_reads_a_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(
        dump_provider_specs(
            [
                ProviderSpec(
                    name="google-ai-studio",
                    family="gemini",
                    base_url="https://generativelanguage.googleapis.com",
                    auth=AuthScheme.HEADER,
                    auth_header="x-goog-api-key",
                )
            ]
        )
    )

    specs = plugin.catalog_specs(path)

    assert [(s.name, s.auth) for s in specs] == [
        ("google-ai-studio", AuthScheme.HEADER)
    ]


def test_catalog_specs_is_empty_when_the_file_is_absent(tmp_path: Path) -> None:
    assert plugin.catalog_specs(tmp_path / "catalog.json") == []
