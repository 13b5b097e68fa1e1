"""The live feedback shift leaves out the scores the loaded artifact learned.

A refit from the store learns from stored scores; the artifact records which
(org, models, ``since``, newest score read). Servers running it must not
shift predictions by those scores again, and must keep shifting by every
other score: newer ones, other orgs', models the fit left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import select
from sqlmodel import col

from megarouter.catalog.prices import PriceTable
from megarouter.providers.spec import (
    Capabilities,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.routing.bundle import (
    LearnedFeedback,
    RouterBundle,
    load_bundle,
    load_default_bundle,
    save_bundle,
)
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.costs import fit_costs
from megarouter.routing.feedback import FeedbackStore
from megarouter.routing.learned import (
    FeedbackAdjustments,
    LearnedQuality,
    ReloadingArtifact,
)
from megarouter.routing.production import (
    IN_FLIGHT_GRACE,
    fit_with_production,
    learned_feedback,
    production_table,
    read_stored_outcomes,
)
from megarouter.routing.quality import QualityFitParams, QualityPredictor
from megarouter.store.database import Database
from megarouter.store.feedback_tables import FeedbackRow
from megarouter.store.migrations import upgrade_async
from megarouter.store.prompt_sample_tables import PromptSampleRow
from megarouter.store.tables import OrgRow
from megarouter.store.usage_tables import UsageRow

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STRENGTH = 20.0  # FeedbackAdjustments' default pseudo-observations
PROMPT = "Write a Python function that sorts a list of invoices."
TASK = "coding"
CHAT, RARE = "fast/chat", "slow/rare"


def chat_model(name: str) -> ModelSpec:
    return ModelSpec(
        id=name,
        mode=ModelMode.CHAT,
        context_window=100_000,
        price=Price(100_000, 400_000),
        capabilities=Capabilities(streaming=True),
    )


CATALOG = RoutableCatalog(
    PriceTable(
        [
            ProviderSpec(name="fast", family="openai", models=(chat_model("chat"),)),
            ProviderSpec(name="slow", family="openai", models=(chat_model("rare"),)),
        ]
    ).models(),
    lambda provider: True,
)
ROWS = np.arange(len(CATALOG))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async(database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        session.add(OrgRow(id="acme"))
        session.add(OrgRow(id="globex"))
    yield database
    await database.dispose()


async def scored_call(
    database: Database,
    org: str,
    request_id: str,
    model: str,
    score: float | None,
    at: datetime,
    sampled: bool = True,
) -> None:
    """A successful call at ``at``, its prompt sample and its score."""
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
                cost_micros=1_000,
                created_at=at,
            )
        )
        if sampled:
            session.add(
                PromptSampleRow(
                    org_id=org,
                    request_id=request_id,
                    prompt=f"{PROMPT} ({request_id})",
                    created_at=at,
                )
            )
        if score is not None:
            session.add(
                FeedbackRow(
                    org_id=org,
                    request_id=request_id,
                    score=score,
                    created_at=at + timedelta(minutes=1),
                )
            )


def quality(
    predictor: QualityPredictor, adjustments: FeedbackAdjustments, org: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(predicted without any shift, predicted with the live shift) per row."""
    bare = LearnedQuality(predictor).predict(PROMPT, TASK, org, ROWS, CATALOG)
    live = LearnedQuality(predictor, adjustments).predict(
        PROMPT, TASK, org, ROWS, CATALOG
    )
    return bare, live


def shifted(bare: float, total: float, count: int) -> float:
    return (STRENGTH * bare + total) / (STRENGTH + count)


def row(model: str) -> int:
    return CATALOG.ids.index(model)


async def fit_acme(database: Database, directory: Path) -> LearnedFeedback:
    """What ``router fit --from-store --org acme --min-rows 3`` does."""
    stored = await read_stored_outcomes(database, "acme")
    table = production_table(stored.calls, min_rows=3)
    predictor = fit_with_production(table.data, QualityFitParams(max_iter=20))
    costs = fit_costs(table.data.prompts, table.data.models, table.data.costs)
    learned = learned_feedback(stored, table)
    assert learned is not None
    save_bundle(RouterBundle(predictor, costs, {}, learned), directory)
    return learned


