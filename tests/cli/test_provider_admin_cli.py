"""``megarouter admin providers|models|credentials``, run as a user would.

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
SECRET = "gsk-CLI-SECRET-51c0ffee"


async def admin(
    server: RunningServer,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    argv = ["--target", server.target, "--key", server.admin_key, *args]
    return await asyncio.to_thread(runner.invoke, app, argv, input=stdin, env=env)


async def admin_json(server: RunningServer, *args: str, **kwargs: Any) -> Any:
    result = await admin(server, *args, "--json", **kwargs)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_credential_from_stdin_is_stored_and_never_printed(
    sqlite_server: RunningServer,
) -> None:
    stored = await admin(
        sqlite_server,
        "credentials",
        "set",
        "groq",
        "--api-key-stdin",
        stdin=SECRET + "\n",
    )
    listed = await admin_json(sqlite_server, "credentials", "list")
    table = await admin(sqlite_server, "credentials", "list")
    providers = await admin_json(sqlite_server, "providers", "list")

    assert stored.exit_code == 0, stored.output
    assert [c["provider"] for c in listed["credentials"]] == [
        "orgs/default/providers/groq"
    ]
    assert "groq" in table.stdout
    groq = next(p for p in providers["providers"] if p["provider_id"] == "groq")
    assert groq["credential_source"] == "CREDENTIAL_SOURCE_STORED"
    everything = stored.output + table.output + json.dumps([listed, providers])
    assert SECRET not in everything


async def test_credential_and_secret_parts_from_the_environment(
    sqlite_server: RunningServer,
) -> None:
    env = {"MY_AWS_ID": "AKIACLI", "MY_AWS_SECRET": SECRET}
    stored = await admin_json(
        sqlite_server,
        "credentials",
        "set",
        "bedrock",
        "--from-env",
        "MY_AWS_ID",
        "--extra",
        "region=eu-central-1",
        "--extra-from-env",
        "secret_access_key=MY_AWS_SECRET",
        env=env,
    )
    assert sqlite_server.runtime.components.providers is not None
    resolved = await sqlite_server.runtime.components.providers.resolve_credential(
        "default", "bedrock"
    )
    deleted = await admin(sqlite_server, "credentials", "delete", "bedrock")
    again = await admin(sqlite_server, "credentials", "delete", "bedrock")

    assert stored["extra_keys"] == ["region", "secret_access_key"]
    assert resolved is not None and resolved.api_key == "AKIACLI"
    assert resolved.extra["secret_access_key"] == SECRET
    assert deleted.exit_code == 0 and "Deleted" in deleted.stdout
    assert again.exit_code == 1 and "NOT_FOUND" in again.output


async def test_credential_set_needs_exactly_one_key_source(
    sqlite_server: RunningServer,
) -> None:
    neither = await admin(sqlite_server, "credentials", "set", "groq")
    unset = await admin(
        sqlite_server, "credentials", "set", "groq", "--from-env", "NOPE_NOT_SET"
    )

    assert neither.exit_code == 2 and "exactly one" in neither.output
    assert unset.exit_code == 2 and "NOPE_NOT_SET is not set" in unset.output


async def test_set_price_converts_dollars_exactly_and_clear_price_restores_list(
    sqlite_server: RunningServer,
) -> None:
    models = await admin_json(sqlite_server, "models", "list", "--provider", "groq")
    model = next(m for m in models["models"] if "list_price" in m)["model_id"]

    priced = await admin_json(
        sqlite_server,
        "models",
        "set-price",
        model,
        "--input",
        "0.15",
        "--output",
        "0.000001",
    )
    table = await admin(
        sqlite_server, "models", "list", "--provider", "groq", env={"COLUMNS": "200"}
    )
    cleared = await admin_json(sqlite_server, "models", "clear-price", model)
    too_fine = await admin(
        sqlite_server,
        "models",
        "set-price",
        model,
        "--input",
        "0.0000001",
        "--output",
        "1",
    )

    assert priced["price"] == {
        "input_micros_per_mtok": "150000",
        "output_micros_per_mtok": "1",
    }
    assert priced["price_source"] == "PRICE_SOURCE_OVERRIDE"
    assert "$0.15 / $0.000001 (override)" in table.stdout
    assert cleared["price_source"] == "PRICE_SOURCE_LIST"
    assert cleared["price"] == cleared["list_price"]
    assert too_fine.exit_code == 2 and "finer than a micro-dollar" in too_fine.output


async def test_unpriced_models_say_so_in_the_table(
    sqlite_server: RunningServer,
) -> None:
    listed = await admin_json(sqlite_server, "models", "list", "--provider", "ollama")
    table = await admin(sqlite_server, "models", "list", "--provider", "ollama")

    assert any(m["price_source"] == "PRICE_SOURCE_UNPRICED" for m in listed["models"])
    assert "unpriced" in table.stdout
    assert "$0.00" not in table.stdout


async def test_disabled_provider_and_model_leave_the_model_list(
    sqlite_server: RunningServer,
) -> None:
    before = await admin_json(sqlite_server, "models", "list", "--provider", "groq")
    first = before["models"][0]["model_id"]
    await admin(sqlite_server, "models", "disable", first)
    without_first = await admin_json(
        sqlite_server, "models", "list", "--provider", "groq"
    )
    disabled = await admin_json(sqlite_server, "providers", "disable", "groq")
    without_groq = await admin_json(
        sqlite_server, "models", "list", "--provider", "groq"
    )
    with_all = await admin_json(
        sqlite_server, "models", "list", "--provider", "groq", "--all"
    )
    embeddings = await admin_json(
        sqlite_server,
        "models",
        "list",
        "--provider",
        "together_ai",
        "--mode",
        "embedding",
    )

    assert first not in [m["model_id"] for m in without_first["models"]]
    assert disabled["enabled"] is False
    assert without_groq["models"] == []
    assert len(with_all["models"]) == len(before["models"])
    assert embeddings["models"]
    assert {m["mode"] for m in embeddings["models"]} == {"MODEL_MODE_EMBEDDING"}


async def test_model_named_without_provider_is_a_usage_error(
    sqlite_server: RunningServer,
) -> None:
    result = await admin(sqlite_server, "models", "disable", "gpt-4o")

    assert result.exit_code == 2
    assert "PROVIDER/MODEL" in result.output
