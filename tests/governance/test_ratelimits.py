"""Rate limits on every backend: local, Redis, and database leases.

Every behaviour runs against each backend with a clock the test moves, and
the replica tests run two limiters that share one Redis or one database,
hammering the same key concurrently, as two replicas would.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete

from megarouter.errors import InvalidArgument, ResourceExhausted
from megarouter.governance.ratelimit_leases import WINDOWS, DatabaseRateLimiter
from megarouter.governance.ratelimit_redis import RedisRateLimiter
from megarouter.governance.ratelimits import (
    LocalRateLimiter,
    Permit,
    RateLimit,
    RateLimiter,
    RateLimitGate,
)
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.testing.server import fresh_postgres_database

POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MEGAROUTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

MINUTE = 60
START = 29_000_000 * MINUTE  # the first second of a minute, in late 2025


class FakeClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


NewLimiter = Callable[[FakeClock], RateLimiter]


@pytest.fixture(scope="module")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite database for the module; tests empty it."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('rl') / 'rl.db'}"
    await upgrade_async(url)
    return url


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """One migrated PostgreSQL database for the module; tests empty it."""
    async with fresh_postgres_database(POSTGRES_URL) as url:
        await upgrade_async(url)
        yield url


@pytest.fixture(params=["local", "redis", "sqlite", "postgres"])
async def new_limiter(
    request: pytest.FixtureRequest, sqlite_url: str, postgres_url: str
) -> AsyncIterator[NewLimiter]:
    """Makes limiters of one backend; those of a shared backend share state."""
    urls = {"sqlite": sqlite_url, "postgres": postgres_url}
    async with limiters(request.param, urls, same_engine=True) as make:
        yield make


@pytest.fixture(params=["redis", "sqlite", "postgres"])
async def new_replica(
    request: pytest.FixtureRequest, sqlite_url: str, postgres_url: str
) -> AsyncIterator[NewLimiter]:
    """Makes limiters that share one Redis or one database, like replicas."""
    urls = {"sqlite": sqlite_url, "postgres": postgres_url}
    async with limiters(request.param, urls, same_engine=False) as make:
        yield make


@asynccontextmanager
async def limiters(
    backend: str, urls: dict[str, str], *, same_engine: bool
) -> AsyncIterator[NewLimiter]:
    """Limiters of one backend, cleaned up after.

    Database replicas get an engine each, as separate processes would.
    """
    if backend == "local":
        yield lambda clock: LocalRateLimiter(clock)
        return
    if backend == "redis":
        async with redis_prefix() as (redis, prefix):
            yield lambda clock: RedisRateLimiter(redis, key_prefix=prefix, clock=clock)
        return

    url = urls[backend]
    databases = [Database(url)]
    async with databases[0].transaction() as session:
        await session.execute(delete(WINDOWS))

    def make(clock: FakeClock) -> RateLimiter:
        if not same_engine:
            databases.append(Database(url))
        return DatabaseRateLimiter(databases[-1], clock=clock)

    try:
        yield make
    finally:
        for database in databases:
            await database.dispose()


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[tuple[Redis, str]]:
    """A Redis client and a key prefix of its own, deleted afterwards."""
    redis = Redis.from_url(REDIS_URL)
    prefix = f"test:ratelimit:{uuid.uuid4().hex}:"
    try:
        yield redis, prefix
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def key(name: str = "k1", **limits: int) -> RateLimit:
    return RateLimit.for_key("acme", name, **limits)


def team(name: str = "search", **limits: int) -> RateLimit:
    return RateLimit.for_team("acme", name, **limits)


async def admitted(
    limiter: RateLimiter, subjects: Sequence[RateLimit], tokens: int = 1
) -> bool:
    """Whether the limiter admits one call."""
    try:
        await limiter.acquire(subjects, tokens)
    except ResourceExhausted:
        return False
    return True


async def refusal(
    limiter: RateLimiter, subjects: Sequence[RateLimit], tokens: int = 1
) -> ResourceExhausted:
    with pytest.raises(ResourceExhausted) as caught:
        await limiter.acquire(subjects, tokens)
    return caught.value


# --- one limiter -----------------------------------------------------------


async def test_requests_beyond_rpm_are_refused_until_the_minute_ends(
    new_limiter: NewLimiter,
) -> None:
    clock = FakeClock(START + 15)
    limiter = new_limiter(clock)
    limits = [key(rpm=5)]

    results = [await admitted(limiter, limits) for _ in range(8)]
    error = await refusal(limiter, limits)
    clock.advance(45)  # the next minute
    again = [await admitted(limiter, limits) for _ in range(6)]

    assert results == [True] * 5 + [False] * 3
    assert error.retry_after == pytest.approx(45)
    assert [v.subject for v in error.violations] == ["orgs/acme/keys/k1"]
    assert "5 requests per minute" in error.violations[0].description
    assert again == [True] * 5 + [False]


async def test_tokens_beyond_tpm_are_refused_while_smaller_calls_fit(
    new_limiter: NewLimiter,
) -> None:
    limiter = new_limiter(FakeClock())
    limits = [key(tpm=1000)]

    first = [await admitted(limiter, limits, 400) for _ in range(3)]
    error = await refusal(limiter, limits, 400)
    small = await admitted(limiter, limits, 200)

    assert first == [True, True, False]
    assert "1000 tokens per minute" in error.violations[0].description
    assert small
    assert not await admitted(limiter, limits, 1)


async def test_team_limit_binds_every_key_of_the_team(new_limiter: NewLimiter) -> None:
    limiter = new_limiter(FakeClock())
    shared = team(rpm=3)

    by_first = [await admitted(limiter, [key("k1", rpm=10), shared]) for _ in range(2)]
    by_second = [await admitted(limiter, [key("k2", rpm=10), shared]) for _ in range(2)]
    error = await refusal(limiter, [key("k2", rpm=10), shared])

    assert by_first == [True, True]
    assert by_second == [True, False]
    assert [v.subject for v in error.violations] == ["orgs/acme/teams/search"]


async def test_key_limit_binds_one_key_when_tighter_than_its_team(
    new_limiter: NewLimiter,
) -> None:
    limiter = new_limiter(FakeClock())
    shared = team(rpm=100)

    first = [await admitted(limiter, [key("k1", rpm=2), shared]) for _ in range(3)]
    second = [await admitted(limiter, [key("k2", rpm=2), shared]) for _ in range(2)]

    assert first == [True, True, False]
    assert second == [True, True]


async def test_call_refused_by_one_limit_charges_no_other(
    new_limiter: NewLimiter,
) -> None:
    limiter = new_limiter(FakeClock())
    own = key(rpm=2)
    shared = team(tpm=100)

    outcomes = [
        await admitted(limiter, [own, shared], 80),
        await admitted(limiter, [own, shared], 80),  # the team's tokens refuse
        await admitted(limiter, [own, shared], 10),  # the key still has a request
        await admitted(limiter, [own, shared], 5),
    ]

    assert outcomes == [True, False, True, False]


async def test_settle_gives_back_tokens_the_call_did_not_use(
    new_limiter: NewLimiter,
) -> None:
    limiter = new_limiter(FakeClock())
    limits = [key(tpm=1000)]

    permit = await limiter.acquire(limits, 600)
    before = await admitted(limiter, limits, 600)
    await limiter.settle(permit, 100)
    after = await admitted(limiter, limits, 600)

    assert (before, after) == (False, True)
    assert permit.tokens == 100
    assert not await admitted(limiter, limits, 301)


async def test_settle_charges_tokens_beyond_the_estimate(
    new_limiter: NewLimiter,
) -> None:
    limiter = new_limiter(FakeClock())
    limits = [key(tpm=1000)]

    permit = await limiter.acquire(limits, 100)
    await limiter.settle(permit, 900)

    assert not await admitted(limiter, limits, 200)
    assert await admitted(limiter, limits, 100)


async def test_settle_after_the_minute_ended_leaves_the_new_minute_alone(
    new_limiter: NewLimiter,
) -> None:
    clock = FakeClock()
    limiter = new_limiter(clock)
    limits = [key(tpm=1000)]

    permit = await limiter.acquire(limits, 100)
    clock.advance(MINUTE)
    await limiter.settle(permit, 1000)

    assert await admitted(limiter, limits, 1000)


async def test_call_larger_than_the_tpm_is_refused_with_no_retry(
    new_limiter: NewLimiter,
) -> None:
    limiter = new_limiter(FakeClock())

    error = await refusal(limiter, [key(tpm=1000)], 1001)

    assert error.retry_after is None
    assert "more than the limit of 1000 tokens" in error.violations[0].description


async def test_negative_token_estimate_is_invalid(new_limiter: NewLimiter) -> None:
    limiter = new_limiter(FakeClock())

    with pytest.raises(InvalidArgument):
        await limiter.acquire([key(tpm=1000)], -1)


async def test_subjects_without_limits_admit_every_call(
    new_limiter: NewLimiter,
) -> None:
    limiter = new_limiter(FakeClock())
    limits = [key(), team()]

    permits = [await limiter.acquire(limits, 10**6) for _ in range(50)]
    await limiter.settle(permits[0], 5)

    assert all(p.limits == () for p in permits)


async def test_retry_after_is_the_time_left_in_the_minute(
    new_limiter: NewLimiter,
) -> None:
    clock = FakeClock(START + 59.75)
    limiter = new_limiter(clock)
    await limiter.acquire([key(rpm=1)], 1)

    late = await refusal(limiter, [key(rpm=1)])
    clock.advance(0.5)  # into the next minute, which allows one more
    await limiter.acquire([key(rpm=1)], 1)
    early = await refusal(limiter, [key(rpm=1)])

    assert late.retry_after == pytest.approx(0.25)
    assert early.retry_after == pytest.approx(59.75)
    assert late.retry_after is not None
    assert 0 < late.retry_after <= MINUTE


async def test_gate_charges_the_limits_configured_for_the_caller(
    new_limiter: NewLimiter,
) -> None:
    configured = {"k1": key("k1", rpm=1), "search": team("search", rpm=2)}

    def limits_for(org_id: str, team_id: str, key_id: str) -> list[RateLimit]:
        return [configured[n] for n in (team_id, key_id) if n in configured]

    gate = RateLimitGate(new_limiter(FakeClock()), limits_for)

    permit = await gate.acquire("acme", "search", "k1", 10)
    await gate.settle(permit, 3)
    with pytest.raises(ResourceExhausted):
        await gate.acquire("acme", "search", "k1", 10)
    await gate.acquire("acme", "search", "k2", 10)
    with pytest.raises(ResourceExhausted):
        await gate.acquire("acme", "search", "k3", 10)
    await gate.acquire("acme", "other", "k3", 10)


# --- two replicas ----------------------------------------------------------


async def hammer(
    limiter: RateLimiter,
    clock: FakeClock,
    subjects: Sequence[RateLimit],
    tokens: Callable[[], int],
    calls: int,
    concurrency: int = 16,
) -> list[Permit]:
    """Many concurrent callers at one replica, the clock creeping on."""
    permits: list[Permit] = []

    async def caller() -> None:
        for _ in range(calls // concurrency):
            clock.advance(0.001)
            with suppress(ResourceExhausted):
                permits.append(await limiter.acquire(subjects, tokens()))

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return permits


async def test_two_replicas_never_admit_more_than_the_rpm(
    new_replica: NewLimiter,
) -> None:
    clock = FakeClock()
    first, second = new_replica(clock), new_replica(clock)
    limits = [key(rpm=400)]

    results = await asyncio.gather(
        hammer(first, clock, limits, lambda: 1, 640),
        hammer(second, clock, limits, lambda: 1, 640),
    )
    total = sum(len(permits) for permits in results)

    assert 0.95 * 400 <= total <= 400
    assert all(permits for permits in results)  # both replicas were served
    assert clock.now < START + MINUTE


async def test_two_replicas_hold_the_tpm_within_five_percent(
    new_replica: NewLimiter,
) -> None:
    clock = FakeClock()
    first, second = new_replica(clock), new_replica(clock)
    limits = [key(tpm=20_000), team(tpm=50_000)]
    sizes = random.Random(7)

    results = await asyncio.gather(
        hammer(first, clock, limits, lambda: sizes.randint(10, 120), 640),
        hammer(second, clock, limits, lambda: sizes.randint(10, 120), 640),
    )
    tokens = sum(p.tokens for permits in results for p in permits)

    assert 0.95 * 20_000 <= tokens <= 20_000


async def test_two_replicas_admit_again_in_the_next_minute(
    new_replica: NewLimiter,
) -> None:
    clock = FakeClock()
    first, second = new_replica(clock), new_replica(clock)
    limits = [key(rpm=50)]

    await asyncio.gather(
        hammer(first, clock, limits, lambda: 1, 64),
        hammer(second, clock, limits, lambda: 1, 64),
    )
    exhausted = await admitted(first, limits) or await admitted(second, limits)
    clock.now = START + MINUTE
    results = await asyncio.gather(
        hammer(first, clock, limits, lambda: 1, 64),
        hammer(second, clock, limits, lambda: 1, 64),
    )

    assert not exhausted
    assert 0.95 * 50 <= sum(len(permits) for permits in results) <= 50


async def test_settled_tokens_come_back_to_the_replicas(
    new_replica: NewLimiter,
) -> None:
    clock = FakeClock()
    first, second = new_replica(clock), new_replica(clock)
    limits = [key(tpm=10_000)]

    async def call(limiter: RateLimiter) -> int:
        """Estimate 1,000 tokens, use 100: ten times the calls fit."""
        served = 0
        for _ in range(60):
            try:
                permit = await limiter.acquire(limits, 1000)
            except ResourceExhausted:
                continue
            await limiter.settle(permit, 100)
            served += 1
        return served

    served = await asyncio.gather(call(first), call(second))

    assert sum(served) > 10  # more than the estimates alone would allow
    assert sum(served) <= 100
