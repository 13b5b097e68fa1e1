"""Latency of one rate-limit acquire: Redis, database leases and local, side by side.

Method: for each backend, one limiter charges N calls one after another to
a key limit and a team limit (both rpm and tpm), timing each ``acquire`` and
each ``settle``. Two cases: "roomy", where the limits are far above N, and
"tight", where the rpm is exactly N, so that database leases shrink to one
call each as the allowance runs out (the worst case for leases). Then C
concurrent callers share one limiter, for throughput. Reports p50 / p99 in
milliseconds, and for database leases how many round trips leased.

Redis is the server at MEGAROUTER_TEST_REDIS_URL (default local), PostgreSQL
a fresh database on MEGAROUTER_TEST_POSTGRES_URL (default local), SQLite a
temporary file.

Usage: python scripts/bench_ratelimits.py [--calls N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import numpy as np
from redis.asyncio import Redis

from megarouter.governance.ratelimit_leases import DatabaseRateLimiter
from megarouter.governance.ratelimit_redis import RedisRateLimiter
from megarouter.governance.ratelimits import LocalRateLimiter, RateLimit, RateLimiter
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.testing.server import fresh_postgres_database

REDIS_URL = os.environ.get("MEGAROUTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
NOW = 29_000_000 * 60.0  # one fixed minute, so no run straddles two

MakeLimiter = Callable[[], RateLimiter]


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1e3
    p50, p99 = np.percentile(ms, [50, 99])
    return f"p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"


async def sequential(
    limiter: RateLimiter, calls: int, rpm: int, case: str
) -> list[str]:
    """Time acquire and settle of ``calls`` calls made one after another."""
    limits = [
        RateLimit.for_key("bench", f"key-{case}", rpm=rpm, tpm=rpm * 2000),
        RateLimit.for_team("bench", f"team-{case}", rpm=rpm * 10, tpm=rpm * 20_000),
    ]
    acquires: list[float] = []
    settles: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        permit = await limiter.acquire(limits, 1000)
        middle = time.perf_counter()
        await limiter.settle(permit, 400)
        acquires.append(middle - start)
        settles.append(time.perf_counter() - middle)
    return [f"acquire {percentiles(acquires)}", f"settle {percentiles(settles)}"]


async def concurrent(limiter: RateLimiter, calls: int, tasks: int) -> str:
    """Calls per second of ``tasks`` callers sharing one limiter."""
    limits = [RateLimit.for_key("bench", "k2", rpm=calls * 100, tpm=calls * 10**6)]

    async def caller() -> None:
        for _ in range(calls // tasks):
            permit = await limiter.acquire(limits, 1000)
            await limiter.settle(permit, 400)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(tasks)))
    return f"{calls / (time.perf_counter() - start):9.0f} calls/s with {tasks} callers"


@asynccontextmanager
async def backends(stack: AsyncExitStack) -> AsyncIterator[dict[str, MakeLimiter]]:
    """A limiter factory per backend; each factory starts from empty counters."""
    redis = Redis.from_url(REDIS_URL)
    stack.push_async_callback(redis.aclose)
    prefix = f"bench:ratelimit:{uuid.uuid4().hex}:"

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    urls = {
        "sqlite": f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        "postgres": await stack.enter_async_context(
            fresh_postgres_database(POSTGRES_URL)
        ),
    }
    databases = {}
    for name, url in urls.items():
        await upgrade_async(url)
        databases[name] = Database(url)
        stack.push_async_callback(databases[name].dispose)

    def redis_limiter() -> RateLimiter:
        return RedisRateLimiter(
            redis, key_prefix=f"{prefix}{uuid.uuid4().hex}:", clock=lambda: NOW
        )

    def lease_limiter(name: str) -> MakeLimiter:
        return lambda: DatabaseRateLimiter(databases[name], clock=lambda: NOW)

    try:
        yield {
            "local": lambda: LocalRateLimiter(lambda: NOW),
            "redis": redis_limiter,
            "leases/sqlite": lease_limiter("sqlite"),
            "leases/postgres": lease_limiter("postgres"),
        }
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)


async def run(calls: int, tasks: int) -> None:
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {calls} calls per case"
    )
    async with AsyncExitStack() as stack, backends(stack) as makers:
        for name, make in makers.items():
            rows = []
            for case, rpm in (("roomy", calls * 100), ("tight", calls)):
                limiter = make()
                lines = await sequential(limiter, calls, rpm, case)
                rows += [f"{case:5}  {line}" for line in lines]
                if isinstance(limiter, DatabaseRateLimiter):
                    rows.append(f"{case:5}  {limiter.leases} lease round trips")
            rows.append(f"many   {await concurrent(make(), calls, tasks)}")
            print(f"\n{name}")
            for row in rows:
                print(f"  {row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.concurrency))


if __name__ == "__main__":
    main()
