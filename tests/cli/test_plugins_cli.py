"""``megarouter plugins ...`` and ``megarouter models ...`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from megarouter.cli import plugins

# The two command groups as `megarouter` mounts them, without the other areas'
# commands (test_megarouter_command_mounts_plugins_and_models checks the mount).
app = typer.Typer()
app.add_typer(plugins.app, name="plugins")
app.add_typer(plugins.models_app, name="models")

PLUGIN_MODULE = textwrap.dedent("""
    from collections.abc import AsyncIterator

    from megarouter.providers import (
        Capabilities, ModelMode, ModelSpec, Price, ProviderAdapter, ProviderSpec,
        hookimpl,
    )
    from megarouter.providers.types import ChatChunk, ChatRequest, ChatResponse

    class QuietAdapter(ProviderAdapter):
        family = "quiet"

        async def complete(self, request: ChatRequest) -> ChatResponse:
            return ChatResponse("")

        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
            yield ChatChunk()

    @hookimpl
    def register_families(register):
        register(QuietAdapter)

    @hookimpl
    def register_providers(register):
        register(ProviderSpec(name="quiet-cloud", family="quiet", models=(
            ModelSpec("q-large", context_window=128000,
                      price=Price(150_000, 600_000),
                      capabilities=Capabilities(tools=True)),
            ModelSpec("q-preview", context_window=32000),
            ModelSpec("q-embed", mode=ModelMode.EMBEDDING, price=Price(20_000),
                      capabilities=Capabilities(streaming=False, embeddings=True)),
        )))
""")


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


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A working plugin 'quiet' and a broken one 'noisy', and only those allowed."""
    site = tmp_path / "site"
    site.mkdir()
    site.joinpath("mr_cli_quiet_plugin.py").write_text(PLUGIN_MODULE)
    site.joinpath("mr_cli_noisy_plugin.py").write_text("raise RuntimeError('boom')\n")
    install_fake_distribution(site, "megarouter-quiet", "1.2.0",
                              {"quiet": "mr_cli_quiet_plugin"})
    install_fake_distribution(site, "megarouter-noisy", "0.9.1",
                              {"noisy": "mr_cli_noisy_plugin"})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("MEGAROUTER_PLUGINS", "quiet,noisy")
    monkeypatch.delenv("MEGAROUTER_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # keep rich tables on one line per row


runner = CliRunner()


def test_megarouter_command_mounts_plugins_and_models() -> None:
    from megarouter.cli.main import app as megarouter_app

    result = runner.invoke(megarouter_app, ["--help"])

    assert result.exit_code == 0, result.output
    assert "plugins" in result.stdout and "models" in result.stdout


def test_plugins_list_json_shows_each_plugin_and_its_problems(installed: None) -> None:
    result = runner.invoke(app, ["plugins", "list", "--json"])

    assert result.exit_code == 0, result.output
    listed = {p["plugin"]: p for p in json.loads(result.stdout)["plugins"]}
    assert listed["quiet"] == {
        "plugin": "quiet", "distribution": "megarouter-quiet", "version": "1.2.0",
        "families": ["quiet"], "providers": ["quiet-cloud"], "models": 3,
        "problems": [],
    }
    assert listed["noisy"]["version"] == "0.9.1"
    assert "RuntimeError: boom" in listed["noisy"]["problems"][0]


def test_plugins_list_table_shows_distribution_counts_and_problems(
    installed: None,
) -> None:
    result = runner.invoke(app, ["plugins", "list"])

    assert result.exit_code == 0, result.output
    quiet_row = next(line for line in result.stdout.splitlines() if "quiet" in line)
    for cell in ("megarouter-quiet 1.2.0", "quiet", "1", "3", "-"):
        assert cell in quiet_row
    assert "RuntimeError: boom" in result.stdout


def test_models_list_shows_prices_per_million_and_unpriced(installed: None) -> None:
    result = runner.invoke(app, ["models", "list"])

    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.stdout.splitlines()
            if "quiet-cloud/" in line}
    assert "$0.15" in rows["quiet-cloud/q-large"]
    assert "$0.60" in rows["quiet-cloud/q-large"]
    assert "128,000" in rows["quiet-cloud/q-large"]
    assert "streaming, tools" in rows["quiet-cloud/q-large"]
    assert rows["quiet-cloud/q-preview"].count("unpriced") == 2
    assert "$0.00" not in rows["quiet-cloud/q-preview"]


