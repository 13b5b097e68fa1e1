"""The periodic feedback refresh reads only new scores and stays exact.

Between full recounts a refresh reads the scores stored since about a
minute before the last one. New scores count at once, whatever order
their transactions commit in; a score replaced or deleted behind this
store's back counts until the next full recount; one replaced through
this store's ``submit`` is exact at once. The clock is the store's own,
moved by hand: no test waits.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import col

from megarouter.routing.bundle import LearnedFeedback
from megarouter.routing.feedback import FeedbackStore
from megarouter.routing.learned import FeedbackAdjustments
from megarouter.store.database import Database
from megarouter.store.feedback_tables import FeedbackRow
from megarouter.store.migrations import upgrade_async
from megarouter.store.prompt_sample_tables import PromptSampleRow
from megarouter.store.tables import OrgRow
from megarouter.store.usage_tables import UsageRow

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TASK = "coding"
CHAT, RARE = "fast/chat", "slow/rare"
FULL = 100_000.0  # seconds between full recounts in these tests
SETTLE = 61.0  # past the minute a score's transaction may take to commit


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async(database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        session.add(OrgRow(id="acme"))
        session.add(OrgRow(id="globex"))
    yield database
    await database.dispose()


async def answer(
    database: Database,
    org: str,
    request_id: str,
    model: str = CHAT,
    sampled: bool = False,
) -> None:
    """A successful call, with its prompt sample when ``sampled``."""
    async with database.transaction() as session:
        session.add(
            UsageRow(
                id=f"{org}-{request_id}",
                request_id=request_id,
                org_id=org,
                principal_id="alice",
                key_id="k1",
                kind="complete",
                requested_model="auto",
                model=model,
                task_type=TASK,
                status="OK",
                created_at=T0,
            )
        )
        if sampled:
            session.add(sample(org, request_id))


def sample(org: str, request_id: str) -> PromptSampleRow:
    return PromptSampleRow(
        org_id=org, request_id=request_id, prompt="sort invoices", created_at=T0
    )


async def score_elsewhere(
    database: Database,
    org: str,
    request_id: str,
    score: float,
    row_id: int | None = None,
) -> None:
    """Store (or replace) a score as another process would."""
    async with database.transaction() as session:
        await session.execute(
            delete(FeedbackRow).where(
                col(FeedbackRow.org_id) == org,
                col(FeedbackRow.request_id) == request_id,
            )
        )
        session.add(
            FeedbackRow(
                id=row_id,
                org_id=org,
                request_id=request_id,
                score=score,
                created_at=T0 + timedelta(minutes=1),
            )
        )


def new_store(
    database: Database,
    clock: Clock,
    learned: LearnedFeedback | None = None,
) -> FeedbackStore:
    return FeedbackStore(
        database,
        FeedbackAdjustments(),
        learned=lambda: learned,
        full_interval=FULL,
        clock=clock,
    )


async def recounted(
    database: Database, learned: LearnedFeedback | None = None
) -> dict[tuple[str, str, str], tuple[float, int]]:
    """What a full recount of the database gives now."""
    store = new_store(database, Clock(), learned)
    await store.refresh(full=True)
    return dict(store.totals)


async def settle(store: FeedbackStore, clock: Clock) -> None:
    """Let every score stored so far settle into the running sums."""
    for _ in range(2):  # the recount a minute after start, then a read
        clock.advance(SETTLE)
        await store.refresh()


def group(model: str, org: str = "acme") -> tuple[str, str, str]:
    return (org, TASK, model)


async def test_new_scores_count_at_the_next_incremental_refresh(
    database: Database,
) -> None:
    clock = Clock()
    store = new_store(database, clock)
    await store.refresh()
    assert store.totals == {}

    await answer(database, "acme", "c1")
    await answer(database, "globex", "c1", RARE)
    await score_elsewhere(database, "acme", "c1", 0.25)
    await score_elsewhere(database, "globex", "c1", 1.0)
    clock.advance(10)
    await store.refresh()
    assert store.totals == {group(CHAT): (0.25, 1), group(RARE, "globex"): (1.0, 1)}

    await settle(store, clock)
    await answer(database, "acme", "c2")
    await score_elsewhere(database, "acme", "c2", 0.5)
    clock.advance(10)
    await store.refresh()
    assert store.totals == {group(CHAT): (0.75, 2), group(RARE, "globex"): (1.0, 1)}


async def test_a_score_committed_after_a_higher_id_counts_once(
    database: Database,
) -> None:
    # Ids 1 and 3 commit, the refresh reads them, then id 2 commits late.
    for i in range(1, 4):
        await answer(database, "acme", f"c{i}")
    await score_elsewhere(database, "acme", "c1", 0.125, row_id=1)
    await score_elsewhere(database, "acme", "c3", 0.25, row_id=3)
    clock = Clock()
    store = new_store(database, clock)
    await settle(store, clock)
    assert store.totals == {group(CHAT): (0.375, 2)}

    await score_elsewhere(database, "acme", "c4", 0.5, row_id=5)
    await answer(database, "acme", "c4")
    clock.advance(10)
    await store.refresh()
    await score_elsewhere(database, "acme", "c2", 1.0, row_id=4)
    for _ in range(3):  # read again within the minute, then past it
        clock.advance(30)
        await store.refresh()
        assert store.totals == {group(CHAT): (1.875, 4)}
    assert store.totals == await recounted(database)


async def test_a_score_replaced_elsewhere_is_corrected_at_the_next_full_recount(
    database: Database,
) -> None:
    await answer(database, "acme", "c1")
    await answer(database, "acme", "c2")
    await score_elsewhere(database, "acme", "c1", 0.0)
    await score_elsewhere(database, "acme", "c2", 0.5)
    clock = Clock()
    store = new_store(database, clock)
    await settle(store, clock)
    assert store.totals == {group(CHAT): (0.5, 2)}

    # Another process replaces a settled score: this one counts both until
    # its next full recount.
    await score_elsewhere(database, "acme", "c1", 1.0)
    clock.advance(10)
    await store.refresh()
    assert store.totals == {group(CHAT): (1.5, 3)}

    clock.advance(FULL)
    await store.refresh()
    assert store.totals == {group(CHAT): (1.5, 2)}


@pytest.mark.parametrize("replaced", ["c1", "c2"])
async def test_a_score_replaced_through_submit_is_exact_at_once(
    database: Database, replaced: str
) -> None:
    await answer(database, "acme", "c1")
    await answer(database, "acme", "c2")
    await score_elsewhere(database, "acme", "c1", 0.0)
    await score_elsewhere(database, "acme", "c2", 0.5)  # the newest row
    clock = Clock()
    store = new_store(database, clock)
    await settle(store, clock)

    # Settled scores: the newest one's id comes back on SQLite.
    await store.submit("acme", "alice", replaced, 0.25)
    others = {"c1": 0.5, "c2": 0.0}[replaced]
    assert store.totals == {group(CHAT): (others + 0.25, 2)}

    # A recent score, replaced again before it settled.
    await store.submit("acme", "alice", replaced, 0.75)
    assert store.totals == {group(CHAT): (others + 0.75, 2)}
    await settle(store, clock)
    assert store.totals == {group(CHAT): (others + 0.75, 2)}
    assert store.totals == await recounted(database)


async def test_a_deleted_orgs_scores_disappear_at_the_next_full_recount(
    database: Database,
) -> None:
    await answer(database, "acme", "c1")
    await answer(database, "globex", "c1")
    await score_elsewhere(database, "acme", "c1", 0.5)
    await score_elsewhere(database, "globex", "c1", 1.0)
    clock = Clock()
    store = new_store(database, clock)
    await settle(store, clock)
    await answer(database, "globex", "c2")
    await score_elsewhere(database, "globex", "c2", 1.0)
    clock.advance(10)
    await store.refresh()
    assert store.totals[group(CHAT, "globex")] == (2.0, 2)

    # As when the org is deleted: its recent score drops out at the next
    # read, its settled one at the next full recount.
    async with database.transaction() as session:
        await session.execute(
            delete(FeedbackRow).where(col(FeedbackRow.org_id) == "globex")
        )
    clock.advance(10)
    await store.refresh()
    assert store.totals == {group(CHAT): (0.5, 1), group(CHAT, "globex"): (1.0, 1)}

    clock.advance(FULL)
    await store.refresh()
    assert store.totals == {group(CHAT): (0.5, 1)}


async def test_a_changed_learned_record_recounts_at_the_next_refresh(
    database: Database,
) -> None:
    for i in range(3):
        await answer(database, "acme", f"c{i}", sampled=True)
        await score_elsewhere(database, "acme", f"c{i}", 0.0)
    await answer(database, "acme", "r1", RARE, sampled=True)
    await score_elsewhere(database, "acme", "r1", 1.0)
    record: LearnedFeedback | None = None
    clock = Clock()
    store = FeedbackStore(
        database,
        FeedbackAdjustments(),
        learned=lambda: record,
        full_interval=FULL,
        clock=clock,
    )
    await settle(store, clock)
    assert store.totals == {group(CHAT): (0.0, 3), group(RARE): (1.0, 1)}

    # A reloaded artifact learned fast/chat's scores: they leave at once,
    # though they had settled.
    record = LearnedFeedback(through=T0 + timedelta(hours=1), models=frozenset({CHAT}))
    clock.advance(10)
    await store.refresh()
    assert store.totals == {group(RARE): (1.0, 1)}

    record = None
    clock.advance(10)
    await store.refresh()
    assert store.totals == {group(CHAT): (0.0, 3), group(RARE): (1.0, 1)}


async def test_a_recent_score_leaves_once_its_prompt_sample_is_written(
    database: Database,
) -> None:
    record = LearnedFeedback(through=T0 + timedelta(hours=1), models=frozenset({CHAT}))
    clock = Clock()
    store = new_store(database, clock, record)
    await settle(store, clock)
    await answer(database, "acme", "c1")
    await score_elsewhere(database, "acme", "c1", 0.0)
    clock.advance(10)
    await store.refresh()
    assert store.totals == {group(CHAT): (0.0, 1)}  # unsampled: not learned

    # The sampler writes the call's prompt a moment after the score.
    async with database.transaction() as session:
        session.add(sample("acme", "c1"))
    clock.advance(10)
    await store.refresh()
    assert store.totals == {}


async def test_incremental_totals_equal_a_full_recount_after_random_writes(
    database: Database,
) -> None:
    rng = random.Random(20261204)
    record = LearnedFeedback(through=T0 + timedelta(hours=1), models=frozenset({RARE}))
    clock = Clock()
    store = new_store(database, clock, record)
    await store.refresh()
    answered: list[tuple[str, str]] = []
    for step in range(120):
        action = rng.random()
        if action < 0.4 or not answered:
            org = rng.choice(["acme", "globex"])
            request_id = f"c{step}"
            model = rng.choice([CHAT, RARE])
            await answer(database, org, request_id, model, sampled=rng.random() < 0.5)
            answered.append((org, request_id))
            # Eighths add up exactly in any order.
            await score_elsewhere(database, org, request_id, rng.randrange(9) / 8)
        else:
            org, request_id = rng.choice(answered)
            await store.submit(org, "alice", request_id, rng.randrange(9) / 8)
        clock.advance(rng.choice([0.5, 5, 10, 30]))
        if rng.random() < 0.5:
            await store.refresh()
            assert store.totals == await recounted(database, record)
    assert clock.now < FULL  # no full recount but the first two
    await store.refresh()
    assert store.totals == await recounted(database, record)
    assert sum(n for _, n in store.totals.values()) > 20
