"""``megarouter admin audit list``, run as a user would.

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
SECRET = "gsk-AUDIT-CLI-SECRET-0b5e55ed"


async def admin(server: RunningServer, *args: str, stdin: str | None = None) -> Result:
    argv = ["--target", server.target, "--key", server.admin_key, *args]
    return await asyncio.to_thread(runner.invoke, app, argv, input=stdin)


async def admin_json(server: RunningServer, *args: str) -> Any:
    result = await admin(server, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_audit_list_shows_changes_made_through_the_cli(
    sqlite_server: RunningServer,
) -> None:
    for team in ("ml", "ops"):
        created = await admin(sqlite_server, "teams", "create", team)
        assert created.exit_code == 0, created.output
    stored = await admin(
        sqlite_server, "credentials", "set", "groq", "--api-key-stdin", stdin=SECRET
    )
    assert stored.exit_code == 0, stored.output

    everything = await admin_json(sqlite_server, "audit", "list")
    teams = await admin_json(sqlite_server, "audit", "list", "--action", "teams.*")
    by_admin = await admin_json(
        sqlite_server, "audit", "list", "--actor", "admin", "--since", "1h"
    )
    future = await admin_json(
        sqlite_server, "audit", "list", "--since", "2999-01-01T00:00:00Z"
    )
    newest = await admin_json(sqlite_server, "audit", "list", "--limit", "1")
    table = await admin(sqlite_server, "audit", "list")

    actions = [e["action"] for e in everything["audit_events"]]
    assert actions == ["credentials.set", "teams.create", "teams.create"]
    assert [e["resource"] for e in teams["audit_events"]] == [
        "orgs/default/teams/ops",
        "orgs/default/teams/ml",
    ]
    assert len(by_admin["audit_events"]) == 3
    assert {e["actor"] for e in by_admin["audit_events"]} == {
        "orgs/default/principals/admin"
    }
    assert future["audit_events"] == []
    assert [e["action"] for e in newest["audit_events"]] == ["credentials.set"]
    assert table.exit_code == 0
    assert "teams.create" in table.stdout and "credentials.set" in table.stdout
    assert SECRET not in json.dumps(everything) + table.stdout


async def test_audit_list_rejects_a_bad_since(sqlite_server: RunningServer) -> None:
    result = await admin(sqlite_server, "audit", "list", "--since", "last tuesday")

    assert result.exit_code == 2
    assert "--since" in result.output
