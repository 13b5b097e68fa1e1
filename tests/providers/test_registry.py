"""The plugin host loads good plugins, reports bad ones and finds models."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from megarouter.errors import NotFound
from megarouter.providers import hookimpl
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.registry import (
    ProviderRegistry,
    parse_allow_list,
    split_global_model_id,
)
from megarouter.providers.spec import ModelSpec, Price, ProviderSpec
from megarouter.providers.types import ChatChunk, ChatRequest, ChatResponse


class EchoAdapter(ProviderAdapter):
    family = "echo"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(request.messages[-1].text_content)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(request.messages[-1].text_content)


class FamilyPlugin:
    @hookimpl
    def register_families(self, register: Callable[[Any], None]) -> None:
        register(EchoAdapter)


def provider_plugin(*specs: Any) -> object:
    """A plugin object registering ``specs`` as providers."""

    class ProviderPlugin:
        @hookimpl
        def register_providers(self, register: Callable[[Any], None]) -> None:
            for spec in specs:
                register(spec)

    return ProviderPlugin()


def spec(name: str = "echo-cloud", family: str = "echo", **kwargs: Any) -> ProviderSpec:
    models = kwargs.pop("models", (
        ModelSpec("echo-large", price=Price(1_000_000, 2_000_000), aliases=("big",)),
        ModelSpec("org/echo-small"),
    ))
    return ProviderSpec(name=name, family=family, models=models, **kwargs)


@pytest.fixture
def registry() -> Iterator[ProviderRegistry]:
    """A registry with the echo family plugin; plugins are unregistered after."""
    host = ProviderRegistry()
    host.register(FamilyPlugin(), name="echo-family")
    yield host
    for origin in host.plugins:
        host.unregister(origin.plugin)


def test_load_registers_families_then_providers_whatever_the_plugin_order() -> None:
    host = ProviderRegistry()
    host.register(provider_plugin(spec()), name="echo-providers")
    host.register(FamilyPlugin(), name="echo-family")

    host.load(entry_points=False)

    assert host.families == {"echo": EchoAdapter}
    assert host.providers["echo-cloud"].spec == spec()
    assert host.providers["echo-cloud"].origin.plugin == "echo-providers"
    assert host.adapter_class("echo-cloud") is EchoAdapter
    assert host.problems == ()
    host.unregister("echo-providers")
    host.unregister("echo-family")


def test_load_twice_does_nothing_the_second_time(registry: ProviderRegistry) -> None:
    registry.load(entry_points=False)
    registry.register(provider_plugin(spec()), name="late")

    registry.load(entry_points=False)

    assert "echo-cloud" not in registry.providers


def test_hook_that_raises_skips_its_plugin_and_keeps_the_others(
    registry: ProviderRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    class Exploding:
        @hookimpl
        def register_providers(self, register: Callable[[Any], None]) -> None:
            register(spec("half-done"))
            raise RuntimeError("catalog file missing")

    registry.register(Exploding(), name="exploding")
    registry.register(provider_plugin(spec()), name="good")

    with caplog.at_level(logging.WARNING, logger="megarouter.providers.registry"):
        registry.load(entry_points=False)

    assert set(registry.providers) == {"echo-cloud"}
    [problem] = registry.problems
    assert problem.origin.plugin == "exploding"
    assert "RuntimeError: catalog file missing" in problem.message
    assert "exploding" in caplog.text and "catalog file missing" in caplog.text


def test_provider_on_unknown_family_is_reported_and_skipped(
    registry: ProviderRegistry,
) -> None:
    registry.register(
        provider_plugin(spec("orphan", family="nowhere"), spec()), name="mixed"
    )

    registry.load(entry_points=False)

    assert set(registry.providers) == {"echo-cloud"}
    [problem] = registry.problems
    assert problem.origin.plugin == "mixed"
    assert "unknown family 'nowhere'" in problem.message


def test_duplicate_provider_is_reported_against_the_second_plugin(
    registry: ProviderRegistry,
) -> None:
    registry.register(provider_plugin(spec()), name="first")
    registry.register(provider_plugin(spec(display_name="copy")), name="second")

    registry.load(entry_points=False)

    assert registry.providers["echo-cloud"].origin.plugin == "first"
    [problem] = registry.problems
    assert problem.origin.plugin == "second"
    assert "already registered by first" in problem.message


def test_duplicate_family_is_reported_against_the_second_plugin(
    registry: ProviderRegistry,
) -> None:
    registry.register(FamilyPlugin(), name="echo-family-again")

    registry.load(entry_points=False)

    assert registry.family_origins["echo"].plugin == "echo-family"
    [problem] = registry.problems
    assert problem.origin.plugin == "echo-family-again"


@pytest.mark.parametrize(
    ("bad", "complaint"),
    [
        (spec("Echo/Cloud"), "lowercase"),
        (spec(models=(ModelSpec("a"), ModelSpec("b", aliases=("a",)))), "used twice"),
        (spec(models=(ModelSpec("a", price=Price(-1)),)), "price"),
        (spec(base_url="ftp://example.test"), "base_url"),
        ({"name": "dict-cloud", "family": "echo"}, "not a ProviderSpec"),
    ],
)
def test_invalid_spec_is_reported_and_skipped(
    registry: ProviderRegistry, bad: Any, complaint: str
) -> None:
    registry.register(provider_plugin(bad, spec("fine")), name="sloppy")

    registry.load(entry_points=False)

    assert set(registry.providers) == {"fine"}
    [problem] = registry.problems
    assert complaint in problem.message


def test_family_that_is_not_a_complete_adapter_is_reported() -> None:
    class HalfAdapter(ProviderAdapter):
        family = "half"

        async def complete(self, request: ChatRequest) -> ChatResponse:
            return ChatResponse("")

    class HalfPlugin:
        @hookimpl
        def register_families(self, register: Callable[[Any], None]) -> None:
            register(HalfAdapter)
            register(object)

    host = ProviderRegistry()
    host.register(HalfPlugin(), name="half")

    host.load(entry_points=False)

    assert host.families == {}
    messages = [p.message for p in host.problems]
    assert "does not implement stream" in messages[0]
    assert "not a ProviderAdapter subclass" in messages[1]
    host.unregister("half")


def test_model_found_by_id_alias_and_global_id(registry: ProviderRegistry) -> None:
    registry.register(provider_plugin(spec()), name="providers")
    registry.load(entry_points=False)

    assert registry.model("echo-cloud", "big").id == "echo-large"
    assert registry.find_model("echo-cloud/echo-large").model.id == "echo-large"
    assert registry.find_model("echo-cloud/big").global_id == "echo-cloud/echo-large"
    slashed = registry.find_model("echo-cloud/org/echo-small")
    assert (slashed.provider.name, slashed.model.id) == ("echo-cloud", "org/echo-small")
    assert [m.global_id for m in registry.models()] == [
        "echo-cloud/echo-large", "echo-cloud/org/echo-small"
    ]


@pytest.mark.parametrize(
    "global_id", ["echo-cloud/nope", "nowhere/echo-large", "echo-large", "/x", "x/"]
)
def test_unknown_or_malformed_global_id_is_not_found(
    registry: ProviderRegistry, global_id: str
) -> None:
    registry.register(provider_plugin(spec()), name="providers")
    registry.load(entry_points=False)

    with pytest.raises(NotFound):
        registry.find_model(global_id)


def test_split_global_model_id_splits_at_first_slash() -> None:
    assert split_global_model_id("together/meta-llama/Llama-3") == (
        "together", "meta-llama/Llama-3"
    )


def test_allow_list_parses_comma_separated_names() -> None:
    assert parse_allow_list(" openai, groq ,,") == frozenset({"openai", "groq"})
    assert parse_allow_list("") is None
    assert parse_allow_list(None) is None


# --- installed plugins, through entry points ---------------------------------


def install_fake_distribution(
    root: Path, dist: str, version: str, entry_points: dict[str, str]
) -> None:
    """Lay out a dist-info directory on ``root`` declaring ``entry_points``."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    )
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    info.joinpath("entry_points.txt").write_text(f"[megarouter]\n{lines}\n")


