"""The usage ledger on SQLite and PostgreSQL: durable before acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from megarouter.errors import AlreadyExists, InvalidArgument, Unavailable
from megarouter.governance.ledger import (
    INLINE_MAX_BATCH,
    USAGE_TABLE,
    UsageLedger,
    row_values,
)
from megarouter.governance.usage import Attempt, CallKind, CallStatus, UsageRecord
from megarouter.store.database import Database, is_sqlite
from megarouter.store.migrations import alembic_config, upgrade_async
from megarouter.testing.server import fresh_postgres_database

WRITER = Path(__file__).with_name("ledger_writer.py")
REPO = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def usage(**fields: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "org_id": "acme",
        "principal_id": "alice",
        "key_id": "key-1",
        "kind": CallKind.COMPLETE,
        "requested_model": "auto",
        "status": CallStatus.OK,
    }
    return UsageRecord(**(values | fields))


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await upgrade_async(database_url)
    return database_url


@pytest.fixture
async def database(migrated_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_url)
    yield database
    await database.dispose()


@pytest.fixture
async def ledger(database: Database) -> AsyncIterator[UsageLedger]:
    async with UsageLedger(database) as ledger:
        yield ledger


async def stored_ids(url: str) -> list[str]:
    """Every record id in the database, read through a separate engine."""
    reader = Database(url)
    try:
        async with reader.engine.connect() as connection:
            result = await connection.execute(select(USAGE_TABLE.c.id))
            return [row[0] for row in result]
    finally:
        await reader.dispose()


# --- schema ----------------------------------------------------------------


async def test_migration_matches_table_definition(migrated_url: str) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection)
        diff: list[Any] = compare_metadata(context, SQLModel.metadata)
        return diff

    database = Database(migrated_url)
    async with database.engine.connect() as connection:
        diff = await connection.run_sync(differences)
        indexes = await connection.run_sync(
            lambda sync: inspect(sync).get_indexes("usage_records")
        )
    await database.dispose()

    assert [d for d in diff if "usage_records" in repr(d)] == []
    assert {index["name"] for index in indexes} >= {
        "ix_usage_org_created",
        "ix_usage_org_team_created",
        "ix_usage_org_model",
        "ix_usage_org_scenario",
    }


async def test_migration_downgrade_drops_table_and_upgrade_restores_it(
    database_url: str,
) -> None:
    await upgrade_async(database_url, "0002")
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0001")
    database = Database(database_url)
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda s: inspect(s).get_table_names())
    assert "usage_records" not in tables

    await upgrade_async(database_url, "0002")
    async with UsageLedger(database) as ledger:
        await ledger.record(usage())
    await database.dispose()
    assert len(await stored_ids(database_url)) == 1


# --- durability and group commit -------------------------------------------


async def test_record_is_durable_when_record_returns(
    ledger: UsageLedger, migrated_url: str
) -> None:
    record = usage()
    await ledger.record(record)
    assert await stored_ids(migrated_url) == [record.id]


async def test_concurrent_records_all_stored_once_sharing_commits(
    ledger: UsageLedger, migrated_url: str
) -> None:
    records = [usage(principal_id=f"p{n}", input_tokens=n) for n in range(1000)]

    await asyncio.gather(*(ledger.record(r) for r in records))

    ids = await stored_ids(migrated_url)
    assert sorted(ids) == sorted(r.id for r in records)
    assert ledger.stats.records == 1000
    assert ledger.stats.batches < 1000
    assert ledger.stats.largest_batch > 1


async def test_callers_arriving_during_a_commit_share_the_next_one(
    ledger: UsageLedger, migrated_url: str
) -> None:
    # 50 callers that each record 10 calls back to back: each commit finds
    # the callers answered by the previous one already waiting again.
    async def caller(n: int) -> None:
        for i in range(10):
            await ledger.record(usage(principal_id=f"p{n}", input_tokens=i))

    await asyncio.gather(*(caller(n) for n in range(50)))

    assert len(set(await stored_ids(migrated_url))) == 500
    assert ledger.stats.records == 500
    assert ledger.stats.batches < 100


async def test_stop_flushes_records_still_pending(
    database: Database, migrated_url: str
) -> None:
    ledger = UsageLedger(database)
    ledger.start()
    records = [usage() for _ in range(200)]
    calls = [asyncio.create_task(ledger.record(r)) for r in records]
    await asyncio.sleep(0)  # every call is queued, none committed yet

    await ledger.stop()

    assert await asyncio.gather(*calls) == [None] * 200
    assert sorted(await stored_ids(migrated_url)) == sorted(r.id for r in records)
    with pytest.raises(Unavailable):
        await ledger.record(usage())


async def test_caller_that_gives_up_leaves_the_writer_working(
    ledger: UsageLedger, migrated_url: str
) -> None:
    abandoned = usage()
    call = asyncio.create_task(ledger.record(abandoned))
    await asyncio.sleep(0)  # queued
    call.cancel()
    later = usage()

    await ledger.record(later)

    assert call.cancelled()
    assert sorted(await stored_ids(migrated_url)) == sorted([abandoned.id, later.id])


# --- idempotency -----------------------------------------------------------


async def test_duplicate_client_request_id_fails_only_that_call(
    ledger: UsageLedger, migrated_url: str
) -> None:
    records = [usage(client_request_id=f"req-{n}") for n in range(20)]
    twin = usage(client_request_id="req-7")
    others = [usage() for _ in range(5)]  # no key: never duplicates
    other_org = usage(org_id="globex", client_request_id="req-7")

    outcomes = await asyncio.gather(
        *(ledger.record(r) for r in [*records, twin, *others, other_org]),
        return_exceptions=True,
    )

    failures = [o for o in outcomes if o is not None]
    assert len(failures) == 1
    assert isinstance(failures[0], AlreadyExists)
    assert len(await stored_ids(migrated_url)) == 26
    with pytest.raises(AlreadyExists):
        await ledger.record(usage(client_request_id="req-3"))


async def test_find_returns_the_stored_record(ledger: UsageLedger) -> None:
    record = usage(
        team_id="ml",
        request_id="rpc-1",
        client_request_id="retry-me",
        scenario="support-bot",
        kind=CallKind.STREAM,
        model="openai/gpt-4o-mini",
        provider="openai",
        task_type="chat",
        input_tokens=120,
        output_tokens=45,
        cost_micros=2_500_000_000_000,  # beyond 32 bits
        latency_ms=812.5,
        ttft_ms=95.25,
        status=CallStatus.STREAM_BROKEN,
        attempts=(
            Attempt("anthropic", "claude", False, "ProviderTimeout", "timed out", 30.0),
            Attempt("openai", "gpt-4o-mini", True, latency_ms=780.0),
        ),
        route_reason="cheapest model meeting the quality floor",
        response='{"text": "h\\u00e9llo"}',
        created_at=datetime(
            2026, 12, 3, 19, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))
        ),
    )
    await ledger.record(record)

    found = await ledger.find("acme", "retry-me")

    assert found == record
    assert found is not None and found.created_at.tzinfo is not None
    assert await ledger.find("globex", "retry-me") is None
    assert await ledger.find("acme", "never-sent") is None
    assert await ledger.find("acme", "") is None


# --- bad records and failing databases -------------------------------------


async def test_unstorable_field_is_refused_before_writing(
    ledger: UsageLedger, migrated_url: str
) -> None:
    with pytest.raises(InvalidArgument) as too_long:
        await ledger.record(usage(scenario="s" * 129))
    with pytest.raises(InvalidArgument) as nul:
        await ledger.record(usage(principal_id="al\x00ice"))
    await ledger.record(usage(route_reason="provider said \x00"))

    assert too_long.value.violations[0].field == "scenario"
    assert nul.value.violations[0].field == "principal_id"
    assert len(await stored_ids(migrated_url)) == 1


async def test_record_the_database_refuses_fails_alone(
    ledger: UsageLedger, database: Database, migrated_url: str
) -> None:
    async with database.engine.begin() as connection:
        if is_sqlite(migrated_url):
            await connection.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON usage_records "
                    "WHEN NEW.scenario = 'poison' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
                )
            )
        else:
            await connection.execute(
                text(
                    "ALTER TABLE usage_records ADD CONSTRAINT refuse_poison "
                    "CHECK (scenario <> 'poison')"
                )
            )
    good = [usage() for _ in range(30)]
    poison = usage(scenario="poison")

    outcomes = await asyncio.gather(
        *(ledger.record(r) for r in [*good[:15], poison, *good[15:]]),
        return_exceptions=True,
    )

    assert isinstance(outcomes[15], InvalidArgument)
    assert [o for i, o in enumerate(outcomes) if i != 15] == [None] * 30
    assert sorted(await stored_ids(migrated_url)) == sorted(r.id for r in good)


async def test_record_raises_when_database_is_unavailable(migrated_url: str) -> None:
    if is_sqlite(migrated_url):
        path = migrated_url.split("///", 1)[1]
        url = f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    else:
        url = migrated_url
    database = Database(url)
    ledger = UsageLedger(database)
    ledger.start()
    if not is_sqlite(migrated_url):
        await ledger.record(usage())  # works, then the database goes away
        admin = await asyncpg.connect(POSTGRES_URL)
        name = url.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
        with pytest.raises(Unavailable):
            await ledger.find("acme", "any")

    with pytest.raises(Unavailable):
        await ledger.record(usage())
    with pytest.raises(Unavailable):  # the writer still answers
        await ledger.record(usage())
    await ledger.stop()
    await database.dispose()
    assert ledger.stats.failed_batches == 2


async def test_writer_survives_a_failed_commit_and_recovers(
    ledger: UsageLedger, database: Database, migrated_url: str
) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE usage_records RENAME TO hidden"))
    lost = usage()
    with pytest.raises(Unavailable):
        await ledger.record(lost)

    async with database.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE hidden RENAME TO usage_records"))
    kept = usage()
    await ledger.record(kept)

    assert await stored_ids(migrated_url) == [kept.id]


@pytest.mark.postgres
async def test_commit_that_hangs_times_out_as_unavailable() -> None:
    # PostgreSQL only: a lock stands in for a server that stops answering.
    # (On SQLite the busy timeout already bounds every wait.)
    async with fresh_postgres_database(POSTGRES_URL) as url:
        await upgrade_async(url)
        database = Database(url)
        async with UsageLedger(database, commit_timeout=0.5) as ledger:
            await ledger.record(usage())
            locker = await asyncpg.connect(url.replace("+asyncpg", ""))
            lock = locker.transaction()
            await lock.start()
            await locker.execute("LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE")

            with pytest.raises(Unavailable, match="no commit within"):
                await ledger.record(usage())

            await lock.rollback()
            await locker.close()
            await ledger.record(usage())
        await database.dispose()
        assert len(await stored_ids(url)) == 2


# --- a killed process ------------------------------------------------------


@pytest.mark.slow
async def test_killed_writer_loses_no_acknowledged_record(
    migrated_url: str, tmp_path: Path
) -> None:
    errors = tmp_path / "writer.stderr"
    with errors.open("wb") as stderr:
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WRITER),
            migrated_url,
            "64",
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    assert writer.stdout is not None
    acknowledged: list[str] = []
    try:
        async with asyncio.timeout(60):
            while len(acknowledged) < 500:
                line = await writer.stdout.readline()
                assert line, f"the writer ended early: {errors.read_text()}"
                acknowledged.append(line.decode().strip())
    finally:
        writer.send_signal(signal.SIGKILL)
    rest = await writer.stdout.read()  # printed before the kill, still piped
    await writer.wait()

    complete_lines = rest.decode().split("\n")[:-1]  # the last may be cut off
    acknowledged += [line.strip() for line in complete_lines]
    stored = set(await stored_ids(migrated_url))

    assert writer.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 500
    assert [i for i in acknowledged if i not in stored] == []


# --- SQLite: commits on the loop, and when they must not happen ----------------


def sqlite_file(url: str) -> str:
    return url.split("///", 1)[1]


async def test_sqlite_small_batch_commits_without_the_writer_thread(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}"
    await upgrade_async(url)
    database = Database(url)
    try:
        async with UsageLedger(database) as ledger:
            record = usage()
            await ledger.record(record)
            writer = ledger._sqlite
            assert writer is not None
            # The writer thread was never started: the commit ran here.
            assert writer._executor._threads == set()
        assert await stored_ids(url) == [record.id]
    finally:
        await database.dispose()


async def test_sqlite_batch_over_the_inline_limit_goes_to_the_writer_thread(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'large.db'}"
    await upgrade_async(url)
    database = Database(url)
    try:
        async with UsageLedger(database) as ledger:
            writer = ledger._sqlite
            assert writer is not None
            small = [row_values(usage()) for _ in range(INLINE_MAX_BATCH)]
            assert await ledger._insert_all(small) == {row["id"] for row in small}
            assert writer._executor._threads == set()  # committed on the loop

            large = [row_values(usage()) for _ in range(INLINE_MAX_BATCH + 1)]
            assert await ledger._insert_all(large) == {row["id"] for row in large}
            assert writer._executor._threads  # too long to hold the loop
        assert len(await stored_ids(url)) == 2 * INLINE_MAX_BATCH + 1
    finally:
        await database.dispose()


async def test_sqlite_held_write_lock_sends_the_batch_to_the_writer_thread(
    tmp_path: Path,
) -> None:
    import sqlite3

    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}"
    await upgrade_async(url)
    other = sqlite3.connect(sqlite_file(url), isolation_level=None)
    database = Database(url)
    try:
        async with UsageLedger(database) as ledger:
            other.execute("BEGIN IMMEDIATE")  # another process is writing
            record = usage()
            pending = asyncio.create_task(ledger.record(record))
            ticks = 0
            while ticks < 20:  # the loop keeps running while the batch waits
                await asyncio.sleep(0.01)
                ticks += 1
            assert not pending.done()
            other.execute("COMMIT")
            await asyncio.wait_for(pending, 30)
            writer = ledger._sqlite
            assert writer is not None and writer._executor._threads
        assert await stored_ids(url) == [record.id]
    finally:
        other.close()
        await database.dispose()


async def test_sqlite_full_durability_never_commits_on_the_loop(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'full.db'}"
    await upgrade_async(url)
    database = Database(url, sqlite_synchronous="FULL")
    try:
        async with UsageLedger(database) as ledger:
            await ledger.record(usage())
            writer = ledger._sqlite
            assert writer is not None and writer._executor._threads
    finally:
        await database.dispose()


async def test_sqlite_inline_rows_equal_rows_written_through_sqlalchemy(
    tmp_path: Path,
) -> None:
    import sqlite3

    created = datetime(2026, 12, 4, 12, 30, 15, 123456, tzinfo=UTC)
    fields: dict[str, Any] = {
        "team_id": "team-ä",
        "scenario": "support\u2028",
        "model": "openai/gpt-4o",
        "provider": "openai",
        "task_type": "coding",
        "input_tokens": 2**40,
        "output_tokens": 7,
        "cost_micros": 123_456_789,
        "latency_ms": 12.5,
        "ttft_ms": 3.25,
        "route_reason": "cheapest \x00 above the floor",
        "response": '{"text": "hi"}',
        "created_at": created,
        "attempts": [
            Attempt("openai", "gpt-4o", ok=False, error="boom", latency_ms=1.5)
        ],
    }
    rows = {}
    for mode in ("NORMAL", "FULL"):  # NORMAL commits inline, FULL on the thread
        url = f"sqlite+aiosqlite:///{tmp_path / f'{mode}.db'}"
        await upgrade_async(url)
        database = Database(url, sqlite_synchronous=mode)
        try:
            async with UsageLedger(database) as ledger:
                record = usage(id="rec-1", client_request_id="c-1", **fields)
                await ledger.record(record)
                inline = not ledger._sqlite or not ledger._sqlite._executor._threads
                assert inline == (mode == "NORMAL")
        finally:
            await database.dispose()
        with sqlite3.connect(sqlite_file(url)) as connection:
            rows[mode] = connection.execute("SELECT * FROM usage_records").fetchall()
    assert rows["NORMAL"] == rows["FULL"]
    assert len(rows["NORMAL"]) == 1
