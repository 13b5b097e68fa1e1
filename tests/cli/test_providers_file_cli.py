"""``MEGAROUTER_PROVIDERS_FILE`` as an operator meets it on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from megarouter.cli import plugins
from megarouter.testing.fake_http import free_port

app = typer.Typer()
app.add_typer(plugins.app, name="plugins")
app.add_typer(plugins.models_app, name="models")
runner = CliRunner()

VLLM_ON_GPU_1 = """
format = 1

[[providers]]
name = "vllm"
family = "openai"
base_url = "http://gpu-1.internal:8000/v1"
auth = "none"
self_hosted = true

[[providers.models]]
id = "meta-llama/Llama-3.1-8B-Instruct"
context_window = 131072
price = { input_per_mtok = 50_000, output_per_mtok = 100_000 }
aliases = ["llama-3-8b"]
"""


@pytest.fixture
def providers_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The docs' example file, named by the environment; every plugin allowed."""
    path = tmp_path / "providers.toml"
    path.write_text(VLLM_ON_GPU_1)
    monkeypatch.setenv("MEGAROUTER_PROVIDERS_FILE", str(path))
    monkeypatch.delenv("MEGAROUTER_PLUGINS", raising=False)
    monkeypatch.delenv("MEGAROUTER_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return path


def test_models_list_shows_the_files_models_and_where_they_came_from(
    providers_file: Path,
) -> None:
    result = runner.invoke(app, ["models", "list", "--provider", "vllm", "--json"])

    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    assert model["id"] == "vllm/meta-llama/Llama-3.1-8B-Instruct"
    assert model["price"] == {
        "input_micros_per_mtok": 50_000,
        "output_micros_per_mtok": 100_000,
    }
    assert model["origin"] == f"providers file {providers_file}"


def test_models_table_names_the_file_under_it(providers_file: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--provider", "vllm"])

    assert result.exit_code == 0, result.output
    assert "$0.05" in result.stdout and "$0.10" in result.stdout
    caption = " ".join(result.stdout.split())  # the caption wraps at the table
    assert f"From providers file {providers_file}: vllm" in caption


def test_plugins_list_shows_the_file_as_an_origin(providers_file: Path) -> None:
    result = runner.invoke(app, ["plugins", "list", "--json"])

    assert result.exit_code == 0, result.output
    listed = {p["plugin"]: p for p in json.loads(result.stdout)["plugins"]}
    assert listed["providers-file"]["file"] == str(providers_file)
    assert listed["providers-file"]["providers"] == ["vllm"]
    assert "vllm" not in listed["openai"]["providers"]


def test_a_bad_file_stops_the_models_listing_with_its_message(
    providers_file: Path,
) -> None:
    providers_file.write_text(VLLM_ON_GPU_1.replace('"openai"', '"openia"'))

    result = runner.invoke(app, ["models", "list"])

    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: providers file {providers_file}: provider 'vllm': unknown "
        "family 'openia'; the loaded plugins bring "
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_stops_on_a_bad_file_before_opening_storage(
    tmp_path: Path, workers: str
) -> None:
    path = tmp_path / "providers.toml"
    path.write_text(VLLM_ON_GPU_1.replace("50_000", "0.05"))
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAROUTER_")}
    env |= {
        "MEGAROUTER_PROVIDERS_FILE": str(path),
        "MEGAROUTER_DATA_DIR": str(data_dir),
        "MEGAROUTER_LISTEN": f"127.0.0.1:{free_port()}",
        "MEGAROUTER_WORKERS": workers,  # 2: the supervisor checks it first
    }

    done = subprocess.run(
        [sys.executable, "-m", "megarouter", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"megarouter: providers file {path}: provider 'vllm', model "
        "'meta-llama/Llama-3.1-8B-Instruct' (models entry 1): "
        "price.input_per_mtok: Input should be a valid integer of micro-dollars "
        "per million tokens ($0.05 is 50000)"
    )
    assert not (data_dir / "megarouter.db").exists()
