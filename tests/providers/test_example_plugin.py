"""A third-party plugin, pip-installed, shows up in ``megarouter plugins list``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "megarouter-example-plugin"


def megarouter(*args: str) -> dict[str, list[dict[str, object]]]:
    """Run the installed ``megarouter`` command and parse its JSON output."""
    command = Path(sys.executable).parent / "megarouter"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MEGAROUTER_PLUGINS", "MEGAROUTER_CONFIG")}
    result = subprocess.run(
        [str(command), *args], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, list[dict[str, object]]] = json.loads(result.stdout)
    return parsed


@pytest.mark.slow
def test_installed_example_plugin_is_listed_with_its_provider(tmp_path: Path) -> None:
    source = tmp_path / "megarouter-example-plugin"  # build outside the repo
    shutil.copytree(EXAMPLE, source)
    pip = [sys.executable, "-m", "pip"]

    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-build-isolation", str(source)],
        check=True, capture_output=True,
    )
    try:
        listed = megarouter("plugins", "list", "--json")["plugins"]
    finally:
        subprocess.run([*pip, "uninstall", "-y", "-q", "megarouter-example-plugin"],
                       check=True, capture_output=True)

    [example] = [p for p in listed if p["plugin"] == "example-echo"]
    assert example["distribution"] == "megarouter-example-plugin"
    assert example["version"] == "0.1.0"
    assert example["families"] == ["example-echo"]
    assert example["providers"] == ["example-echo"]
    assert example["models"] == 1
    assert example["problems"] == []
