"""The registry applies a deployment's providers file over its plugins."""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from megarouter.errors import ConfigurationError
from megarouter.providers.registry import PluginOrigin, ProviderRegistry
from megarouter.providers.spec import AuthScheme, ModelSpec, Price
from tests.providers.test_registry import FamilyPlugin, provider_plugin, spec

ON_PREMISE = {
    "name": "echo-onprem",
    "family": "echo",
    "base_url": "http://echo.internal:9000/v1",
    "auth": "none",
    "models": [
        {
            "id": "echo-tuned",
            "price": {"input_per_mtok": 10_000, "output_per_mtok": 20_000},
            "aliases": ["tuned"],
        }
    ],
}
# Replaces the plugin's echo-cloud: another host, another model, no key.
MOVED_CLOUD = {
    "name": "echo-cloud",
    "family": "echo",
    "base_url": "http://echo-2.internal:9000/v1",
    "auth": "none",
    "models": [{"id": "echo-xl"}],
}


def write_json(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"format": 1, "providers": list(entries)}))
    return path


@pytest.fixture
def loaded() -> Iterator[ProviderRegistry]:
    """The echo family and its echo-cloud provider, loaded from plugins."""
    host = ProviderRegistry()
    host.register(FamilyPlugin(), name="echo-family")
    host.register(provider_plugin(spec()), name="echo-providers")
    host.load(entry_points=False)
    yield host
    for origin in host.plugins:
        host.unregister(origin.plugin)


def refusal(registry: ProviderRegistry, path: Path) -> str:
    with pytest.raises(ConfigurationError) as caught:
        registry.apply_providers_file(path)
    return str(caught.value)


def test_a_new_name_adds_a_provider_over_a_plugins_family(
    loaded: ProviderRegistry, tmp_path: Path
) -> None:
    path = write_json(tmp_path, ON_PREMISE)

    loaded.apply_providers_file(path)

    registered = loaded.providers["echo-onprem"]
    assert registered.origin == PluginOrigin.providers_file(path)
    assert str(registered.origin) == f"providers file {path}"
    assert registered.replaced is None
    assert registered.spec.auth is AuthScheme.NONE
    found = loaded.find_model("echo-onprem/tuned").model
    assert found == ModelSpec("echo-tuned", price=Price(10_000, 20_000),
                              aliases=("tuned",))
    assert loaded.providers["echo-cloud"].origin.plugin == "echo-providers"


def test_a_registered_name_is_replaced_wholesale_and_remembers_whose_it_was(
    loaded: ProviderRegistry, tmp_path: Path
) -> None:
    path = write_json(tmp_path, MOVED_CLOUD)

    loaded.apply_providers_file(path)

    registered = loaded.providers["echo-cloud"]
    assert registered.origin.file == str(path)
    assert registered.replaced == PluginOrigin("echo-providers")
    assert registered.spec.base_url == "http://echo-2.internal:9000/v1"
    assert [m.global_id for m in loaded.models()] == ["echo-cloud/echo-xl"]
    assert loaded.adapter_class("echo-cloud").family == "echo"


def test_an_unknown_family_is_refused_listing_the_loaded_ones(
    loaded: ProviderRegistry, tmp_path: Path
) -> None:
    path = write_json(tmp_path, {**ON_PREMISE, "family": "openai"})

    assert refusal(loaded, path) == (
        f"providers file {path}: provider 'echo-onprem': unknown family "
        "'openai'; the loaded plugins bring echo"
    )


def test_an_invalid_name_is_refused(loaded: ProviderRegistry, tmp_path: Path) -> None:
    path = write_json(tmp_path, {**ON_PREMISE, "name": "Echo OnPrem"})

    assert refusal(loaded, path) == (
        f"providers file {path}: provider 'Echo OnPrem': a name must be "
        "lowercase letters, digits, '.', '_' or '-'"
    )


def test_a_base_url_without_a_scheme_is_refused(
    loaded: ProviderRegistry, tmp_path: Path
) -> None:
    path = write_json(tmp_path, {**ON_PREMISE, "base_url": "echo.internal:9000"})

    assert refusal(loaded, path) == (
        f"providers file {path}: provider 'echo-onprem': base_url must be an "
        "http(s) URL"
    )


def test_a_model_name_used_twice_is_refused(
    loaded: ProviderRegistry, tmp_path: Path
) -> None:
    models = [{"id": "echo-tuned"}, {"id": "echo-2", "aliases": ["echo-tuned"]}]
    path = write_json(tmp_path, {**ON_PREMISE, "models": models})

    assert refusal(loaded, path) == (
        f"providers file {path}: provider 'echo-onprem': model name "
        "'echo-tuned' is used twice"
    )


def test_nothing_is_applied_when_one_entry_is_bad(
    loaded: ProviderRegistry, tmp_path: Path
) -> None:
    before = dict(loaded.providers)
    path = write_json(tmp_path, MOVED_CLOUD, {**ON_PREMISE, "family": "nope"})

    refusal(loaded, path)

    assert dict(loaded.providers) == before


def test_toml_and_json_files_give_the_same_registry(tmp_path: Path) -> None:
    toml_path = tmp_path / "providers.toml"
    toml_path.write_text(textwrap.dedent("""
        format = 1

        [[providers]]
        name = "echo-onprem"
        family = "echo"
        base_url = "http://echo.internal:9000/v1"
        auth = "none"

        [[providers.models]]
        id = "echo-tuned"
        price = { input_per_mtok = 10_000, output_per_mtok = 20_000 }
        aliases = ["tuned"]

        [[providers]]
        name = "echo-cloud"
        family = "echo"
        base_url = "http://echo-2.internal:9000/v1"
        auth = "none"
        models = [{ id = "echo-xl" }]
    """))
    json_path = write_json(tmp_path, ON_PREMISE, MOVED_CLOUD)

    registries = []
    for path in (toml_path, json_path):
        registry = ProviderRegistry()
        registry.register(FamilyPlugin(), name="echo-family")
        registry.register(provider_plugin(spec()), name="echo-providers")
        registry.load(entry_points=False, providers_file=path)
        registries.append(registry)
        for origin in registry.plugins:
            registry.unregister(origin.plugin)

    from_toml, from_json = ({n: r.spec for n, r in reg.providers.items()}
                            for reg in registries)
    assert from_toml == from_json
    assert sorted(from_toml) == ["echo-cloud", "echo-onprem"]


def test_load_raises_for_an_unreadable_file_though_plugin_problems_are_kept(
    tmp_path: Path,
) -> None:
    registry = ProviderRegistry()
    registry.register(FamilyPlugin(), name="echo-family")

    with pytest.raises(ConfigurationError, match="cannot read it"):
        registry.load(entry_points=False, providers_file=tmp_path / "missing.json")

    registry.unregister("echo-family")


def test_applying_a_file_before_the_plugins_load_is_a_programming_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError, match="load the plugins"):
        ProviderRegistry().apply_providers_file(write_json(tmp_path, ON_PREMISE))


def test_the_log_names_what_changed_but_never_a_url(
    loaded: ProviderRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with_password = {**ON_PREMISE, "base_url": "http://ops:hunter2@echo.internal/v1"}
    path = write_json(tmp_path, with_password, MOVED_CLOUD)

    with caplog.at_level(logging.INFO, logger="megarouter.providers.registry"):
        loaded.apply_providers_file(path)

    assert f"providers file {path}: added echo-onprem; replaced echo-cloud" in (
        caplog.text
    )
    assert "hunter2" not in caplog.text
