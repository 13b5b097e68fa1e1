"""Rate limits through database leases: few round trips, bounded idle shares."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from megarouter.errors import ResourceExhausted
from megarouter.governance.ratelimit_leases import WINDOWS, DatabaseRateLimiter
from megarouter.governance.ratelimits import RateLimit
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.testing.server import fresh_postgres_database

POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MINUTE = 60
START = 29_000_000 * MINUTE


class FakeClock:
    def __init__(self) -> None:
        self.now = float(START)

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
async def migrated_urls(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, str]]:
    """One migrated database per backend for the module; tests empty them."""
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('rl') / 'rl.db'}"
    async with fresh_postgres_database(POSTGRES_URL) as postgres_url:
        for url in (sqlite_url, postgres_url):
            await upgrade_async(url)
        yield {"sqlite": sqlite_url, "postgres": postgres_url}


@pytest.fixture(params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, migrated_urls: dict[str, str]
) -> AsyncIterator[Database]:
    database = Database(migrated_urls[request.param])
    async with database.transaction() as session:
        await session.execute(delete(WINDOWS))
    yield database
    await database.dispose()


async def served(limiter: DatabaseRateLimiter, limit: RateLimit, calls: int) -> int:
    count = 0
    for _ in range(calls):
        with suppress(ResourceExhausted):
            await limiter.acquire([limit], 1)
            count += 1
    return count


async def test_replica_asks_the_database_rarely_while_calls_fit(
    database: Database,
) -> None:
    limiter = DatabaseRateLimiter(database, clock=FakeClock())

    count = await served(limiter, RateLimit.for_key("acme", "k1", rpm=10_000), 2000)

    assert count == 2000
    assert limiter.leases <= 20


async def test_exhausted_limit_refuses_without_asking_the_database(
    database: Database,
) -> None:
    limiter = DatabaseRateLimiter(database, clock=FakeClock())
    limit = RateLimit.for_key("acme", "k1", rpm=100)
    await served(limiter, limit, 101)
    leases = limiter.leases

    count = await served(limiter, limit, 500)

    assert count == 0
    assert limiter.leases == leases


async def test_idle_replica_strands_at_most_its_lease_fraction(
    database: Database,
) -> None:
    clock = FakeClock()
    idle = DatabaseRateLimiter(database, clock=clock, lease_fraction=0.1)
    busy = DatabaseRateLimiter(database, clock=clock, lease_fraction=0.1)
    limit = RateLimit.for_key("acme", "k1", rpm=1000)

    first = await served(idle, limit, 1)
    rest = await served(busy, limit, 1200)

    assert first == 1
    assert 1000 - 0.1 * 1000 <= first + rest <= 1000


async def test_rows_of_ended_minutes_are_deleted(database: Database) -> None:
    clock = FakeClock()
    limiter = DatabaseRateLimiter(database, clock=clock)
    limit = RateLimit.for_key("acme", "k1", rpm=10)

    for minute in range(4):
        clock.now = START + minute * MINUTE
        await limiter.acquire([limit], 1)

    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(WINDOWS.c.minute))).scalars().all()
    assert sorted(rows) == [START // MINUTE + n for n in (1, 2, 3)]


async def test_migration_matches_table_definition(database: Database) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection)
        diff: list[Any] = compare_metadata(context, SQLModel.metadata)
        return diff

    async with database.engine.connect() as connection:
        diff = await connection.run_sync(differences)

    assert [d for d in diff if "rate_limit_windows" in repr(d)] == []
