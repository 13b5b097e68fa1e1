"""The ``megarouter`` command starts without importing the server's libraries.

Every command module is imported to build ``megarouter --help``, so each
imports its heavy dependencies inside the commands. These tests run a fresh
interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from megarouter import client_transport
from megarouter.cli import admin_reports, admin_session, plugins, router
from megarouter.governance.analytics_sql import Dimension, Granularity
from megarouter.providers.spec import ModelMode
from megarouter.routing import production

HEAVY = ("grpc", "sqlalchemy", "numpy", "scipy", "casbin", "megarouter.server")
TOP_LEVEL_COMMANDS = (
    "serve",
    "route",
    "complete",
    "db",
    "admin",
    "router",
    "plugins",
    "models",
)


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after running ``code``."""
    script = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert loaded_after("import megarouter.cli.main") == []


@pytest.mark.parametrize(
    "command",
    [
        "",
        "serve",
        "db upgrade",
        "admin",
        "admin keys list",
        "admin report usage",
        "router fit",
        "plugins new",
        "models list",
        "models available",
        "route",
        "complete",
    ],
)
def test_help_of_a_command_loads_no_heavy_library(command: str) -> None:
    # Building help resolves every command's parameter types.
    code = (
        "from typer.testing import CliRunner\n"
        "from megarouter.cli.main import app\n"
        f"result = CliRunner().invoke(app, [*{command.split()!r}, '--help'])\n"
        "assert result.exit_code == 0, result.output"
    )
    assert loaded_after(code) == []


def test_help_lists_every_top_level_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "megarouter", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )

    assert done.returncode == 0, done.stderr
    listed = {
        line.strip("│ ").split()[0]
        for line in done.stdout.splitlines()
        if line.startswith("│ ") and line.strip("│ ")
    }
    assert set(TOP_LEVEL_COMMANDS) <= listed, done.stdout


# The CLI repeats a few names of heavy modules so that --help need not import
# them; these keep the copies honest.


def test_admin_session_names_match_the_client() -> None:
    assert admin_session.DEFAULT_TARGET == client_transport.DEFAULT_TARGET
    assert admin_session.TARGET_ENV == client_transport.TARGET_ENV
    assert admin_session.API_KEY_ENV == client_transport.API_KEY_ENV
    assert admin_session.ALL_PRINCIPALS == client_transport.ALL_PRINCIPALS


def test_report_choices_match_the_analytics_dimensions_and_granularities() -> None:
    dimensions = list(admin_reports.DimensionChoice)
    granularities = list(admin_reports.GranularityChoice)

    assert [choice.dimension for choice in dimensions] == list(Dimension)
    assert [choice.granularity for choice in granularities] == list(Granularity)
    assert set(admin_reports.DIMENSION_TO_PB) == set(dimensions)
    assert set(admin_reports.GRANULARITY_TO_PB) == set(granularities)


def test_plugin_mode_choices_match_the_model_modes() -> None:
    assert [mode.value for mode in plugins.Mode] == [mode.value for mode in ModelMode]


def test_router_min_rows_default_matches_production() -> None:
    assert router.DEFAULT_MIN_ROWS == production.DEFAULT_MIN_ROWS
