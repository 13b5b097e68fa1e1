"""Cost of checking a call against a hard budget: leases against a naive
conditional UPDATE per call, on SQLite and PostgreSQL.

Method: on a fresh database of each backend (migrated; one org, one hard
monthly team budget far from its limit), time ``reserve`` then ``settle``
for N calls one after another, and report p50 / p99 per call. Then run C
concurrent callers for N calls and report calls per second. The naive way
is what an exact budget costs without leases: a conditional UPDATE of the
window row to reserve the worst case and a second UPDATE to settle, each
its own transaction. Both ways leave the budget exact.

Usage: python scripts/bench_budgets.py [--calls N] [--concurrency C]
       [--postgres URL]   (default: MEGAROUTER_TEST_POSTGRES_URL or local)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import and_, update

from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budget_leases import WINDOWS, LeaseStore, WindowKey
from megarouter.governance.budget_model import Budget, CallScopes, ScopeKind
from megarouter.governance.budget_periods import Period, time_zone, window_at
from megarouter.governance.budgets import BudgetBook
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.store.tables import OrgRow
from megarouter.testing.server import fresh_postgres_database

SCOPES = CallScopes(org_id="bench", team_id="ml")
WORST, ACTUAL = 2_000, 1_500
LIMIT = 10**15  # far from reach: every call is admitted

Call = Callable[[], Awaitable[None]]


async def prepare(url: str) -> Database:
    """A migrated database with one org and one hard budget."""
    await upgrade_async(url)
    database = Database(url)
    async with database.transaction() as session:
        session.add(OrgRow(id="bench"))
    budget = Budget("bench", "ml", ScopeKind.TEAM, "ml", Period.MONTHLY, LIMIT)
    await BudgetAdmin(database).create(budget)
    return database


def with_leases(book: BudgetBook) -> Call:
    async def call() -> None:
        reservation = await book.reserve(SCOPES, WORST)
        await book.settle(reservation, ACTUAL)

    return call


async def naive(database: Database) -> Call:
    """Reserve and settle with one conditional UPDATE each, every call."""
    window = window_at(Period.MONTHLY, time_zone("UTC"), datetime.now(UTC))
    key = WindowKey("bench", "ml", window.start)
    # Create the window row through the lease store, then return the lease.
    store = LeaseStore(database)
    await store.grow(
        key,
        window.end,
        "setup",
        "bench",
        new_lease=True,
        grow_micros=0,
        used_micros=0,
        expires_at=datetime.now(UTC),
    )
    await store.release(key, "setup", used_micros=0)
    row = and_(
        WINDOWS.c.org_id == key.org_id,
        WINDOWS.c.budget_id == key.budget_id,
        WINDOWS.c.window_start == key.start,
    )
    spent = WINDOWS.c.spent_micros

    async def call() -> None:
        async with database.engine.begin() as connection:
            result = await connection.execute(
                update(WINDOWS)
                .where(row, spent + WORST <= LIMIT)
                .values(spent_micros=spent + WORST)
            )
            assert result.rowcount == 1
        async with database.engine.begin() as connection:
            await connection.execute(
                update(WINDOWS).where(row).values(spent_micros=spent - WORST + ACTUAL)
            )

    return call


async def measure(
    call: Call, calls: int, concurrency: int
) -> tuple[float, float, float]:
    """p50 and p99 of one call in microseconds, then calls per second."""
    for _ in range(20):
        await call()  # warm the pools and the first lease
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(len(samples) * 0.99) - 1] * 1e6

    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return p50, p99, calls / (time.perf_counter() - start)


async def bench_backend(name: str, url: str, calls: int, concurrency: int) -> None:
    database = await prepare(url)
    async with BudgetBook(database) as book:
        leased = await measure(with_leases(book), calls, concurrency)
    plain = await measure(await naive(database), calls, concurrency)
    await database.dispose()
    for way, (p50, p99, rate) in (("leases", leased), ("naive UPDATE", plain)):
        print(
            f"{name:<10} {way:<13} p50 {p50:9.1f} us  p99 {p99:9.1f} us  "
            f"{rate:9.0f} calls/s with {concurrency} callers"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; reserve + settle of one call, {args.calls} calls"
    )

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        await bench_backend("SQLite", url, args.calls, args.concurrency)
    async with fresh_postgres_database(args.postgres) as url:
        await bench_backend("PostgreSQL", url, args.calls, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
