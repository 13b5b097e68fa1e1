"""``megarouter admin policies``, run as a user would.

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
    # A wide terminal, so that table cells are not folded.
    env = {"COLUMNS": "200"}
    return await asyncio.to_thread(runner.invoke, app, argv, env=env)


async def admin_json(server: RunningServer, *args: str) -> Any:
    result = await admin(server, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_policy_is_created_attached_shown_and_deleted(
    sqlite_server: RunningServer,
) -> None:
    created = await admin_json(
        sqlite_server,
        "policies",
        "create",
        "frugal",
        "--strategy",
        "cost-first",
        "--min-quality",
        "0.6",
        "--max-cost",
        "0.0025",
        "--allow",
        "groq/*",
        "--allow",
        "openai/gpt-4o-mini",
        "--max-attempts",
        "2",
    )
    attached = await admin(sqlite_server, "policies", "attach", "frugal", "--on-org")
    table = await admin(sqlite_server, "policies", "list")
    refused = await admin(sqlite_server, "policies", "delete", "frugal")
    await admin_json(sqlite_server, "policies", "detach", "--on-org")
    deleted = await admin(sqlite_server, "policies", "delete", "frugal")
    listed = await admin_json(sqlite_server, "policies", "list")

    policy = created
    assert policy["name"] == "orgs/default/routingPolicies/frugal"
    assert policy["strategy"] == "ROUTING_STRATEGY_COST_FIRST"
    assert policy["max_cost_micros"] == "2500"  # exact micro-dollars
    assert policy["allowed_models"] == ["groq/*", "openai/gpt-4o-mini"]
    assert policy["max_attempts"] == 2
    assert attached.exit_code == 0, attached.output
    assert "now applies to orgs/default" in attached.stdout
    assert "frugal" in table.stdout and "cost-first" in table.stdout
    assert "quality >= 0.6, cost <= $0.0025" in table.stdout
    assert refused.exit_code == 1
    assert "FAILED_PRECONDITION" in refused.stderr and "detach" in refused.stderr
    assert deleted.exit_code == 0, deleted.output
    assert listed == {"routing_policies": []}


async def test_update_changes_given_settings_and_clears_limits(
    sqlite_server: RunningServer,
) -> None:
    await admin_json(
        sqlite_server,
        "policies",
        "create",
        "p",
        "--min-quality",
        "0.5",
        "--max-latency-ms",
        "900",
    )
    updated = await admin_json(
        sqlite_server,
        "policies",
        "update",
        "p",
        "--strategy",
        "latency-first",
        "--clear",
        "min-quality",
    )

    assert updated["strategy"] == "ROUTING_STRATEGY_LATENCY_FIRST"
    assert "min_quality" not in updated
    assert updated["max_latency_ms"] == "900"


async def test_team_attachment_and_usage_errors(sqlite_server: RunningServer) -> None:
    await admin_json(sqlite_server, "teams", "create", "red")
    await admin_json(sqlite_server, "policies", "create", "p")
    attached = await admin_json(
        sqlite_server, "policies", "attach", "p", "--on-team", "red"
    )
    both = await admin(
        sqlite_server, "policies", "attach", "p", "--on-org", "--on-team", "red"
    )
    invalid = await admin(
        sqlite_server, "policies", "create", "q", "--max-attempts", "11"
    )
    finer = await admin(sqlite_server, "policies", "create", "q", "--max-cost", "1e-9")

    assert attached == {
        "target": "orgs/default/teams/red",
        "policy": "orgs/default/routingPolicies/p",
    }
    assert both.exit_code == 2 and "exactly one" in both.stderr
    assert invalid.exit_code == 1
    assert "routing_policy.max_attempts" in invalid.stderr
    assert finer.exit_code == 2 and "micro-dollars" in finer.stderr