async def test_scores_an_artifact_learned_stop_shifting_and_newer_ones_still_shift(
    database: Database, tmp_path: Path
) -> None:
    for i in range(4):
        await scored_call(database, "acme", f"c{i}", CHAT, 0.0, T0 + timedelta(i))
        await scored_call(database, "globex", f"c{i}", CHAT, 0.0, T0)
    for i in range(2):  # too few for a column of its own: left out of the fit
        await scored_call(database, "acme", f"r{i}", RARE, 0.0, T0)
    await scored_call(database, "acme", "late", CHAT, None, T0)  # scored later

    # A server starts on an artifact without a record: every score shifts.
    save_bundle(load_default_bundle(), tmp_path)
    loaded: list[QualityPredictor] = []
    artifact = ReloadingArtifact(tmp_path, on_load=loaded.append)
    predictor = artifact.load()
    assert artifact.learned_feedback() is None
    adjustments = FeedbackAdjustments(STRENGTH)
    store = FeedbackStore(database, adjustments, learned=artifact.learned_feedback)
    await store.refresh()
    bare, live = quality(predictor, adjustments, "acme")
    assert live[row(CHAT)] == pytest.approx(shifted(bare[row(CHAT)], 0.0, 4))

    # Refit on acme's scores. A score stored after the read (during the
    # fit, say) is newer than the record's cut-off.
    learned = await fit_acme(database, tmp_path)
    assert learned == LearnedFeedback(
        through=T0 + timedelta(days=3, minutes=1), org="acme", models=frozenset({CHAT})
    )
    await store.submit("acme", "alice", "late", 1.0)
    assert artifact.reload_if_changed()
    [predictor] = loaded
    assert artifact.learned_feedback() == learned
    await store.refresh()

    # acme: only the late score still shifts fast/chat; the left-out model
    # keeps its shift; globex's scores were not learned and all still shift.
    bare, live = quality(predictor, adjustments, "acme")
    assert live[row(CHAT)] == pytest.approx(shifted(bare[row(CHAT)], 1.0, 1))
    assert live[row(RARE)] == pytest.approx(shifted(bare[row(RARE)], 0.0, 2))
    bare, live = quality(predictor, adjustments, "globex")
    assert live[row(CHAT)] == pytest.approx(shifted(bare[row(CHAT)], 0.0, 4))

    # Reloading changes the cut-off used: a record past the late score
    # leaves no shift on fast/chat, an artifact without one counts all.
    async with database.sessions() as session:
        late = await session.scalar(
            select(col(FeedbackRow.created_at)).where(
                col(FeedbackRow.request_id) == "late"
            )
        )
    assert late is not None
    fitted = load_bundle(tmp_path)
    later = replace(learned, through=late)
    save_bundle(replace(fitted, learned_feedback=later), tmp_path)
    assert artifact.reload_if_changed()
    await store.refresh()
    bare, live = quality(predictor, adjustments, "acme")
    assert live[row(CHAT)] == pytest.approx(bare[row(CHAT)])

    save_bundle(replace(fitted, learned_feedback=None), tmp_path)
    assert artifact.reload_if_changed()
    await store.refresh()
    bare, live = quality(predictor, adjustments, "acme")
    assert live[row(CHAT)] == pytest.approx(shifted(bare[row(CHAT)], 1.0, 5))


async def test_scores_of_calls_before_since_or_unsampled_still_shift(
    database: Database,
) -> None:
    await scored_call(database, "acme", "old", CHAT, 0.0, T0 - timedelta(days=5))
    await scored_call(database, "acme", "new", CHAT, 0.0, T0)
    await scored_call(database, "acme", "unsampled", CHAT, 1.0, T0, sampled=False)

    stored = await read_stored_outcomes(database, "acme", T0 - timedelta(days=1))
    table = production_table(stored.calls, min_rows=1)
    learned = learned_feedback(stored, table)
    assert learned is not None and learned.since == T0 - timedelta(days=1)

    adjustments = FeedbackAdjustments(STRENGTH)
    await FeedbackStore(database, adjustments, learned=lambda: learned).refresh()
    half = np.full(len(CATALOG), 0.5)
    out = adjustments.adjust("acme", TASK, ROWS, CATALOG, half)
    # The old call's score is outside the fit's --since, and the unsampled
    # call never became a training row: both still shift.
    assert out[row(CHAT)] == pytest.approx(shifted(0.5, 1.0, 2))


async def test_scores_stored_within_the_grace_are_not_claimed(
    database: Database,
) -> None:
    await scored_call(database, "acme", "c1", CHAT, 0.0, T0)
    stored = await read_stored_outcomes(database, now=T0 + timedelta(seconds=30))
    # The score (stored at T0 + 1 min) is read, but a score timed before it
    # might still have been uncommitted: the cut-off stays a grace behind.
    assert len(stored.calls) == 1
    assert stored.through == T0 + timedelta(seconds=30) - IN_FLIGHT_GRACE
    assert stored.org_id is None

    table = production_table(stored.calls, min_rows=1)
    learned = learned_feedback(stored, table)
    assert learned is not None and learned.org is None
    adjustments = FeedbackAdjustments(STRENGTH)
    await FeedbackStore(database, adjustments, learned=lambda: learned).refresh()
    half = np.full(len(CATALOG), 0.5)
    out = adjustments.adjust("acme", TASK, ROWS, CATALOG, half)
    assert out[row(CHAT)] == pytest.approx(shifted(0.5, 0.0, 1))


def test_artifacts_without_the_record_still_load(tmp_path: Path) -> None:
    bundle = load_default_bundle()
    assert bundle.learned_feedback is None  # the shipped artifact
    save_bundle(bundle, tmp_path)
    # Without a record the manifest is as before the field existed, so a
    # refit of the shipped artifact still reproduces it byte for byte.
    shipped = resources.files("megarouter.routing") / "data" / "quality.json"
    written = (tmp_path / "quality.json").read_text(encoding="utf-8")
    assert "learned_feedback" not in written
    assert written == shipped.read_text(encoding="utf-8")
    assert load_bundle(tmp_path).learned_feedback is None

    learned = LearnedFeedback(
        through=T0, org="acme", since=T0 - timedelta(days=7), models=frozenset({CHAT})
    )
    save_bundle(replace(bundle, learned_feedback=learned), tmp_path)
    assert load_bundle(tmp_path).learned_feedback == learned
