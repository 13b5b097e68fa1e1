"""Opt-in prompt samples: the text the router read, kept to learn from feedback.

A caller's score (``SubmitFeedback``) says how well a model answered, but a
score alone cannot teach the quality predictor: it needs the prompt. When an
operator sets ``outcome_prompt_sample_rate`` above 0, that share of
successful completions has its prompt text (what the router featurises: the
system text and the last user turn, tail first) stored in
``prompt_samples``. At 0, the default, nothing is stored.

A sample is a nicety, a usage record is not: :meth:`PromptSampler.offer`
never raises and never waits, samples are written by a background task in
their own transaction (at most one a second), and a sample that cannot be
written is dropped with a warning. Samples older than the retention period
are deleted by every server in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert
from sqlmodel import col

from megarouter.governance.usage import UsageRecord
from megarouter.store.database import Database
from megarouter.store.prompt_sample_tables import PromptSampleRow

logger = logging.getLogger(__name__)

SAMPLES_TABLE = PromptSampleRow.__table__  # type: ignore[attr-defined]


class PromptSource(Protocol):
    """A request that can say which text the router read."""

    def prompt_text(self) -> str: ...


@dataclass(slots=True)
class SamplerStats:
    """What the sampler has done since it started."""

    queued: int = 0  # samples the dice chose
    written: int = 0  # samples committed (duplicates included)
    dropped: int = 0  # chosen but not kept: queue full or write failed


class PromptSampler:
    """Stores the prompt text of a random share of successful calls.

    Args:
        database: where ``prompt_samples`` lives (migrated).
        rate: the share of calls sampled, 0 (none, the default) to 1 (all).
        max_chars: the longest stored text; a longer prompt keeps its tail.
        retention_days: samples older than this are deleted in the
            background; 0 keeps them until pruned by hand.
        max_pending: samples waiting for their write; more are dropped.
        linger: seconds the writer collects samples before each write, which
            bounds it to about one transaction per ``linger``.
        prune_interval: seconds between retention passes.
        chance: a uniform draw in [0, 1); replaced in tests.
    """

    def __init__(
        self,
        database: Database,
        rate: float,
        max_chars: int = 4000,
        retention_days: int = 30,
        *,
        max_pending: int = 1000,
        linger: float = 1.0,
        prune_interval: float = 3600.0,
        chance: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the prompt sample rate must lie between 0 and 1")
        self._database = database
        self._rate = rate
        self._max_chars = max_chars
        self._retention = timedelta(days=retention_days) if retention_days else None
        self._max_pending = max_pending
        self._linger = linger
        self._prune_interval = prune_interval
        self._chance = chance
        self._insert = insert_statement(database.engine.dialect.name)
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self.stats = SamplerStats()

    def offer(self, record: UsageRecord, request: PromptSource) -> None:
        """Maybe keep the prompt of a recorded call; never raises or waits.

        Args:
            record: the call's usage record, already durable.
            request: the call's request, asked for its text only if sampled.
        """
        if self._rate <= 0.0 or self._writer is None or self._stopping.is_set():
            return
        try:
            if self._rate < 1.0 and self._chance() >= self._rate:
                return
            if self._queue.qsize() >= self._max_pending:
                self.stats.dropped += 1
                return
            text = request.prompt_text()[-self._max_chars :]
            if not text.strip():
                return
            self._queue.put_nowait(
                {
                    "org_id": record.org_id,
                    "request_id": record.request_id,
                    # PostgreSQL text cannot hold NUL.
                    "prompt": text.replace("\x00", "\ufffd"),
                    "created_at": record.created_at.astimezone(UTC),
                }
            )
            self.stats.queued += 1
        except Exception:  # a sample must never cost the call anything
            logger.debug("prompt sample not taken", exc_info=True)

    def start(self) -> None:
        """Start the writer (when sampling) and the retention pass (when set)."""
        if self._rate > 0.0 and self._writer is None:
            self._stopping.clear()
            self._writer = asyncio.create_task(
                self._write_loop(), name="prompt-sample-writer"
            )
        if self._retention is not None and self._pruner is None:
            self._pruner = asyncio.create_task(
                self._prune_loop(), name="prompt-sample-retention"
            )

    async def stop(self) -> None:
        """Write the samples already queued, then stop both tasks."""
        self._stopping.set()
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None

    # --- the writer --------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._linger)
            batch, stopping = [first], False
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
            await self._write(batch)
            if stopping:
                return

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            async with asyncio.timeout(30.0):
                async with self._database.engine.begin() as connection:
                    await connection.execute(self._insert, batch)
        except Exception as exc:  # the writer must outlive any failure
            self.stats.dropped += len(batch)
            logger.warning("dropped %d prompt samples: %s", len(batch), _describe(exc))
            return
        self.stats.written += len(batch)

    async def _prune_loop(self) -> None:
        assert self._retention is not None
        while True:
            try:
                cutoff = datetime.now(UTC) - self._retention
                deleted = await prune_prompt_samples(self._database, cutoff)
                if deleted:
                    logger.info("deleted %d prompt samples before %s", deleted, cutoff)
            except Exception:  # keep pruning through a database hiccup
                logger.warning("prompt sample retention pass failed", exc_info=True)
            await asyncio.sleep(self._prune_interval)


def insert_statement(dialect: str) -> Insert:
    """A multi-row INSERT that skips a request already sampled."""
    if dialect == "postgresql":
        return postgresql.insert(SAMPLES_TABLE).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(SAMPLES_TABLE).on_conflict_do_nothing()
    raise ValueError(f"prompt samples do not support {dialect}")


async def prune_prompt_samples(
    database: Database, before: datetime, org_id: str | None = None
) -> int:
    """Delete the prompt samples taken before ``before``; returns how many.

    Args:
        database: the migrated database.
        before: samples of calls that started earlier than this go.
        org_id: only this org's samples; every org's when None.
    """
    statement = delete(PromptSampleRow).where(
        col(PromptSampleRow.created_at) < before.astimezone(UTC)
    )
    if org_id is not None:
        statement = statement.where(col(PromptSampleRow.org_id) == org_id)
    async with database.engine.begin() as connection:
        result = await connection.execute(statement)
    return int(result.rowcount or 0)


def _describe(exc: BaseException) -> str:
    """The database's own words, without the statement's parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
