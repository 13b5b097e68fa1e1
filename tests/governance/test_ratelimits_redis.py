"""Rate limits in Redis: across processes, when Redis forgets, when it is down."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from megarouter.errors import ResourceExhausted, Unavailable
from megarouter.governance.ratelimit_leases import DatabaseRateLimiter
from megarouter.governance.ratelimit_redis import RedisRateLimiter, WhenDown
from megarouter.governance.ratelimits import LocalRateLimiter, RateLimit
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async

REDIS_URL = os.environ.get("MEGAROUTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_ADDRESS = urlsplit(REDIS_URL)
WORKER = Path(__file__).with_name("ratelimit_worker.py")
REPO = Path(__file__).resolve().parents[2]
NOW = 29_000_000 * 60 + 1.0

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of the test's own; its keys are deleted afterwards."""
    prefix = f"test:ratelimit:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)


def unreachable_redis() -> Redis:
    """A client of a port nobody listens on: every command fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)


async def test_two_processes_never_admit_more_than_the_rpm(prefix: str) -> None:
    rpm, calls = 600, 960
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            REDIS_URL,
            prefix,
            str(NOW),
            str(rpm),
            str(calls),
            "16",
            "2",
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    outputs = [await process.communicate() for process in processes]

    admitted = [int(stdout) for stdout, _ in outputs]
    assert all(process.returncode == 0 for process in processes)
    assert sum(admitted) == rpm
    assert all(count > 0 for count in admitted)


async def test_limits_hold_after_redis_forgets_its_scripts(
    redis: Redis, prefix: str
) -> None:
    limiter = RedisRateLimiter(redis, key_prefix=prefix, clock=lambda: NOW)
    limits = [RateLimit.for_key("acme", "k1", rpm=2)]
    await limiter.acquire(limits, 1)

    await redis.script_flush()
    await limiter.acquire(limits, 1)

    with pytest.raises(ResourceExhausted):
        await limiter.acquire(limits, 1)


async def test_counters_expire_a_minute_after_their_window(
    redis: Redis, prefix: str
) -> None:
    limiter = RedisRateLimiter(redis, key_prefix=prefix, clock=lambda: NOW)

    await limiter.acquire([RateLimit.for_key("acme", "k1", rpm=2, tpm=100)], 7)

    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    assert len(keys) == 1
    assert await redis.hgetall(keys[0]) == {b"r": b"1", b"t": b"7"}
    assert 60_000 < await redis.pttl(keys[0]) <= 119_000


async def test_redis_down_falls_back_to_the_fallback_limiter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = unreachable_redis()
    limiter = RedisRateLimiter(redis, fallback=LocalRateLimiter(lambda: NOW))
    limits = [RateLimit.for_key("acme", "k1", rpm=3)]

    with caplog.at_level(logging.WARNING):
        permits = [await limiter.acquire(limits, 5) for _ in range(3)]
        with pytest.raises(ResourceExhausted):
            await limiter.acquire(limits, 5)
        await limiter.settle(permits[0], 2)
    await redis.aclose()

    assert [p.backend for p in permits] == ["local"] * 3
    assert permits[0].tokens == 2
    outages = [r for r in caplog.records if "Redis failed" in r.getMessage()]
    assert len(outages) == 1  # logged once per outage, not once per call


@pytest.mark.parametrize(("when_down", "admits"), [("open", True), ("closed", False)])
async def test_redis_down_opens_or_closes_as_configured(
    when_down: WhenDown, admits: bool
) -> None:
    redis = unreachable_redis()
    limiter = RedisRateLimiter(redis, when_down=when_down)
    limits = [RateLimit.for_key("acme", "k1", rpm=1)]

    outcomes = []
    for _ in range(3):
        try:
            await limiter.acquire(limits, 1)
            outcomes.append(True)
        except Unavailable:
            outcomes.append(False)
    await redis.aclose()

    assert outcomes == [admits] * 3


class SwitchableProxy:
    """A TCP proxy on loopback in front of Redis that a test can cut."""

    def __init__(self) -> None:
        self.up = True
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        """Drop every connection and refuse new ones until restored."""
        self.up = False
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def stop(self) -> None:
        self.cut()
        self.server.close()
        await self.server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if not self.up:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(
            REDIS_ADDRESS.hostname, REDIS_ADDRESS.port or 6379
        )
        self.writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def test_limits_return_to_redis_when_it_comes_back(prefix: str) -> None:
    proxy = SwitchableProxy()
    port = await proxy.start()
    redis = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    limiter = RedisRateLimiter(
        redis,
        key_prefix=prefix,
        clock=lambda: NOW,
        fallback=LocalRateLimiter(lambda: NOW),
        retry_interval=0,
    )
    limits = [RateLimit.for_key("acme", "k1", rpm=10)]

    before = await limiter.acquire(limits, 1)
    proxy.cut()
    during = await limiter.acquire(limits, 1)
    proxy.up = True
    # The first call after recovery may still time out while it reconnects
    # on a busy machine; Redis must take over again within a few calls.
    backends = []
    for _ in range(8):
        backends.append((await limiter.acquire(limits, 1)).backend)
        if backends[-1] == "redis":
            break
    await redis.aclose()
    await proxy.stop()

    assert [before.backend, during.backend] == ["redis", "local"]
    assert backends[-1] == "redis"


async def test_redis_down_falls_back_to_leases_that_hold_across_replicas(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rl.db'}"
    await upgrade_async(url)
    databases = [Database(url), Database(url)]
    redis = unreachable_redis()
    replicas = [
        RedisRateLimiter(
            redis, fallback=DatabaseRateLimiter(database, clock=lambda: NOW)
        )
        for database in databases
    ]
    limits = [RateLimit.for_key("acme", "k1", rpm=100)]

    async def served(limiter: RedisRateLimiter) -> int:
        count = 0
        for _ in range(80):
            with suppress(ResourceExhausted):
                await limiter.acquire(limits, 1)
                count += 1
        return count

    counts = await asyncio.gather(*(served(replica) for replica in replicas))
    await redis.aclose()
    for database in databases:
        await database.dispose()

    assert 95 <= sum(counts) <= 100
