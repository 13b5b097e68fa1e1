"""``megarouter route``, ``complete`` and ``models available`` against a real server.

The gateway serves two fake OpenAI-compatible providers on loopback
(tests/completions/conftest.py). The server runs on the test's event loop,
so each command runs in a worker thread through typer's CliRunner.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from typer.testing import CliRunner, Result

from megarouter.cli.main import app
from megarouter.testing.fake_http import free_port
from megarouter.testing.server import RunningServer
from tests.admin.support import Admin
from tests.completions.conftest import EMBEDDING, MODEL, Fakes

REPLY = "The quick brown fox jumps over the lazy dog."
FAKES = {f"fake-a/{MODEL}", f"fake-b/{MODEL}", "fake-dead/gpt-4o-mini-dead"}

runner = CliRunner()


async def megarouter(
    server: RunningServer, *args: str, key: str | None = None, stdin: str = ""
) -> Result:
    """Run ``megarouter ARGS --target ... --key ...`` in a worker thread."""
    argv = [*args, "--target", server.target, "--key", key or server.admin_key]
    return await asyncio.to_thread(
        runner.invoke, app, argv, input=stdin, env={"COLUMNS": "200"}
    )


async def megarouter_json(server: RunningServer, *args: str) -> Any:
    """Run a command with --json and parse what it printed."""
    result = await megarouter(server, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_one_line_error(result: Result, code: str, exit_code: int = 1) -> None:
    """The command failed as a user should see it: one line, no traceback."""
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {code}"), lines[0]
    assert "Traceback" not in result.output


# --- route --------------------------------------------------------------------


async def test_route_auto_ranks_the_fakes_and_counts_drops_by_reason(
    gateway: RunningServer,
) -> None:
    prompt = "Classify this review as positive or negative: great!"
    decided = await megarouter_json(gateway, "route", prompt, "--max-cost", "1")
    shown = await megarouter(gateway, "route", prompt, "--max-cost", "1")

    ranked = [c["model"] for c in decided["candidates"]]
    assert set(ranked) == FAKES
    assert decided["summary"]["task_type"] == "classification"
    assert shown.exit_code == 0, shown.output
    assert f"auto routes to {ranked[0]}" in shown.stdout
    assert "task type classification" in shown.stdout
    assert all(model in shown.stdout for model in ranked)
    counts = Counter(d["reason"] for d in decided["dropped"])
    assert counts
    for reason, count in counts.items():
        label = reason.removeprefix("DROP_REASON_").lower().replace("_", "-")
        assert f"│ {label} " in shown.stdout
        assert f"│ {count:>6} │" in shown.stdout
    assert "--all-dropped" in shown.stdout


async def test_route_named_model_under_a_tiny_cost_cap_lists_each_drop(
    gateway: RunningServer,
) -> None:
    args = ("route", "hi", "--model", MODEL, "--max-cost", "0.000001")
    decided = await megarouter_json(gateway, *args, "--max-tokens", "10000")
    shown = await megarouter(gateway, *args, "--max-tokens", "10000", "--all-dropped")

    assert decided["candidates"] == []
    reasons = {d["model"]: d["reason"] for d in decided["dropped"]}
    assert reasons[f"fake-a/{MODEL}"] == "DROP_REASON_ABOVE_COST_CAP"
    assert reasons[f"openai/{MODEL}"] == "DROP_REASON_NOT_CONFIGURED"
    assert shown.exit_code == 0, shown.output
    assert f"No model can serve {MODEL}" in shown.stdout
    cost_cap_rows = [
        line for line in shown.stdout.splitlines() if "above-cost-cap" in line
    ]
    assert any(f"fake-a/{MODEL}" in row for row in cost_cap_rows)
    detail = next(d["detail"] for d in decided["dropped"] if "fake-a/" in d["model"])
    assert detail and any(detail in row for row in cost_cap_rows)


async def test_route_reads_the_prompt_from_stdin_and_takes_the_task_type(
    gateway: RunningServer,
) -> None:
    result = await megarouter(
        gateway,
        "route",
        "-",
        "--system",
        "You are terse.",
        "--task-type",
        "coding",
        "--json",
        stdin="Write a Python function that reverses a list.\n",
    )

    assert result.exit_code == 0, result.output
    decided = json.loads(result.stdout)
    assert decided["summary"]["task_type"] == "coding"
    assert int(decided["input_tokens"]) > 0


# --- complete -----------------------------------------------------------------


async def test_complete_prints_the_answer_then_a_summary_line(
    gateway: RunningServer, fakes: Fakes
) -> None:
    result = await megarouter(
        gateway,
        "complete",
        "Say something.",
        "--model",
        MODEL,
        "--system",
        "Be brief.",
        "--temperature",
        "0.3",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == REPLY + "\n"
    summary = result.stderr.strip()
    assert "\n" not in summary
    assert summary.startswith(f"fake-a/{MODEL} via fake-a")
    assert " in / " in summary and " out tokens" in summary
    assert "$0.0000" in summary and "1 attempt" in summary
    assert "finish stop" in summary and "route: " in summary
    sent = fakes.a.chat_bodies()[-1]
    assert sent["temperature"] == 0.3
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_complete_json_reports_usage_and_the_route(
    gateway: RunningServer,
) -> None:
    answer = await megarouter_json(gateway, "complete", "Write a haiku.")

    assert answer["message"]["content"][0]["text"] == REPLY
    assert answer["model"] in FAKES
    assert int(answer["usage"]["output_tokens"]) > 0
    assert int(answer["usage"]["cost_micros"]) > 0
    assert answer["route"]["reason"]


async def test_complete_stream_prints_deltas_then_the_summary(
    gateway: RunningServer,
) -> None:
    result = await megarouter(
        gateway, "complete", "Say something.", "--model", MODEL, "--stream"
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == REPLY + "\n"
    assert result.stderr.startswith(f"fake-a/{MODEL} via fake-a")
    assert " out tokens" in result.stderr


async def test_complete_stream_json_prints_one_message_per_line(
    gateway: RunningServer,
) -> None:
    result = await megarouter(
        gateway, "complete", "Say something.", "--stream", "--json"
    )

    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    text = "".join(e["delta"]["content"] for e in events if "delta" in e)
    assert text == REPLY
    assert len(events) > 2
    summary = events[-1]["summary"]
    assert int(summary["usage"]["output_tokens"]) > 0
    assert summary["model"] in FAKES


# --- models available ---------------------------------------------------------


async def test_models_available_follows_every_page(gateway: RunningServer) -> None:
    whole = await megarouter_json(gateway, "models", "available")
    paged = await megarouter_json(gateway, "models", "available", "--page-size", "1")
    embedding = await megarouter_json(
        gateway, "models", "available", "--mode", "embedding"
    )
    table = await megarouter(gateway, "models", "available", "--mode", "chat")

    ids = [m["model"] for m in whole["models"]]
    assert set(ids) >= FAKES
    assert f"fake-a/{EMBEDDING}" in ids
    assert paged == whole
    assert {m["mode"] for m in embedding["models"]} == {"embedding"}
    assert table.exit_code == 0, table.output
    assert f"fake-a/{MODEL}" in table.stdout
    assert EMBEDDING not in table.stdout


# --- errors -------------------------------------------------------------------


async def test_unknown_model_exits_1_with_one_line(gateway: RunningServer) -> None:
    routed = await megarouter(gateway, "route", "hi", "--model", "no-such-model")
    answered = await megarouter(gateway, "complete", "hi", "--model", "no-such-model")

    assert_one_line_error(routed, "NOT_FOUND")
    assert_one_line_error(answered, "NOT_FOUND")
    assert "no-such-model" in routed.stderr


async def test_unknown_policy_exits_1_with_one_line(gateway: RunningServer) -> None:
    result = await megarouter(gateway, "route", "hi", "--policy", "no-such-policy")

    assert_one_line_error(result, "INVALID_ARGUMENT: routing.policy")
    assert "no-such-policy" in result.stderr


async def test_a_viewer_may_list_models_but_not_complete(
    gateway: RunningServer, admin: Admin
) -> None:
    viewer = await admin.principal("default", "watcher")
    await admin.grant(viewer.name, "viewer")
    _, secret = await admin.key_for(viewer.name)

    listed = await megarouter(gateway, "models", "available", key=secret)
    refused = await megarouter(gateway, "complete", "hi", key=secret)

    assert listed.exit_code == 0, listed.output
    assert_one_line_error(refused, "PERMISSION_DENIED")


async def test_a_server_that_is_down_exits_1_and_names_the_target(
    gateway: RunningServer,
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["route", "hi", "--target", nowhere, "--key", "mr-x", "--timeout", "5"],
    )

    assert_one_line_error(result, "UNAVAILABLE")
    assert nowhere in result.stderr


async def test_usage_errors_exit_2_before_any_call(gateway: RunningServer) -> None:
    no_key = await asyncio.to_thread(
        runner.invoke, app, ["complete", "hi"], env={"MEGAROUTER_API_KEY": ""}
    )
    bad_cost = await megarouter(gateway, "route", "hi", "--max-cost", "cheap")
    empty = await megarouter(gateway, "complete", "-", stdin="\n")

    assert no_key.exit_code == 2 and "MEGAROUTER_API_KEY" in no_key.stderr
    assert_one_line_error(bad_cost, "--max-cost", exit_code=2)
    assert_one_line_error(empty, "the prompt is empty", exit_code=2)
