"""``megarouter admin budgets ...`` and ``ratelimits ...``, run as a user would.

The server runs on the test's event loop, so each command runs in a worker
thread through typer's CliRunner.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from typer.testing import CliRunner, Result

from megarouter.cli.admin import app
from megarouter.testing.server import RunningServer

runner = CliRunner()


async def admin(server: RunningServer, *args: str) -> Result:
    argv = ["--target", server.target, "--key", server.admin_key, *args]
    return await asyncio.to_thread(runner.invoke, app, argv)


async def admin_json(server: RunningServer, *args: str) -> Any:
    result = await admin(server, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_budgets_lifecycle_in_dollars(sqlite_server: RunningServer) -> None:
    created = await admin_json(
        sqlite_server,
        "budgets", "create", "ml-month",
        "--scope", "team", "--value", "ml",
        "--period", "monthly",
        "--limit", "250.000001",
        "--prefer-cheaper-below", "$20",
        "--soft",
    )  # fmt: skip
    table = await admin(sqlite_server, "budgets", "list")
    updated = await admin_json(
        sqlite_server,
        "budgets", "update", "ml-month",
        "--limit", "0.1", "--hard", "--prefer-cheaper-below", "never",
        "--etag", created["etag"],
    )  # fmt: skip
    stale = await admin(
        sqlite_server, "budgets", "update", "ml-month", "--limit", "1",
        "--etag", created["etag"],
    )  # fmt: skip
    status = await admin_json(sqlite_server, "budgets", "status", "ml-month")
    shown = await admin(sqlite_server, "budgets", "status", "ml-month")
    deleted = await admin_json(sqlite_server, "budgets", "delete", "ml-month")
    after = await admin_json(sqlite_server, "budgets", "list")

    assert created["name"] == "orgs/default/budgets/ml-month"
    assert created["limit_micros"] == "250000001"  # int64 in protobuf JSON
    assert created["prefer_cheaper_below_micros"] == "20000000"
    assert created["enforcement"] == "BUDGET_ENFORCEMENT_SOFT"
    assert table.exit_code == 0
    assert "ml-month" in table.stdout and "$250.000001" in table.stdout
    assert updated["limit_micros"] == "100000"
    assert updated["enforcement"] == "BUDGET_ENFORCEMENT_HARD"
    assert "prefer_cheaper_below_micros" not in updated
    assert stale.exit_code == 1 and "FAILED_PRECONDITION" in stale.output
    assert status["remaining_micros"] == "100000"
    assert "$0.10" in shown.stdout
    assert deleted == {"deleted": "orgs/default/budgets/ml-month"}
    assert after == {"budgets": []}


async def test_budget_amounts_finer_than_a_micro_dollar_are_refused(
    sqlite_server: RunningServer,
) -> None:
    fine = await admin(
        sqlite_server, "budgets", "create", "b", "--scope", "org",
        "--period", "daily", "--limit", "0.0000001",
    )  # fmt: skip
    words = await admin(
        sqlite_server, "budgets", "create", "b", "--scope", "org",
        "--period", "daily", "--limit", "lots",
    )  # fmt: skip
    no_value = await admin(
        sqlite_server, "budgets", "create", "b", "--scope", "team",
        "--period", "daily", "--limit", "1",
    )  # fmt: skip

    assert fine.exit_code == 2 and "finer than a micro-dollar" in fine.output
    assert words.exit_code == 2 and "not a number" in words.output
    assert no_value.exit_code == 2 and "--value" in no_value.output
    assert await admin_json(sqlite_server, "budgets", "list") == {"budgets": []}


async def test_ratelimits_lifecycle_on_a_team_and_a_key(
    sqlite_server: RunningServer,
) -> None:
    assert (await admin(sqlite_server, "teams", "create", "ml")).exit_code == 0
    key = await admin_json(sqlite_server, "keys", "create", "admin")
    key_id = key["api_key"]["name"].rsplit("/", 1)[1]

    team_limit = await admin_json(
        sqlite_server, "ratelimits", "create", "ml", "--team", "ml", "--rpm", "600"
    )
    key_limit = await admin_json(
        sqlite_server, "ratelimits", "create", "bot",
        "--key-id", key_id, "--tpm", "100,000",
    )  # fmt: skip
    both = await admin(
        sqlite_server, "ratelimits", "create", "x", "--team", "ml", "--key-id", key_id,
        "--rpm", "1",
    )  # fmt: skip
    updated = await admin_json(
        sqlite_server, "ratelimits", "update", "ml", "--rpm", "none", "--tpm", "5000"
    )
    table = await admin(sqlite_server, "ratelimits", "list")
    await admin_json(sqlite_server, "ratelimits", "delete", "bot")
    remaining = await admin_json(sqlite_server, "ratelimits", "list")

    assert team_limit["target"] == "orgs/default/teams/ml"
    assert team_limit["requests_per_minute"] == "600"
    assert key_limit["target"] == key["api_key"]["name"]
    assert key_limit["tokens_per_minute"] == "100000"
    assert both.exit_code == 2
    assert (updated["requests_per_minute"], updated["tokens_per_minute"]) == (
        "0",
        "5000",
    )
    assert table.exit_code == 0 and "100,000" in table.stdout
    assert [r["name"] for r in remaining["rate_limits"]] == [
        "orgs/default/rateLimits/ml"
    ]
