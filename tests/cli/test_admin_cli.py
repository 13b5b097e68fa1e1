"""``megarouter admin``, driven as a user would, against a real server.

The server runs on the test's event loop, so each command runs in a worker
thread (``asyncio.to_thread``) through typer's CliRunner.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from typer.testing import CliRunner, Result

from megarouter.cli.admin import app
from megarouter.cli.main import app as main_app
from megarouter.testing.server import RunningServer

runner = CliRunner()


async def admin(server: RunningServer, *args: str, key: str | None = None) -> Result:
    """Run ``megarouter admin --target ... --key ... ARGS``."""
    argv = ["--target", server.target, "--key", key or server.admin_key, *args]
    return await asyncio.to_thread(runner.invoke, app, argv)


async def admin_json(server: RunningServer, *args: str) -> Any:
    """Run a command with --json and parse what it printed."""
    result = await admin(server, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_whoami_shows_the_bootstrap_admin_and_its_roles(
    sqlite_server: RunningServer,
) -> None:
    table = await admin(sqlite_server, "whoami")
    data = await admin_json(sqlite_server, "whoami")

    assert table.exit_code == 0, table.output
    assert "orgs/default/principals/admin" in table.stdout
    assert "org_admin" in table.stdout and "platform_admin" in table.stdout
    assert data["org"] == "orgs/default"
    assert data["principal"]["name"] == "orgs/default/principals/admin"
    assert sqlite_server.admin_key not in table.output + json.dumps(data)


async def test_team_and_principal_created_by_short_id_are_listed_as_json(
    sqlite_server: RunningServer,
) -> None:
    team = await admin_json(
        sqlite_server, "teams", "create", "ml", "--display-name", "ML"
    )
    bot = await admin_json(
        sqlite_server,
        "principals",
        "create",
        "bot",
        "--kind",
        "service-account",
        "--team",
        "ml",
        "--email",
        "bot@example.com",
    )
    teams = await admin_json(sqlite_server, "teams", "list")
    members = await admin_json(
        sqlite_server, "principals", "list", "--team", "ml", "--kind", "service-account"
    )
    shown = await admin(sqlite_server, "teams", "get", "ml")

    assert team["name"] == "orgs/default/teams/ml"
    assert bot["team"] == "orgs/default/teams/ml"
    assert bot["kind"] == "PRINCIPAL_KIND_SERVICE_ACCOUNT"
    assert [t["name"] for t in teams["teams"]] == ["orgs/default/teams/ml"]
    assert [p["name"] for p in members["principals"]] == ["orgs/default/principals/bot"]
    assert shown.exit_code == 0 and "ML" in shown.stdout


async def test_principal_update_changes_only_the_options_given(
    sqlite_server: RunningServer,
) -> None:
    await admin_json(
        sqlite_server, "principals", "create", "ada", "--display-name", "Ada"
    )

    updated = await admin_json(
        sqlite_server, "principals", "update", "ada", "--disabled"
    )

    assert updated["disabled"] is True
    assert updated["display_name"] == "Ada"


async def test_key_create_prints_its_secret_once_and_revoke_stops_it(
    sqlite_server: RunningServer,
) -> None:
    await admin_json(sqlite_server, "principals", "create", "svc")
    await admin_json(sqlite_server, "bindings", "create", "svc", "viewer")

    created = await admin(
        sqlite_server, "keys", "create", "svc", "--name", "ci", "--expires", "30d"
    )
    secret = next(
        line.strip()
        for line in created.stdout.splitlines()
        if line.strip().startswith("mr-")
    )
    as_svc = await admin(sqlite_server, "whoami", key=secret)
    listed = await admin_json(sqlite_server, "keys", "list", "svc")
    key = listed["api_keys"][0]
    key_id = key["name"].rsplit("/", 1)[-1]
    revoked = await admin(sqlite_server, "keys", "revoke", key_id)
    refused = await admin(sqlite_server, "whoami", key=secret)

    assert created.exit_code == 0, created.output
    assert "shown only now" in created.stdout
    assert as_svc.exit_code == 0 and "orgs/default/principals/svc" in as_svc.stdout
    assert key["display_name"] == "ci" and key["state"] == "API_KEY_STATE_ACTIVE"
    assert key["expire_time"]
    assert secret not in json.dumps(listed)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.stdout
    assert refused.exit_code == 1
    assert "UNAUTHENTICATED" in refused.stderr
    assert secret not in refused.output


async def test_key_create_with_json_returns_the_key_and_secret(
    sqlite_server: RunningServer,
) -> None:
    created = await admin_json(sqlite_server, "keys", "create", "admin")
    every = await admin_json(sqlite_server, "keys", "list", "--all")

    assert created["secret"].startswith("mr-")
    assert created["api_key"]["name"] in {k["name"] for k in every["api_keys"]}


async def test_bindings_are_created_listed_and_deleted(
    sqlite_server: RunningServer,
) -> None:
    await admin_json(sqlite_server, "teams", "create", "search")
    await admin_json(sqlite_server, "principals", "create", "lin")

    binding = await admin_json(
        sqlite_server, "bindings", "create", "lin", "team_admin", "--team", "search"
    )
    listed = await admin_json(sqlite_server, "bindings", "list", "--principal", "lin")
    binding_id = binding["name"].rsplit("/", 1)[-1]
    deleted = await admin(sqlite_server, "bindings", "delete", binding_id)
    after = await admin_json(sqlite_server, "bindings", "list", "--principal", "lin")

    assert binding["role"] == "team_admin"
    assert binding["team"] == "orgs/default/teams/search"
    assert [b["name"] for b in listed["role_bindings"]] == [binding["name"]]
    assert deleted.exit_code == 0 and binding["name"] in deleted.stdout
    assert after["role_bindings"] == []


async def test_org_lifecycle_and_teams_in_another_org_by_org_option(
    sqlite_server: RunningServer,
) -> None:
    created = await admin_json(
        sqlite_server, "orgs", "create", "acme", "--time-zone", "Europe/Paris"
    )
    team = await admin_json(sqlite_server, "teams", "create", "ops", "--org", "acme")
    listed = await admin_json(sqlite_server, "teams", "list", "--org", "acme")
    updated = await admin_json(
        sqlite_server, "orgs", "update", "acme", "--display-name", "Acme"
    )
    await admin_json(sqlite_server, "teams", "delete", "orgs/acme/teams/ops")
    deleted = await admin(sqlite_server, "orgs", "delete", "acme")
    orgs = await admin_json(sqlite_server, "orgs", "list")

    assert created["name"] == "orgs/acme" and created["time_zone"] == "Europe/Paris"
    assert team["name"] == "orgs/acme/teams/ops"
    assert [t["name"] for t in listed["teams"]] == ["orgs/acme/teams/ops"]
    assert updated["display_name"] == "Acme"
    assert updated["time_zone"] == "Europe/Paris"
    assert deleted.exit_code == 0, deleted.output
    assert [o["name"] for o in orgs["orgs"]] == ["orgs/default"]


async def test_roles_list_names_every_built_in_role(
    sqlite_server: RunningServer,
) -> None:
    roles = await admin_json(sqlite_server, "roles", "list")

    names = {role["name"] for role in roles["roles"]}
    assert {"org_admin", "team_admin", "developer", "viewer", "billing"} <= names


async def test_invalid_id_prints_the_code_and_field_on_one_line(
    sqlite_server: RunningServer,
) -> None:
    result = await admin(sqlite_server, "teams", "create", "Bad_Id")

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: INVALID_ARGUMENT: team_id")
    assert result.stdout == ""


async def test_missing_team_exits_1_with_not_found(
    sqlite_server: RunningServer,
) -> None:
    result = await admin(sqlite_server, "teams", "get", "nowhere")

    assert result.exit_code == 1
    assert "NOT_FOUND" in result.stderr
    assert "orgs/default/teams/nowhere" in result.stderr


async def test_bad_key_exits_1_and_says_how_to_fix_it(
    sqlite_server: RunningServer,
) -> None:
    result = await admin(sqlite_server, "whoami", key="mr-wrong")

    assert result.exit_code == 1
    assert "UNAUTHENTICATED" in result.stderr
    assert "--key" in result.stderr
    assert "mr-wrong" not in result.output


async def test_usage_errors_exit_2(sqlite_server: RunningServer) -> None:
    bad_kind = await admin(
        sqlite_server, "principals", "create", "x", "--kind", "robot"
    )
    bad_expiry = await admin(
        sqlite_server, "keys", "create", "admin", "--expires", "soon"
    )
    no_change = await admin(sqlite_server, "teams", "update", "ml")

    assert bad_kind.exit_code == 2
    assert bad_expiry.exit_code == 2 and "--expires" in bad_expiry.output
    assert no_change.exit_code == 2 and "nothing to change" in no_change.stderr


def test_missing_key_exits_2_and_says_how_to_provide_one() -> None:
    result = runner.invoke(
        main_app,
        ["admin", "--target", "127.0.0.1:1", "whoami"],
        env={"MEGAROUTER_API_KEY": ""},
    )

    assert result.exit_code == 2
    assert "--key" in result.stderr and "MEGAROUTER_API_KEY" in result.stderr


def test_unreachable_server_exits_1_and_names_the_target() -> None:
    result = runner.invoke(app, ["--target", "127.0.0.1:1", "--key", "k", "whoami"])

    assert result.exit_code == 1
    assert "UNAVAILABLE" in result.stderr and "127.0.0.1:1" in result.stderr


async def test_target_and_key_are_read_from_the_environment(
    sqlite_server: RunningServer,
) -> None:
    env = {
        "MEGAROUTER_TARGET": sqlite_server.target,
        "MEGAROUTER_API_KEY": sqlite_server.admin_key,
    }
    result = await asyncio.to_thread(
        runner.invoke, main_app, ["admin", "orgs", "list", "--json"], env=env
    )

    assert result.exit_code == 0, result.output
    assert [o["name"] for o in json.loads(result.stdout)["orgs"]] == ["orgs/default"]
