"""Callers' scores for earlier answers, and what the router learns from them.

A score is stored against the answer's usage record (same org, same request
id). Every process aggregates the stored scores per org, task type and model
every ``interval`` seconds (and at once after a local submission) into
:class:`FeedbackAdjustments`, which shift the router's predicted quality.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlmodel import col

from megarouter.errors import InvalidArgument, NotFound
from megarouter.routing.learned import FeedbackAdjustments
from megarouter.store.database import Database
from megarouter.store.feedback_tables import FeedbackRow
from megarouter.store.usage_tables import UsageRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    model: str
    task_type: str


class FeedbackStore:
    """Stores scores and keeps the router's adjustments up to date."""

    def __init__(
        self,
        database: Database,
        adjustments: FeedbackAdjustments,
        interval: float = 10.0,
    ) -> None:
        self._database = database
        self.adjustments = adjustments
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def submit(
        self,
        org_id: str,
        principal_id: str,
        request_id: str,
        score: float,
        label: str = "",
    ) -> ScoredAnswer:
        """Store a score for the answer ``request_id`` of ``org_id``.

        Raises:
            InvalidArgument: the score is outside [0, 1] or the label too long.
            NotFound: the org has no answer with that request id.
        """
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise InvalidArgument.for_field("score", "must be between 0 and 1")
        if len(label) > 128 or "\x00" in label:
            raise InvalidArgument.for_field("label", "at most 128 characters")
        if not request_id or len(request_id) > 128 or "\x00" in request_id:
            raise InvalidArgument.for_field("request_id", "is required")

        async with self._database.transaction() as session:
            answer = (
                await session.execute(
                    select(col(UsageRow.model), col(UsageRow.task_type)).where(
                        col(UsageRow.org_id) == org_id,
                        col(UsageRow.request_id) == request_id,
                        col(UsageRow.status) == "OK",
                    )
                )
            ).first()
            if answer is None:
                raise NotFound(f"no answer with request id {request_id!r} to score")
            # One score per answer: a new one replaces the old.
            await session.execute(
                delete(FeedbackRow).where(
                    col(FeedbackRow.org_id) == org_id,
                    col(FeedbackRow.request_id) == request_id,
                )
            )
            session.add(
                FeedbackRow(
                    org_id=org_id,
                    request_id=request_id,
                    score=score,
                    label=label,
                    principal_id=principal_id,
                )
            )
        await self.refresh()
        return ScoredAnswer(answer[0], answer[1])

    async def refresh(self) -> None:
        """Re-read the per-(org, task, model) score sums into the adjustments."""
        async with self._database.sessions() as session:
            rows = await session.execute(
                select(
                    col(UsageRow.org_id),
                    col(UsageRow.task_type),
                    col(UsageRow.model),
                    func.sum(FeedbackRow.score),
                    func.count(),
                )
                .join(
                    FeedbackRow,
                    (col(FeedbackRow.org_id) == col(UsageRow.org_id))
                    & (col(FeedbackRow.request_id) == col(UsageRow.request_id)),
                )
                .group_by(
                    col(UsageRow.org_id), col(UsageRow.task_type), col(UsageRow.model)
                )
            )
            stats = {
                (org, task, model): (float(total), int(count))
                for org, task, model, total, count in rows
            }
        self.adjustments.replace(stats)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="feedback-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # keep refreshing through a database hiccup
                logger.warning("feedback refresh failed", exc_info=True)
            await asyncio.sleep(self._interval)
