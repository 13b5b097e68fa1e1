"""Opt-in prompt samples: stored only when asked, cut to size, pruned by age."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from itertools import cycle
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, select
from sqlmodel import SQLModel
from typer.testing import CliRunner

from megarouter.cli.db import app as db_app
from megarouter.completions.requests import CompletionRequest
from megarouter.governance.usage import CallKind, CallStatus, UsageRecord
from megarouter.providers.types import Message, Role
from megarouter.routing.prompt_samples import (
    SAMPLES_TABLE,
    PromptSampler,
    prune_prompt_samples,
)
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.store.tables import OrgRow


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async(database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        session.add(OrgRow(id="acme"))
        session.add(OrgRow(id="globex"))
    yield database
    await database.dispose()


def record(request_id: str, org_id: str = "acme", **fields: Any) -> UsageRecord:
    return UsageRecord(
        org_id=org_id,
        principal_id="alice",
        key_id="k1",
        kind=CallKind.COMPLETE,
        requested_model="auto",
        status=CallStatus.OK,
        request_id=request_id,
        **fields,
    )


def request(user: str, system: str = "") -> CompletionRequest:
    messages = [
        Message.text(Role.USER, "an earlier turn"),
        Message.text(Role.USER, user),
    ]
    if system:
        messages.insert(0, Message.text(Role.SYSTEM, system))
    return CompletionRequest(model="auto", messages=messages)


async def stored(database: Database) -> dict[tuple[str, str], str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            select(
                SAMPLES_TABLE.c.org_id,
                SAMPLES_TABLE.c.request_id,
                SAMPLES_TABLE.c.prompt,
            )
        )
        return {(org, rid): prompt for org, rid, prompt in rows}


async def sample(
    sampler: PromptSampler, *calls: tuple[UsageRecord, CompletionRequest]
) -> None:
    """Offer calls to a started sampler, then stop it (which writes them)."""
    sampler.start()
    for call in calls:
        sampler.offer(*call)
    await sampler.stop()


async def test_migration_matches_the_prompt_samples_table(database: Database) -> None:
    def differences(connection: Connection) -> list[Any]:
        diff: list[Any] = compare_metadata(
            MigrationContext.configure(connection), SQLModel.metadata
        )
        return diff

    async with database.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert [d for d in diff if "prompt_samples" in repr(d)] == []


async def test_sampling_off_stores_nothing(database: Database) -> None:
    sampler = PromptSampler(database, rate=0.0)
    await sample(
        sampler, *[(record(f"r{i}"), request("secret plans")) for i in range(5)]
    )
    assert await stored(database) == {}
    assert sampler.stats.queued == 0


async def test_rate_one_stores_the_text_the_router_reads(database: Database) -> None:
    sampler = PromptSampler(database, rate=1.0, linger=0.0)
    await sample(
        sampler,
        (record("r1"), request("What is 2 + 2?", system="Be terse.")),
        (record("r2", org_id="globex"), request("Write a limerick.")),
    )
    assert await stored(database) == {
        ("acme", "r1"): "Be terse.\nWhat is 2 + 2?",
        ("globex", "r2"): "Write a limerick.",
    }


async def test_long_prompts_keep_their_tail(database: Database) -> None:
    sampler = PromptSampler(database, rate=1.0, max_chars=40, linger=0.0)
    prompt = "Context: " + "lorem ipsum " * 100 + "Question: why is the sky blue?"
    await sample(sampler, (record("r1"), request(prompt)))
    [text] = (await stored(database)).values()
    assert len(text) == 40
    assert text.endswith("Question: why is the sky blue?")


async def test_a_share_of_calls_is_sampled(database: Database) -> None:
    draws: Iterator[float] = cycle([0.1, 0.7, 0.3, 0.9])
    sampler = PromptSampler(database, rate=0.5, linger=0.0, chance=lambda: next(draws))
    await sample(
        sampler, *[(record(f"r{i}"), request(f"question {i}")) for i in range(8)]
    )
    assert sorted(rid for _, rid in await stored(database)) == ["r0", "r2", "r4", "r6"]


async def test_a_sample_that_cannot_be_stored_is_dropped_and_later_ones_are_kept(
    database: Database,
) -> None:
    sampler = PromptSampler(database, rate=1.0, linger=0.0)
    sampler.start()
    sampler.offer(record("r1", org_id="no-such-org"), request("lost"))
    for _ in range(500):  # until the failed write is counted
        if sampler.stats.dropped:
            break
        await asyncio.sleep(0.01)
    assert sampler.stats.dropped == 1
    sampler.offer(record("r2"), request("kept\x00 even with a NUL"))
    sampler.offer(record("r2"), request("a duplicate request id is skipped"))
    await sampler.stop()
    assert await stored(database) == {("acme", "r2"): "kept\ufffd even with a NUL"}


async def add_samples(
    database: Database, ages: dict[tuple[str, str], timedelta]
) -> None:
    now = datetime.now(UTC)
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(SAMPLES_TABLE),
            [
                {
                    "org_id": org,
                    "request_id": rid,
                    "prompt": "p",
                    "created_at": now - age,
                }
                for (org, rid), age in ages.items()
            ],
        )


async def test_prune_deletes_samples_older_than_the_cutoff(database: Database) -> None:
    await add_samples(
        database,
        {
            ("acme", "old"): timedelta(days=40),
            ("acme", "new"): timedelta(days=2),
            ("globex", "old"): timedelta(days=40),
        },
    )
    cutoff = datetime.now(UTC) - timedelta(days=30)
    assert await prune_prompt_samples(database, cutoff, org_id="acme") == 1
    assert set(await stored(database)) == {("acme", "new"), ("globex", "old")}
    assert await prune_prompt_samples(database, cutoff) == 1
    assert set(await stored(database)) == {("acme", "new")}


async def test_servers_delete_samples_past_the_retention_period(
    database: Database,
) -> None:
    await add_samples(
        database,
        {("acme", "old"): timedelta(days=8), ("acme", "new"): timedelta(days=6)},
    )
    # Sampling off: retention still applies to what was stored before.
    sampler = PromptSampler(database, rate=0.0, retention_days=7)
    sampler.start()
    for _ in range(500):
        if set(await stored(database)) == {("acme", "new")}:
            break
        await asyncio.sleep(0.01)
    await sampler.stop()
    assert set(await stored(database)) == {("acme", "new")}


async def test_prune_prompts_command_deletes_by_age(
    database: Database, database_url: str
) -> None:
    await add_samples(
        database,
        {("acme", "old"): timedelta(days=31), ("acme", "new"): timedelta(hours=1)},
    )
    runner = CliRunner()
    args = ["prune-prompts", "--older-than", "30d", "--database-url", database_url]
    result = await asyncio.to_thread(runner.invoke, db_app, args)
    assert result.exit_code == 0, result.output
    assert "deleted 1 prompt samples" in result.output
    assert set(await stored(database)) == {("acme", "new")}

    everything = ["prune-prompts", "--older-than", "0d", "--database-url", database_url]
    result = await asyncio.to_thread(runner.invoke, db_app, everything)
    assert "deleted 1 prompt samples" in result.output
    assert await stored(database) == {}

    bad = ["prune-prompts", "--older-than", "a month", "--database-url", database_url]
    result = await asyncio.to_thread(runner.invoke, db_app, bad)
    assert result.exit_code == 2
    assert "30d" in result.output
