"""Callers' scores for earlier answers, and what the router learns from them.

A score is stored against the answer's usage record (same org, same request
id). Every process aggregates the stored scores per org, task type and model
into :class:`FeedbackAdjustments`, which shift the router's predicted
quality. It reads the new scores every ``interval`` seconds (and at once
after a local submission) and recounts them all every ``full_interval``
seconds; see :class:`FeedbackStore` for how exact that is in between.

A router artifact fitted from the store has already learned from some of
the scores (:class:`LearnedFeedback`). The aggregate leaves those out, so
the shift holds only what the artifact has not seen; a reloaded artifact's
record applies from the next refresh, which recounts every score.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
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

# A transaction that stores a score commits within this many seconds of
# taking its row id: the same assumption as the fit's IN_FLIGHT_GRACE.
IN_FLIGHT_SECONDS = 60.0
# Reads closer together than this share one mark (see _Tally).
MARK_SPACING = 1.0

Group = tuple[str, str, str]  # org, task type, global model id
Totals = dict[Group, tuple[float, int]]  # score sum and count per group


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    model: str
    task_type: str


class FeedbackStore:
    """Stores scores and keeps the router's adjustments up to date.

    A full recount sums every stored score. Between two, a refresh reads
    only the scores stored since about a minute before the previous
    refresh, so its cost follows the rate of new scores, not the number
    of scores ever stored. How exact that is:

    - A new score counts from the next refresh, whatever order the
      transactions commit in, provided each commits within a minute of
      inserting its row. At start nothing is known to have committed: a
      score still committing then counts from the recount a minute later.
    - A score replaced or deleted once it is a minute old, by another
      process or straight in the database (an org's scores deleted, say),
      may keep counting until the next full recount: a replaced one beside
      its replacement, or instead of it where SQLite gave the new row the
      old row's id. So may a learned score whose prompt sample is pruned
      meanwhile, which a full recount counts again.
    - A score replaced through this store's :meth:`submit` is exact at
      once. A submission waits for a refresh in progress.
    - A change of the artifact's record recounts at the next refresh.

    Args:
        database: the migrated database.
        adjustments: where each refresh installs the aggregated scores.
        interval: seconds between two refreshes.
        learned: what the router's current artifact learned from the store,
            read at each refresh; None (or a function returning None)
            counts every score. A change of record recounts every score.
        full_interval: seconds between two full recounts.
        clock: seconds on a monotonic clock, for when a recount is due.
    """

    def __init__(
        self,
        database: Database,
        adjustments: FeedbackAdjustments,
        interval: float = 10.0,
        learned: Callable[[], LearnedFeedback | None] | None = None,
        *,
        full_interval: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self.adjustments = adjustments
        self._interval = interval
        self._learned = learned or (lambda: None)
        self._full_interval = full_interval
        self._clock = clock
        self._tally: _Tally | None = None
        self._totals: Totals = {}
        # Refreshes and local submissions change the tally one at a time.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def totals(self) -> Mapping[Group, tuple[float, int]]:
        """The (score sum, count) per (org, task type, model) last installed."""
        return self._totals

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

        async with self._lock:
            tally = self._tally
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
                replaced = _Rows()
                if tally is not None:
                    replaced = await _read(
                        session,
                        tally.learned,
                        (col(FeedbackRow.org_id) == org_id)
                        & (col(FeedbackRow.request_id) == request_id),
                    )
                # One score per answer: a new one replaces the old.
                await session.execute(
                    delete(FeedbackRow).where(
                        col(FeedbackRow.org_id) == org_id,
                        col(FeedbackRow.request_id) == request_id,
                    )
                )
                row = FeedbackRow(
                    org_id=org_id,
                    request_id=request_id,
                    score=score,
                    label=label,
                    principal_id=principal_id,
                )
                session.add(row)
                await session.flush()
                added = _Rows()
                if tally is not None and row.id is not None and row.id <= tally.settled:
                    # SQLite hands out the highest id again once its row is
                    # deleted; no later read looks at or below settled.
                    added = await _read(
                        session, tally.learned, col(FeedbackRow.id) == row.id
                    )
            if tally is not None:
                tally.apply_local_replacement(replaced, added)
            await self._refresh(full=False)
        return ScoredAnswer(answer[0], answer[1])

    async def refresh(self, full: bool = False) -> None:
        """Read the new scores into the adjustments, or recount them all.

        A full recount happens when ``full`` is set, on the first refresh,
        when the artifact's record of learned scores changed, and once
        ``full_interval`` seconds have passed since the last one.
        """
        async with self._lock:
            await self._refresh(full)

    async def _refresh(self, full: bool) -> None:
        now = self._clock()
        learned = self._learned()
        tally = self._tally
        if tally is None or full or learned != tally.learned or now >= tally.full_due:
            tally = await self._recount(learned, now)
        else:
            async with self._database.sessions() as session:
                recent = await _read(
                    session, learned, col(FeedbackRow.id) > tally.settled
                )
            tally.read(recent, now, self._clock())
        self._tally = tally
        self._totals = tally.totals()
        self.adjustments.replace(self._totals)

    async def _recount(self, learned: LearnedFeedback | None, now: float) -> _Tally:
        """A fresh tally: the settled scores summed, the recent ones by row."""
        previous = self._tally
        async with self._database.sessions() as session:
            if previous is None:
                # Nothing is known settled yet: take the highest id as the
                # bound and recount again once its lower ids have committed.
                top = await session.scalar(select(func.max(col(FeedbackRow.id))))
                settled = int(top or 0)
                due = min(IN_FLIGHT_SECONDS, self._full_interval)
            else:
                settled, due = previous.settled, self._full_interval
            base = await _aggregate(session, learned, settled)
            recent = await _read(session, learned, col(FeedbackRow.id) > settled)
        tally = _Tally(learned, now + due, settled, base)
        if previous is not None:
            tally.marks = previous.marks
        tally.read(recent, now, self._clock())
        return tally

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


@dataclass(slots=True)
class _Rows:
    """Per stored score, by row id, the groups it counts in with its score.

    A score counts once per usage row of its request, and not at all
    (an empty entry) when the artifact learned it.
    """

    by_id: dict[int, list[tuple[Group, float]]] = field(default_factory=dict)

    def add(self, row: Sequence[Any]) -> None:
        row_id, org, task, model, score, *counted = row
        groups = self.by_id.setdefault(int(row_id), [])
        if not counted or counted[0]:  # NULL counts as false, as in FILTER
            groups.append(((org, task, model), float(score)))


@dataclass(slots=True)
class _Tally:
    """The aggregate one refresh builds on the last.

    Row ids are handed out in increasing order, but a transaction holding
    a lower id may commit after one holding a higher id, so "every id above
    the last one read" would miss it. Instead each read records a mark:
    the highest id it saw and the time the read ended. Every id at or below
    that id was handed out before then, and so is committed or rolled back
    IN_FLIGHT_SECONDS later. Once a mark is that old, the ids up to it are
    settled: their scores move into ``base``, one sum per group, and no
    later read looks at them. Scores above ``settled`` are re-read by row
    at every refresh and kept in ``recent`` by id, so a late commit among
    them is added once, and a replaced or deleted one drops out.
    """

    learned: LearnedFeedback | None
    full_due: float
    settled: int
    base: Totals
    recent: _Rows = field(default_factory=_Rows)
    marks: deque[tuple[float, int]] = field(default_factory=deque)

    def read(self, recent: _Rows, started: float, ended: float) -> None:
        """Take every stored score above ``settled``, as one read saw them."""
        self.recent = recent
        top = max(recent.by_id, default=self.settled)
        if not self.marks or ended - self.marks[-1][0] >= MARK_SPACING:
            self.marks.append((ended, top))
        settled = self.settled
        while self.marks and self.marks[0][0] <= started - IN_FLIGHT_SECONDS:
            settled = max(settled, self.marks.popleft()[1])
        for row_id in [i for i in recent.by_id if i <= settled]:
            _count(self.base, recent.by_id.pop(row_id), 1)
        self.settled = settled

    def apply_local_replacement(self, replaced: _Rows, added: _Rows) -> None:
        """Apply a local replacement to the settled scores it touched."""
        for row_id, groups in replaced.by_id.items():
            if row_id <= self.settled:
                _count(self.base, groups, -1)
        for groups in added.by_id.values():
            _count(self.base, groups, 1)

    def totals(self) -> Totals:
        totals = dict(self.base)
        for groups in self.recent.by_id.values():
            _count(totals, groups, 1)
        return totals


def _count(totals: Totals, groups: Iterable[tuple[Group, float]], sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) scores in ``totals``."""
    for group, score in groups:
        total, n = totals.get(group, (0.0, 0))
        if n + sign > 0:
            totals[group] = (total + sign * score, n + sign)
        else:
            totals.pop(group, None)


def _join() -> ColumnElement[bool]:
    return (col(FeedbackRow.org_id) == col(UsageRow.org_id)) & (
        col(FeedbackRow.request_id) == col(UsageRow.request_id)
    )


async def _aggregate(
    session: AsyncSession, learned: LearnedFeedback | None, through_id: int
) -> Totals:
    """Score sums and counts per group, of the scores up to ``through_id``."""
    total: ColumnElement[float] = func.sum(col(FeedbackRow.score))
    count: ColumnElement[int] = func.count()
    unlearned = _not_learned(learned)
    if unlearned is not None:
        # Aggregate FILTER, not WHERE: the plan stays the plain join's.
        # With a WHERE on the usage row's model, SQLite scanned usage by
        # model and took four times as long.
        total = func.sum(col(FeedbackRow.score)).filter(unlearned)
        count = func.count().filter(unlearned)
    rows = await session.execute(
        select(
            col(UsageRow.org_id),
            col(UsageRow.task_type),
            col(UsageRow.model),
            total,
            count,
        )
        .join(FeedbackRow, _join())
        .where(col(FeedbackRow.id) <= through_id)
        .group_by(col(UsageRow.org_id), col(UsageRow.task_type), col(UsageRow.model))
    )
    return {
        (org, task, model): (float(scores), int(n))
        for org, task, model, scores, n in rows
        if n  # 0 when the artifact learned every score of the group
    }


async def _read(
    session: AsyncSession,
    learned: LearnedFeedback | None,
    which: ColumnElement[bool],
) -> _Rows:
    """The scores ``which`` selects, by row (see :class:`_Rows`)."""
    columns: list[Any] = [
        col(FeedbackRow.id),
        col(UsageRow.org_id),
        col(UsageRow.task_type),
        col(UsageRow.model),
        col(FeedbackRow.score),
    ]
    unlearned = _not_learned(learned)
    if unlearned is not None:
        columns.append(unlearned)
    query: Select[Any] = (
        select(*columns).select_from(FeedbackRow).join(UsageRow, _join()).where(which)
    )
    rows = _Rows()
    for row in await session.execute(query):
        rows.add(row)
    return rows


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
