"""Usage ledger throughput and latency: group commit against a commit per record.

For each database (a SQLite file, and a fresh PostgreSQL database) and each
concurrency, N callers record usage back to back for a fixed time, first
through :class:`UsageLedger` (one writer, group commit), then each in its own
transaction through the same engine and the same INSERT (one commit per
record). It prints records per second and the latency of one ``record()``
call, from its start until it returned because the record was durable.

    python scripts/bench_ledger.py [--seconds 3] [--concurrency 1 16 256]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import sqlalchemy
from sqlalchemy import text

from megarouter.governance.ledger import (
    USAGE_TABLE,
    UsageLedger,
    insert_statement,
    row_values,
)
from megarouter.governance.usage import Attempt, CallKind, CallStatus, UsageRecord
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async

POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

Record = Callable[[UsageRecord], Awaitable[None]]


@dataclass
class Result:
    records: int
    seconds: float
    latencies_ms: list[float]
    batches: int | None = None

    def row(self) -> str:
        cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        rate = self.records / self.seconds
        line = f"{rate:9.0f} rec/s  p50 {cuts[49]:7.2f} ms  p99 {cuts[98]:7.2f} ms"
        if self.batches:
            line += (
                f"  ({self.batches} commits, {self.records / self.batches:.1f}/commit)"
            )
        return line


def sample_record(worker: int, n: int) -> UsageRecord:
    return UsageRecord(
        org_id="bench",
        team_id="team-1",
        principal_id=f"worker-{worker}",
        key_id="key-1",
        kind=CallKind.COMPLETE,
        requested_model="auto",
        model="openai/gpt-4o-mini",
        provider="openai",
        task_type="chat",
        status=CallStatus.OK,
        input_tokens=420,
        output_tokens=180,
        cost_micros=171,
        latency_ms=812.0,
        attempts=(Attempt("openai", "gpt-4o-mini", True, latency_ms=800.0),),
        route_reason="cheapest model meeting the quality floor",
        client_request_id=f"w{worker}-{n}" if n % 2 else "",
    )


async def load(record: Record, concurrency: int, seconds: float) -> Result:
    """N callers recording back to back until time is up."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(worker: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await record(sample_record(worker, n))
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(w) for w in range(concurrency)))
    return Result(len(latencies), time.perf_counter() - started, latencies)


async def group_commit(database: Database, concurrency: int, seconds: float) -> Result:
    async with UsageLedger(database) as ledger:
        result = await load(ledger.record, concurrency, seconds)
    result.batches = ledger.stats.batches
    return result


async def commit_per_record(
    database: Database, concurrency: int, seconds: float
) -> Result:
    insert = insert_statement(database.engine.dialect.name)

    async def record(usage: UsageRecord) -> None:
        async with database.engine.begin() as connection:
            await connection.execute(insert, [row_values(usage)])

    return await load(record, concurrency, seconds)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    name = f"bench_ledger_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = POSTGRES_URL.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(POSTGRES_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def describe(database: Database) -> str:
    async with database.engine.connect() as connection:
        if database.engine.dialect.name == "sqlite":
            version = (
                await connection.execute(text("select sqlite_version()"))
            ).scalar()
            mode = (await connection.execute(text("pragma journal_mode"))).scalar()
            sync = (await connection.execute(text("pragma synchronous"))).scalar()
            return (
                f"SQLite {version}, journal_mode={mode}, synchronous={sync} (1=NORMAL)"
            )
        version = (await connection.execute(text("show server_version"))).scalar()
        fsync = (await connection.execute(text("show fsync"))).scalar()
        sync = (await connection.execute(text("show synchronous_commit"))).scalar()
        return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync}"


async def bench(url: str, concurrencies: list[int], seconds: float) -> None:
    await upgrade_async(url)
    database = Database(url)
    print(f"\n{await describe(database)}")
    for concurrency in concurrencies:
        for name, mode in (
            ("group commit", group_commit),
            ("commit/record", commit_per_record),
        ):
            async with database.engine.begin() as connection:
                await connection.execute(USAGE_TABLE.delete())
            result = await mode(database, concurrency, seconds)
            print(f"  concurrency {concurrency:4d}  {name:14s} {result.row()}")
    await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgres"],
        nargs="+",
        default=["sqlite", "postgres"],
    )
    args = parser.parse_args()

    print(
        f"machine: {os.cpu_count()} CPUs (nproc), {platform.machine()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"python {sys.version.split()[0]}, SQLAlchemy {sqlalchemy.__version__}, "
        f"asyncpg {asyncpg.__version__}"
    )
    print(
        f"method: per backend and concurrency, callers record back to back for "
        f"{args.seconds:g} s; latency is one record() call until durable. "
        "'group commit' goes through UsageLedger; 'commit/record' opens one "
        "transaction per record on the same engine (pool 10+10 on PostgreSQL). "
        "The table is emptied before each run; half the records carry a "
        "client_request_id."
    )

    if "sqlite" in args.backend:
        with tempfile.TemporaryDirectory() as folder:
            await bench(
                f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
                args.concurrency,
                args.seconds,
            )
    if "postgres" in args.backend:
        async with postgres_database() as url:
            await bench(url, args.concurrency, args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
