"""``megarouter admin report ...``: one command per question, as a user runs it.

The server runs once for the module over the ledger of
:mod:`tests.governance.report_ledger`; commands run in a worker thread
through typer's CliRunner, and the figures are those worked out by hand in
that module's docstring.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from megarouter.cli.admin import app
from megarouter.testing.server import RunningServer, running_server, server_settings
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin
from tests.governance.report_ledger import MINI, PREMIUM, seed_ledger

runner = CliRunner()
WEEK = ("--since", "2026-11-02T00:00:00Z", "--until", "2026-11-09T00:00:00Z")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("report-cli")
    settings = server_settings(f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}", Path(tmp))
    async with running_server(settings) as running, running.channel() as channel:
        await seed_ledger(running.database_url)
        await Admin(channel, running.admin_key).SetModelPrice(
            api.SetModelPriceRequest(
                name=f"orgs/default/models/{MINI}",
                price=pb.ModelPrice(
                    input_micros_per_mtok=100, output_micros_per_mtok=200
                ),
            )
        )
        yield running


async def report(server: RunningServer, *args: str) -> Result:
    argv = ["--target", server.target, "--key", server.admin_key, "report", *args]
    return await asyncio.to_thread(runner.invoke, app, argv)


async def report_json(server: RunningServer, *args: str) -> Any:
    result = await report(server, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_teams_report_answers_who_relies_on_ai_most(
    server: RunningServer, tmp_path: Path
) -> None:
    data = await report_json(server, "teams", *WEEK)
    chart = tmp_path / "teams.png"
    table = await report(server, "teams", *WEEK, "--chart", str(chart))

    rows = [(r["key"], r["calls"], r["cost_micros"]) for r in data["rows"]]
    assert rows == [("search", 4, 52_001), ("support", 2, 13_001), ("legal", 1, 13_000)]
    assert table.exit_code == 0, table.output
    assert "search" in table.stdout and "$0.0520" in table.stdout
    assert "█" in table.stdout  # the terminal bar chart
    assert chart.read_bytes().startswith(PNG_MAGIC)


async def test_usage_report_as_csv_by_team_and_day(
    server: RunningServer, tmp_path: Path
) -> None:
    result = await report(
        server, "usage", *WEEK, "--by", "team", "--team", "search",
        "--granularity", "day", "--format", "csv",
    )  # fmt: skip
    chart = tmp_path / "usage.png"
    drawn = await report(
        server, "usage", *WEEK, "--by", "team", "--granularity", "day",
        "--chart", str(chart),
    )  # fmt: skip
    no_time = await report(server, "usage", *WEEK, "--chart", str(tmp_path / "x.png"))

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["bucket"][:10], r["team"], r["cost_micros"]) for r in rows] == [
        ("2026-11-02", "search", "13000"),
        ("2026-11-03", "search", "39000"),
        ("2026-11-04", "search", "1"),
    ]
    assert drawn.exit_code == 0, drawn.output
    assert "Total: $0.0780" in drawn.stdout
    assert chart.read_bytes().startswith(PNG_MAGIC)
    assert no_time.exit_code == 2 and "--granularity" in no_time.output


async def test_scenarios_report_answers_which_create_value(
    server: RunningServer, tmp_path: Path
) -> None:
    data = await report_json(server, "scenarios", *WEEK)
    chart = tmp_path / "scenarios.png"
    table = await report(server, "scenarios", *WEEK, "--chart", str(chart))

    assert [r["scenario"] for r in data["rows"]] == ["tickets", "faq", "contracts"]
    assert data["rows"][1]["cost_per_good_outcome_micros"] == 26_001
    assert data["rows"][2]["mean_score"] is None
    assert table.exit_code == 0, table.output
    assert chart.read_bytes().startswith(PNG_MAGIC)


async def test_waste_report_answers_where_usage_is_wasted(
    server: RunningServer,
) -> None:
    data = await report_json(server, "waste", *WEEK)
    table = await report(server, "waste", *WEEK)

    rows = [
        (r["task_type"], r["model"], r["alternative"], r["saving_micros"])
        for r in data["rows"]
    ]
    assert rows == [
        ("classification", PREMIUM, MINI, 51_999),
        ("extraction", PREMIUM, MINI, 12_999),
    ]
    assert "83.3%" in data["title"]  # 64,998 of 78,002 could be saved
    assert table.exit_code == 0 and "█" in table.stdout


async def test_budget_report_answers_whether_the_budget_is_used_well(
    server: RunningServer, tmp_path: Path
) -> None:
    argv = ["--target", server.target, "--key", server.admin_key]
    created = await asyncio.to_thread(
        runner.invoke,
        app,
        [*argv, "budgets", "create", "org-month", "--scope", "org",
         "--period", "monthly", "--limit", "500"],
    )  # fmt: skip
    chart = tmp_path / "burn.png"
    data = await report_json(server, "budget", "org-month")
    table = await report(server, "budget", "org-month", "--chart", str(chart))

    assert created.exit_code == 0, created.output
    (row,) = data["rows"]
    assert row["limit_micros"] == 500_000_000
    assert row["remaining_micros"] == 500_000_000 - row["spent_micros"]
    assert table.exit_code == 0, table.output
    assert "At this pace" in table.stdout or "spent" in table.stdout
    assert chart.read_bytes().startswith(PNG_MAGIC)


async def test_report_of_an_unknown_budget_fails_cleanly(server: RunningServer) -> None:
    result = await report(server, "budget", "nope")

    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output
