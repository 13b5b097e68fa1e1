"""Rate limits shared through the database, by leases.

Without Redis, replicas share each limit through one row per (subject,
minute) in ``rate_limit_windows`` holding the requests and tokens leased
from that minute's allowance. A replica leases a share with one guarded
upsert (``leased + share <= limit``, else nothing), then admits calls from
its share in memory, with no database round trip until the share runs out.

Exactness: the guard keeps the leases of every replica together within the
limit, and a replica admits only from its own leases, so the replicas never
admit more than the limit in a minute. The price is the other way: a share
leased by a replica that then gets no more calls sits unused until the
minute ends. A share is ``lease_fraction`` of what was left when it was
taken (and at least what the call needs), so it shrinks as the allowance
runs out; an idle replica strands at most ``lease_fraction`` of the limit,
and replicas that keep receiving calls spend their shares to the last unit,
stranding only remainders too small for the next call.

Settling gives unused tokens back to this replica's share; a call that used
more tokens than estimated takes the excess from the share, and what the
share cannot cover is added to the row unconditionally (those tokens were
spent). Rows of minutes that ended over two minutes ago are deleted as
replicas move on. Replicas' clocks must agree to well within a minute (NTP
does): a call is charged to the minute its replica's clock reads.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from megarouter.governance.ratelimits import (
    Clock,
    Permit,
    RateLimit,
    charged,
    check_never_fits,
    refusal,
    window_of,
)
from megarouter.store.database import Database
from megarouter.store.ratelimit_tables import RateLimitWindowRow

logger = logging.getLogger(__name__)

WINDOWS = RateLimitWindowRow.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class _Share:
    """This replica's unspent lease on one subject, and the row as last seen."""

    requests: int = 0
    tokens: int = 0
    row_requests: int = 0  # leased by all replicas, as of our last lease
    row_tokens: int = 0


