"""Scored production calls become outcome rows the fitter can learn from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from megarouter.routing.outcomes import OutcomeData, merge_outcomes
from megarouter.routing.production import (
    NoPromptSamples,
    ScoredCall,
    StoredOutcomes,
    TooFewOutcomes,
    production_table,
    read_stored_outcomes,
    require_scored,
)
from megarouter.store.database import Database
from megarouter.store.feedback_tables import FeedbackRow
from megarouter.store.migrations import upgrade_async
from megarouter.store.prompt_sample_tables import PromptSampleRow
from megarouter.store.tables import OrgRow
from megarouter.store.usage_tables import UsageRow

START = datetime(2026, 12, 1, tzinfo=UTC)


def calls(model: str, prompts: list[str], score: float) -> list[ScoredCall]:
    return [ScoredCall(p, model, score, 1_000) for p in prompts]


def test_each_row_observes_only_the_models_that_answered_it() -> None:
    table = production_table(
        [
            *calls("acme/fast", ["p1", "p2"], 1.0),
            *calls("acme/fast", ["p1"], 0.0),  # a second score for p1 averages
            *calls("acme/slow", [" p2\r\n"], 0.25),  # the same prompt, normalised
        ],
        min_rows=1,
    )
    data = table.data
    assert data.models == ["acme/fast", "acme/slow"]
    assert data.prompts == ["p1", "p2"]
    assert np.array_equal(
        data.scores, np.array([[0.5, np.nan], [1.0, 0.25]]), equal_nan=True
    )
    assert np.allclose(data.costs[1], [0.001, 0.001])
    assert table.rows_per_model == {"acme/fast": 2, "acme/slow": 1}
    assert list(data.sources) == ["production", "production"]


def test_models_with_too_few_scored_prompts_are_left_to_their_prior() -> None:
    table = production_table(
        [
            *calls("acme/busy", [f"q{i}" for i in range(30)], 1.0),
            *calls("acme/rare", ["only one", "q1"], 0.0),
        ],
        min_rows=30,
    )
    assert table.data.models == ["acme/busy"]
    assert table.skipped == {"acme/rare": 2}
    assert len(table.data) == 30  # "only one" observed nothing kept


def test_a_catalog_id_of_a_base_model_joins_its_column() -> None:
    table = production_table(
        calls("openai/gpt-4-1106-preview", ["p1"], 0.0),
        min_rows=30,
        known_models=["gpt-4-1106-preview", "claude-v2"],
    )
    assert table.data.models == ["gpt-4-1106-preview"]
    assert table.rows_per_model == {"gpt-4-1106-preview": 1}


def test_too_few_scores_is_a_clear_error() -> None:
    with pytest.raises(TooFewOutcomes, match=r"acme/rare with 2.*--min-rows"):
        production_table(calls("acme/rare", ["a", "b"], 1.0), min_rows=30)
    with pytest.raises(NoPromptSamples, match="MEGAROUTER_OUTCOME_PROMPT_SAMPLE_RATE"):
        require_scored(StoredOutcomes(0, []))
    with pytest.raises(TooFewOutcomes, match=r"3 prompt samples.*SubmitFeedback"):
        require_scored(StoredOutcomes(3, []))


def test_merged_rows_leave_the_other_sets_models_missing() -> None:
    base = OutcomeData(
        prompts=["b1"],
        sources=np.array(["mmlu"]),
        models=["m1", "m2"],
        scores=np.array([[1.0, 0.0]]),
        costs=np.array([[0.1, 0.2]]),
        sha256="a",
    )
    production = production_table(calls("acme/new", ["p1"], 0.5), min_rows=1).data
    merged = merge_outcomes(base, production)
    assert merged.models == ["m1", "m2", "acme/new"]
    assert merged.prompts == ["b1", "p1"]
    assert np.array_equal(
        merged.scores,
        np.array([[1.0, 0.0, np.nan], [np.nan, np.nan, 0.5]]),
        equal_nan=True,
    )
    assert list(merged.sources) == ["mmlu", "production"]


# --- reading the store --------------------------------------------------------


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async(database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        session.add(OrgRow(id="acme"))
        session.add(OrgRow(id="globex"))
    yield database
    await database.dispose()


def usage(org: str, rid: str, model: str, status: str = "OK", **kw: object) -> UsageRow:
    values: dict[str, object] = {
        "id": f"{org}-{rid}",
        "request_id": rid,
        "org_id": org,
        "principal_id": "alice",
        "key_id": "k1",
        "kind": "complete",
        "requested_model": "auto",
        "model": model,
        "status": status,
        "cost_micros": 2_000,
        "created_at": START,
    }
    values.update(kw)
    return UsageRow(**values)  # type: ignore[arg-type]


async def test_stored_calls_join_sample_usage_and_feedback(database: Database) -> None:
    async with database.transaction() as session:
        for org, rid, model, status, age in [
            ("acme", "r1", "p/a", "OK", 0),
            ("acme", "r2", "p/b", "OK", 5),  # before --since
            ("acme", "r3", "", "UNAVAILABLE", 0),  # failed: never teaches
            ("acme", "r4", "p/a", "OK", 0),  # no feedback
            ("globex", "r1", "p/a", "OK", 0),  # another org
        ]:
            created = START - timedelta(days=age)
            session.add(usage(org, rid, model, status, created_at=created))
            session.add(
                PromptSampleRow(
                    org_id=org,
                    request_id=rid,
                    prompt=f"{org} {rid}",
                    created_at=created,
                )
            )
            if rid != "r4":
                session.add(FeedbackRow(org_id=org, request_id=rid, score=0.75))

    everything = await read_stored_outcomes(database)
    assert everything.samples == 5
    assert sorted(c.prompt for c in everything.calls) == [
        "acme r1",
        "acme r2",
        "globex r1",
    ]
    recent = await read_stored_outcomes(database, "acme", START - timedelta(days=1))
    assert recent.samples == 3
    assert recent.calls == [ScoredCall("acme r1", "p/a", 0.75, 2_000)]
