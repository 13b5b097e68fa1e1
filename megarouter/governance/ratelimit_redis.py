"""Rate limits held in Redis, shared by every replica that uses it.

Each (subject, minute window) is one Redis hash with two fields, ``r``
(requests) and ``t`` (tokens), named ``{prefix}{subject}:{window}``. One Lua
script per call checks every limit covering the caller and, only if all
have room, increments them all: Redis runs a script atomically, so replicas
can never admit more than a limit between them, and the call costs one
round trip (EVALSHA; redis-py loads the script again if Redis lost it). A
hash expires a minute after its window ends, which leaves time for settles.

The caller passes the time, not Redis: the window is the caller's clock's
minute. This makes windows testable with a controllable clock; the price is
that replicas' clocks must agree (NTP does), since a replica whose clock is
off by ``s`` seconds charges calls near a window's edge to the neighbouring
window. It cannot overshoot a limit: each window's counter is checked
atomically whoever charges it.

When Redis cannot be reached, ``when_down`` decides: ``"fallback"`` (the
default) admits through the fallback limiter (the database-lease limiter
when one is given, else this process's own counters, which hold each
replica to the limit separately) and logs the outage once; ``"open"`` admits
every call uncounted; ``"closed"`` refuses every call with UNAVAILABLE.
Redis is tried again ``retry_interval`` seconds after a failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from megarouter.errors import Unavailable
from megarouter.governance.ratelimits import (
    Clock,
    LocalRateLimiter,
    Permit,
    RateLimit,
    RateLimiter,
    charged,
    check_never_fits,
    refusal,
    seconds_left,
    window_of,
)

logger = logging.getLogger(__name__)

WhenDown = Literal["fallback", "open", "closed"]

# KEYS: one hash per subject. ARGV: tokens, ttl in ms, then rpm and tpm per
# key (-1: no limit). Returns 0 when admitted, else {key number, dimension}.
_ACQUIRE = """
local tokens = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local rpm = tonumber(ARGV[2 * i + 1])
  local tpm = tonumber(ARGV[2 * i + 2])
  local used = redis.call('HMGET', key, 'r', 't')
  if rpm >= 0 and (tonumber(used[1]) or 0) + 1 > rpm then
    return {i, 'rpm'}
  end
  if tpm >= 0 and (tonumber(used[2]) or 0) + tokens > tpm then
    return {i, 'tpm'}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'r', 1)
  redis.call('HINCRBY', key, 't', tokens)
  redis.call('PEXPIRE', key, ARGV[2])
end
return 0
"""

# KEYS: the hashes a permit charged. ARGV: the token correction. A hash that
# has expired stays gone; tokens never count below zero.
_SETTLE = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    if redis.call('HINCRBY', key, 't', ARGV[1]) < 0 then
      redis.call('HSET', key, 't', 0)
    end
  end
end
return 0
"""


class RedisRateLimiter:
    """Counts in Redis, atomically across replicas.

    Args:
        redis: a ``redis.asyncio`` client.
        key_prefix: prepended to every key this limiter writes.
        clock: Unix time now; tests pass a controllable one.
        when_down: what to do while Redis is unreachable (module docstring).
        fallback: the limiter for ``"fallback"``; default: local counters.
        retry_interval: seconds to wait before trying Redis again.
        timeout: seconds a script call may take before Redis counts as
            down, whatever retries the client is configured with.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str = "megarouter:ratelimit:",
        clock: Clock = time.time,
        when_down: WhenDown = "fallback",
        fallback: RateLimiter | None = None,
        retry_interval: float = 5.0,
        timeout: float = 0.5,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock
        self._when_down = when_down
        self._fallback = fallback or LocalRateLimiter(clock)
        self._retry_interval = retry_interval
        self._timeout = timeout
        self._down_until: float | None = None  # monotonic time; None: up
        self._acquire = redis.register_script(_ACQUIRE)
        self._settle = redis.register_script(_SETTLE)

    async def acquire(
        self, subjects: Sequence[RateLimit], tokens_estimate: int
    ) -> Permit:
        """Charge the call, all or nothing (see ``RateLimiter``).

        Raises:
            ResourceExhausted: a limit has no room in this window.
            Unavailable: Redis is down and ``when_down`` is ``"closed"``.
        """
        limits = charged(subjects)
        check_never_fits(limits, tokens_estimate)
        now = self._clock()
        window = window_of(now)
        if not limits:
            return Permit((), window, tokens_estimate, "unlimited")
        if self._is_down():
            return await self._acquire_while_down(limits, tokens_estimate)

        args: list[int] = [tokens_estimate, self._ttl_ms(now)]
        for limit in limits:
            args += [_or_none(limit.rpm), _or_none(limit.tpm)]
        try:
            async with asyncio.timeout(self._timeout):
                outcome = await self._acquire(
                    keys=self._keys(limits, window), args=args
                )
        except (RedisError, TimeoutError) as exc:
            self._mark_down(exc)
            return await self._acquire_while_down(limits, tokens_estimate)
        self._mark_up()

        if outcome != 0:
            index, dimension = outcome
            name = dimension.decode() if isinstance(dimension, bytes) else dimension
            raise refusal(
                limits[int(index) - 1], "rpm" if name == "rpm" else "tpm", now
            )
        return Permit(limits, window, tokens_estimate, "redis")

    async def settle(self, permit: Permit, actual_tokens: int) -> None:
        """Correct the call's tokens in the window it was charged to."""
        if permit.backend not in ("redis", "unlimited"):
            await self._fallback.settle(permit, actual_tokens)
            return
        delta = actual_tokens - permit.tokens
        permit.tokens = actual_tokens
        if permit.backend == "unlimited" or not delta:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._settle(
                    keys=self._keys(permit.limits, permit.window), args=[delta]
                )
        except (RedisError, TimeoutError) as exc:
            # The window's hash expires anyway; losing a correction only
            # misjudges the rest of one minute.
            logger.warning("rate limit settle lost: Redis failed: %r", exc)

    async def _acquire_while_down(
        self, limits: tuple[RateLimit, ...], tokens_estimate: int
    ) -> Permit:
        if self._when_down == "closed":
            raise Unavailable("rate limits cannot be checked: Redis is unreachable")
        if self._when_down == "open":
            window = window_of(self._clock())
            return Permit((), window, tokens_estimate, "unlimited")
        return await self._fallback.acquire(limits, tokens_estimate)

    def _keys(self, limits: Sequence[RateLimit], window: int) -> list[str]:
        return [f"{self._prefix}{limit.subject}:{window}" for limit in limits]

    @staticmethod
    def _ttl_ms(now: float) -> int:
        """Keep a window's hash a minute past its end, for late settles."""
        return int((seconds_left(now) + 60) * 1000)

    def _is_down(self) -> bool:
        return self._down_until is not None and time.monotonic() < self._down_until

    def _mark_down(self, exc: Exception) -> None:
        if self._down_until is None:
            logger.warning(
                "Redis failed (%r); rate limits go %s for %.0f s at a time",
                exc,
                self._when_down,
                self._retry_interval,
            )
        self._down_until = time.monotonic() + self._retry_interval

    def _mark_up(self) -> None:
        if self._down_until is not None:
            logger.info("Redis is back; rate limits are shared again")
            self._down_until = None


def _or_none(limit: int | None) -> int:
    return -1 if limit is None else limit