GOOD_PLUGIN = textwrap.dedent("""
    from megarouter.providers import ModelSpec, ProviderSpec, hookimpl

    @hookimpl
    def register_providers(register):
        register(ProviderSpec(name="{name}", family="echo",
                              models=(ModelSpec("m"),)))
""")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where tests lay out installed plugins."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_point_plugins_load_with_distribution_and_version(
    registry: ProviderRegistry, site: Path
) -> None:
    site.joinpath("mr_good_plugin_a.py").write_text(GOOD_PLUGIN.format(name="good-a"))
    install_fake_distribution(
        site, "megarouter-good-a", "1.4.2", {"good-a": "mr_good_plugin_a"}
    )

    registry.load()

    origin = registry.providers["good-a"].origin
    assert (origin.plugin, origin.distribution, origin.version) == (
        "good-a", "megarouter-good-a", "1.4.2"
    )


def test_entry_point_that_fails_to_import_is_reported_with_its_version(
    registry: ProviderRegistry, site: Path
) -> None:
    site.joinpath("mr_good_plugin_b.py").write_text(GOOD_PLUGIN.format(name="good-b"))
    site.joinpath("mr_broken_plugin_b.py").write_text("import not_a_module_anywhere\n")
    install_fake_distribution(
        site, "megarouter-broken-b", "0.0.3", {"broken-b": "mr_broken_plugin_b"}
    )
    install_fake_distribution(
        site, "megarouter-good-b", "2.0", {"good-b": "mr_good_plugin_b"}
    )

    registry.load(allow={"broken-b", "good-b"})

    assert "good-b" in registry.providers
    [problem] = registry.problems
    assert problem.origin.distribution == "megarouter-broken-b"
    assert problem.origin.version == "0.0.3"
    assert "ModuleNotFoundError" in problem.message
    assert "broken-b (megarouter-broken-b 0.0.3)" in str(problem)


def test_allow_list_loads_only_named_entry_points(
    registry: ProviderRegistry, site: Path
) -> None:
    for name in ("c1", "c2"):
        site.joinpath(f"mr_plugin_{name}.py").write_text(GOOD_PLUGIN.format(name=name))
    install_fake_distribution(
        site, "megarouter-c", "1.0", {"c1": "mr_plugin_c1", "c2": "mr_plugin_c2"}
    )

    registry.load(allow={"c2", "not-installed"})

    assert "c2" in registry.providers
    assert "c1" not in registry.providers
    [problem] = registry.problems
    assert problem.origin.plugin == "not-installed"
    assert "MEGAROUTER_PLUGINS" in problem.message


def test_entry_points_are_ignored_when_turned_off(
    registry: ProviderRegistry, site: Path
) -> None:
    site.joinpath("mr_plugin_d.py").write_text(GOOD_PLUGIN.format(name="d"))
    install_fake_distribution(site, "megarouter-d", "1.0", {"d": "mr_plugin_d"})

    registry.load(entry_points=False)

    assert "d" not in registry.providers
