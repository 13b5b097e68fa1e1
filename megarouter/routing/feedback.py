"""Callers' scores for earlier answers, and what the router learns from them.

A score is stored against the answer's usage record (same org, same request
id). Every process aggregates the stored scores per org, task type and model
every ``interval`` seconds (and at once after a local submission) into
:class:`FeedbackAdjustments`, which shift the router's predicted quality.

A router artifact fitted from the store has already learned from some of
the scores (:class:`LearnedFeedback`). The aggregate leaves those out, so
the shift holds only what the artifact has not seen; a reloaded artifact's
record applies from the next refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import ColumnElement, and_, delete, exists, func, not_, select
from sqlmodel import col

from megarouter.errors import InvalidArgument, NotFound
from megarouter.routing.bundle import LearnedFeedback
from megarouter.routing.learned import FeedbackAdjustments
from megarouter.store.database import Database
from megarouter.store.feedback_tables import FeedbackRow
from megarouter.store.prompt_sample_tables import PromptSampleRow
from megarouter.store.tables import as_utc
from megarouter.store.usage_tables import UsageRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    model: str
    task_type: str


class FeedbackStore:
    """Stores scores and keeps the router's adjustments up to date.

    Args:
        database: the migrated database.
        adjustments: where each refresh installs the aggregated scores.
        interval: seconds between two refreshes.
        learned: what the router's current artifact learned from the store,
            read at each refresh; None (or a function returning None)
            counts every score.
    """

    def __init__(
        self,
        database: Database,
        adjustments: FeedbackAdjustments,
        interval: float = 10.0,
        learned: Callable[[], LearnedFeedback | None] | None = None,
    ) -> None:
        self._database = database
        self.adjustments = adjustments
        self._interval = interval
        self._learned = learned or (lambda: None)
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
        total: ColumnElement[float] = func.sum(col(FeedbackRow.score))
        count: ColumnElement[int] = func.count()
        unlearned = _not_learned(self._learned())
        if unlearned is not None:
            # Aggregate FILTER, not WHERE: the plan stays the plain join's.
            # With a WHERE on the usage row's model, SQLite scanned usage by
            # model and took four times as long.
            total = func.sum(col(FeedbackRow.score)).filter(unlearned)
            count = func.count().filter(unlearned)
        async with self._database.sessions() as session:
            rows = await session.execute(
                select(
                    col(UsageRow.org_id),
                    col(UsageRow.task_type),
                    col(UsageRow.model),
                    total,
                    count,
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
                (org, task, model): (float(scores), int(n))
                for org, task, model, scores, n in rows
                if n  # 0 when the artifact learned every score of the group
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


def _not_learned(learned: LearnedFeedback | None) -> ColumnElement[bool] | None:
    """True for a score ``learned`` does not cover; None when it covers none."""
    if learned is None or not learned.models:
        return None
    # SQLite compares times as text: pass them in UTC, as they are stored.
    covered = [
        col(FeedbackRow.created_at) <= as_utc(learned.through).astimezone(UTC),
        col(UsageRow.model).in_(sorted(learned.models)),
        # Only sampled calls became training rows; the others' scores the
        # artifact never saw.
        exists().where(
            col(PromptSampleRow.org_id) == col(FeedbackRow.org_id),
            col(PromptSampleRow.request_id) == col(FeedbackRow.request_id),
        ),
    ]
    if learned.org is not None:
        covered.append(col(FeedbackRow.org_id) == learned.org)
    if learned.since is not None:
        # The fit's --since bounds the sample's time, which is the call's.
        covered.append(
            col(UsageRow.created_at) >= as_utc(learned.since).astimezone(UTC)
        )
    return not_(and_(*covered))