def test_models_list_filters_by_provider_and_mode(installed: None) -> None:
    result = runner.invoke(
        app, ["models", "list", "--provider", "quiet-cloud", "--mode", "embedding",
              "--json"],
    )

    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    assert model["id"] == "quiet-cloud/q-embed"
    assert model["price"] == {"input_micros_per_mtok": 20_000,
                              "output_micros_per_mtok": 0}
    assert model["capabilities"] == ["embeddings"]


def test_models_list_json_gives_unpriced_model_a_null_price(installed: None) -> None:
    result = runner.invoke(app, ["models", "list", "--provider", "quiet-cloud",
                                 "--mode", "chat", "--json"])

    prices = {m["model"]: m["price"] for m in json.loads(result.stdout)["models"]}
    assert prices == {
        "q-large": {
            "input_micros_per_mtok": 150_000, "output_micros_per_mtok": 600_000
        },
        "q-preview": None,
    }


def test_models_list_for_unknown_provider_fails(installed: None) -> None:
    result = runner.invoke(app, ["models", "list", "--provider", "nobody"])

    assert result.exit_code == 1
    assert "no provider named 'nobody'" in result.output


@pytest.mark.parametrize(
    ("micros", "shown"),
    [(150_000, "$0.15"), (2_500_000, "$2.50"), (1, "$0.000001"),
     (1_613_330, "$1.61333"), (0, "$0.00"), (75_000_000, "$75.00")],
)
def test_prices_show_dollars_per_million_exactly(micros: int, shown: str) -> None:
    assert plugins.format_usd_per_mtok(micros) == shown


def test_plugins_new_scaffolds_a_distribution(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plugins", "new", "acme-ai", "--dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    root = tmp_path / "megarouter-acme-ai"
    pyproject = root.joinpath("pyproject.toml").read_text()
    assert 'name = "megarouter-acme-ai"' in pyproject
    assert 'acme-ai = "megarouter_acme_ai.plugin"' in pyproject
    for module in ("adapter", "plugin", "fake"):
        assert root.joinpath("megarouter_acme_ai", f"{module}.py").is_file()
    catalog = json.loads(root.joinpath("megarouter_acme_ai/catalog.json").read_text())
    assert catalog["providers"][0]["name"] == "acme-ai"
    assert "class TestAcmeAiConformance(AdapterConformance)" in root.joinpath(
        "tests/test_conformance.py"
    ).read_text()


@pytest.mark.parametrize("name", ["Acme", "acme_ai", "1acme", "acme-", "a/b"])
def test_plugins_new_rejects_a_bad_name(tmp_path: Path, name: str) -> None:
    result = runner.invoke(app, ["plugins", "new", name, "--dir", str(tmp_path)])

    assert result.exit_code == 2
    assert "plugin name" in result.output
    assert list(tmp_path.iterdir()) == []


def test_plugins_new_refuses_to_overwrite(tmp_path: Path) -> None:
    tmp_path.joinpath("megarouter-acme").mkdir()

    result = runner.invoke(app, ["plugins", "new", "acme", "--dir", str(tmp_path)])

    assert result.exit_code == 2
    assert "already exists" in result.output


@pytest.mark.slow
def test_scaffolded_plugin_installs_and_passes_the_conformance_kit(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["plugins", "new", "scaffoldtest", "--dir",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "megarouter-scaffoldtest"
    pip = [sys.executable, "-m", "pip"]

    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(root)],
        check=True, capture_output=True,
    )
    try:
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=root, capture_output=True, text=True, timeout=300,
            env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
        )
    finally:
        subprocess.run([*pip, "uninstall", "-y", "-q", "megarouter-scaffoldtest"],
                       check=True, capture_output=True)

    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
    assert "failed" not in tests.stdout and "skipped" not in tests.stdout