class DatabaseRateLimiter:
    """Counts through leases on database rows, exactly across replicas.

    Args:
        database: where ``rate_limit_windows`` lives (migrated).
        clock: Unix time now; tests pass a controllable one.
        lease_fraction: the share of what is left that one lease takes.
    """

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock = time.time,
        lease_fraction: float = 0.1,
    ) -> None:
        if not 0 < lease_fraction <= 1:
            raise ValueError("lease_fraction must be in (0, 1]")
        self._database = database
        self._clock = clock
        self._fraction = lease_fraction
        self._window = -1
        self._shares: dict[str, _Share] = {}
        self._lease_lock = asyncio.Lock()
        self._cleaned_window = -1
        self.leases = 0  # attempts to lease (round trips), for tests and benchmarks

    async def acquire(
        self, subjects: Sequence[RateLimit], tokens_estimate: int
    ) -> Permit:
        """Charge the call, all or nothing (see ``RateLimiter``).

        Raises:
            ResourceExhausted: a limit has no room left in this minute.
        """
        limits = charged(subjects)
        check_never_fits(limits, tokens_estimate)
        now = self._clock()
        self._roll(window_of(now))
        if not limits:
            return Permit((), self._window, tokens_estimate, "unlimited")
        if self._spend(limits, tokens_estimate):
            return Permit(limits, self._window, tokens_estimate, "database")

        # Short somewhere: lease what is missing, one coroutine at a time, and
        # try again; calls admitted meanwhile from the shares may take it, but
        # every lease draws down a finite allowance, so this ends.
        async with self._lease_lock:
            while True:
                now = self._clock()
                self._roll(window_of(now))
                if self._spend(limits, tokens_estimate):
                    return Permit(limits, self._window, tokens_estimate, "database")
                await self._cleanup()
                for limit in limits:
                    await self._lease(limit, tokens_estimate, now)

    async def settle(self, permit: Permit, actual_tokens: int) -> None:
        """Correct the call's tokens within its minute, if still current."""
        delta = actual_tokens - permit.tokens
        permit.tokens = actual_tokens
        if permit.window != self._window or not delta:
            return
        for limit in permit.limits:
            share = self._shares.get(limit.subject)
            if limit.tpm is None or share is None:
                continue
            if delta < 0:
                share.tokens -= delta
                continue
            covered = min(delta, share.tokens)
            share.tokens -= covered
            if delta > covered:
                await self._charge_excess(limit, permit.window, delta - covered)

    # --- in memory ---------------------------------------------------------

    def _spend(self, limits: Sequence[RateLimit], tokens: int) -> bool:
        """Take the call from this replica's shares if all of them can."""
        shares = [self._shares.setdefault(limit.subject, _Share()) for limit in limits]
        for limit, share in zip(limits, shares, strict=True):
            if limit.rpm is not None and share.requests < 1:
                return False
            if limit.tpm is not None and share.tokens < tokens:
                return False
        for limit, share in zip(limits, shares, strict=True):
            if limit.rpm is not None:
                share.requests -= 1
            if limit.tpm is not None:
                share.tokens -= tokens
        return True

    def _roll(self, window: int) -> None:
        """Drop the shares of minutes that have ended (they are void)."""
        if window > self._window:
            self._window = window
            self._shares.clear()

    # --- in the database ---------------------------------------------------

    async def _lease(self, limit: RateLimit, tokens: int, now: float) -> None:
        """Lease what this call misses on ``limit``, or refuse the call.

        Raises:
            ResourceExhausted: the minute's allowance has too little left.
        """
        window = self._window
        share = self._shares.setdefault(limit.subject, _Share())
        need_requests = max(0, 1 - share.requests) if limit.rpm is not None else 0
        need_tokens = max(0, tokens - share.tokens) if limit.tpm is not None else 0
        if not need_requests and not need_tokens:
            return

        while True:
            # Leased totals only grow within a minute: what was too much at
            # the last look is too much now, without asking the database.
            if limit.rpm is not None and share.row_requests + need_requests > limit.rpm:
                raise refusal(limit, "rpm", now)
            if limit.tpm is not None and share.row_tokens + need_tokens > limit.tpm:
                raise refusal(limit, "tpm", now)

            want_requests = _share_of(
                limit.rpm, share.row_requests, need_requests, self._fraction
            )
            want_tokens = _share_of(
                limit.tpm, share.row_tokens, need_tokens, self._fraction
            )
            row = await self._upsert(limit, window, want_requests, want_tokens)
            self.leases += 1
            if row is not None:
                if self._window == window:  # else the minute ended meanwhile
                    share.requests += want_requests
                    share.tokens += want_tokens
                    share.row_requests, share.row_tokens = row
                return

            # Refused: others leased more than we knew of. Learn how much.
            share.row_requests, share.row_tokens = await self._read(
                limit.subject, window
            )

    async def _upsert(
        self, limit: RateLimit, window: int, requests: int, tokens: int
    ) -> tuple[int, int] | None:
        """Lease from the row if the limit allows; the row's new totals."""
        columns = WINDOWS.c
        guard: ColumnElement[bool] = true()
        if limit.rpm is not None:
            guard = guard & (columns.requests + requests <= limit.rpm)
        if limit.tpm is not None:
            guard = guard & (columns.tokens + tokens <= limit.tpm)

        insert: Any = _dialect_insert(self._database)(WINDOWS).values(
            subject=limit.subject, minute=window, requests=requests, tokens=tokens
        )
        statement = insert.on_conflict_do_update(
            index_elements=[columns.subject, columns.minute],
            set_={
                "requests": columns.requests + requests,
                "tokens": columns.tokens + tokens,
            },
            where=guard,
        ).returning(columns.requests, columns.tokens)
        async with self._database.engine.begin() as connection:
            row = (await connection.execute(statement)).first()
        return None if row is None else (int(row[0]), int(row[1]))

    async def _read(self, subject: str, window: int) -> tuple[int, int]:
        columns = WINDOWS.c
        statement = WINDOWS.select().where(
            columns.subject == subject, columns.minute == window
        )
        async with self._database.engine.connect() as connection:
            row = (await connection.execute(statement)).first()
        return (0, 0) if row is None else (int(row.requests), int(row.tokens))

    async def _charge_excess(self, limit: RateLimit, window: int, tokens: int) -> None:
        """Record tokens a call used beyond its lease: they were spent."""
        columns = WINDOWS.c
        statement = (
            update(WINDOWS)
            .where(columns.subject == limit.subject, columns.minute == window)
            .values(tokens=columns.tokens + tokens)
        )
        async with self._database.engine.begin() as connection:
            await connection.execute(statement)

    async def _cleanup(self) -> None:
        """Delete rows of minutes that ended a while ago, once a minute.

        Two minutes of rows stay, so that a replica whose clock lags by less
        than a minute never finds its current row gone and starts it afresh.
        """
        if self._cleaned_window >= self._window:
            return
        self._cleaned_window = self._window
        statement = delete(WINDOWS).where(WINDOWS.c.minute < self._window - 2)
        try:
            async with self._database.engine.begin() as connection:
                await connection.execute(statement)
        except SQLAlchemyError as exc:  # another replica's cleanup will do
            logger.info("rate limit cleanup skipped: %s", exc)


def _share_of(limit: int | None, leased: int, need: int, fraction: float) -> int:
    """How much to lease: a fraction of what is left, at least ``need``."""
    if limit is None or not need:
        return 0
    left = limit - leased
    return max(need, min(left, math.ceil(left * fraction)))


def _dialect_insert(database: Database) -> Any:
    if database.engine.dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert
