"""Hammer one rate limit in Redis from a separate process.

Usage: python ratelimit_worker.py REDIS_URL PREFIX NOW RPM CALLS CONCURRENCY PEERS

Every call is made at Unix time NOW, so that processes started by the same
test charge the same minute. The PEERS processes wait for each other (a
counter in Redis) before they start. Prints how many calls were admitted.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import suppress

from redis.asyncio import Redis

from megarouter.errors import ResourceExhausted
from megarouter.governance.ratelimit_redis import RedisRateLimiter
from megarouter.governance.ratelimits import RateLimit


async def main(
    url: str, prefix: str, now: float, rpm: int, calls: int, tasks: int, peers: int
) -> None:
    redis = Redis.from_url(url)
    await redis.incr(f"{prefix}ready")
    for _ in range(1000):  # at most ten seconds
        if int(await redis.get(f"{prefix}ready") or 0) >= peers:
            break
        await asyncio.sleep(0.01)
    limiter = RedisRateLimiter(redis, key_prefix=prefix, clock=lambda: now)
    limits = [RateLimit.for_key("acme", "k1", rpm=rpm)]
    admitted = 0

    async def caller() -> None:
        nonlocal admitted
        for _ in range(calls // tasks):
            with suppress(ResourceExhausted):
                await limiter.acquire(limits, 1)
                admitted += 1

    await asyncio.gather(*(caller() for _ in range(tasks)))
    await redis.aclose()
    print(admitted)


if __name__ == "__main__":
    url, prefix, now, rpm, calls, tasks, peers = sys.argv[1:8]
    asyncio.run(
        main(url, prefix, float(now), int(rpm), int(calls), int(tasks), int(peers))
    )
