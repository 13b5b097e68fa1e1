"""Outcome data from production: sampled prompts, the model that answered, scores.

Each scored call joins three stored rows by ``(org_id, request_id)``: the
prompt sample (:mod:`megarouter.routing.prompt_samples`, opt-in), the usage
record (which model answered) and the caller's feedback (the score). A
training row is one prompt; a call observes only the score of the model that
answered it, so every other model's score on that row is missing, and the
fitter masks missing scores. Several scores for the same prompt and model
are averaged.

Production models are catalog ids (``provider/model``). One whose model id
is already a column of the base data (the shared RouterBench CSV) joins that
column: it is the same model. Any other gets a column of its own, and so its
own ability and weights, once it has ``min_rows`` scored prompts; below
that it is left out of the fit and keeps the prior from its catalog facts
(plus the live feedback adjustment), since a handful of scores would say
more about chance than about the model.

An artifact fitted this way records which scores it learned from
(:class:`~megarouter.routing.bundle.LearnedFeedback`): the org, the models
it kept, the ``since`` bound and the newest score it read. Servers running
the artifact leave those scores out of the live feedback shift.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlmodel import col

from megarouter.errors import FailedPrecondition
from megarouter.routing.bundle import LearnedFeedback
from megarouter.routing.features import normalise_prompt
from megarouter.routing.outcomes import OutcomeData
from megarouter.routing.priors import TRAINING_MODEL_FACTS, ModelFacts, fit_prior
from megarouter.routing.quality import QualityFitParams, QualityPredictor, fit_quality
from megarouter.store.database import Database
from megarouter.store.feedback_tables import FeedbackRow
from megarouter.store.prompt_sample_tables import PromptSampleRow
from megarouter.store.tables import as_utc, utcnow
from megarouter.store.usage_tables import UsageRow

DEFAULT_MIN_ROWS = 30
PRODUCTION_SOURCE = "production"
_PROMPT_KINDS = ("complete", "stream")

# A score is timed when its server builds the row, a moment before the row
# commits, so a score timed this recently may not be visible to a read yet.
# The record claims only scores older than this before the read; newer ones
# the fit did read stay in the live shift too: counted twice, not lost.
IN_FLIGHT_GRACE = timedelta(minutes=1)


class NoPromptSamples(FailedPrecondition):
    """No prompt samples are stored, so feedback cannot become training rows."""


class TooFewOutcomes(FailedPrecondition):
    """Too few scored prompts to fit any model on."""


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """One sampled call with its caller's score."""

    prompt: str
    model: str  # the catalog id that answered, provider/model
    score: float
    cost_micros: int


@dataclass(frozen=True)
class StoredOutcomes:
    """What the store holds for a fit.

    Attributes:
        samples: prompt samples matching the filter, scored or not.
        calls: the sampled calls that have a score.
        org_id: the filter's org; None for every org.
        since: the filter's lower bound on the calls' time.
        through: the newest score read, but no later than
            :data:`IN_FLIGHT_GRACE` before the read; None when none was read.
    """

    samples: int
    calls: list[ScoredCall]
    org_id: str | None = None
    since: datetime | None = None
    through: datetime | None = None


@dataclass(frozen=True)
class ProductionTable:
    """Scored calls as outcome data, and which models made the cut.

    Attributes:
        data: one row per distinct prompt, one column per kept model.
        rows_per_model: scored prompts per kept model (after joining base
            columns).
        skipped: scored prompts per model left out for having too few.
        calls: scored calls read.
        learned: catalog ids of the models whose calls are in ``data``.
    """

    data: OutcomeData
    rows_per_model: dict[str, int]
    skipped: dict[str, int]
    calls: int
    learned: frozenset[str] = frozenset()


async def read_stored_outcomes(
    database: Database,
    org_id: str | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> StoredOutcomes:
    """Read the scored, sampled calls of ``org_id`` (every org when None).

    Args:
        database: the migrated database.
        org_id: only this org's calls.
        since: only calls that started at or after this time.
        now: the time of the read; the clock's when None.
    """
    read_at = as_utc(now or utcnow())
    filters = []
    if org_id is not None:
        filters.append(col(PromptSampleRow.org_id) == org_id)
    if since is not None:
        filters.append(col(PromptSampleRow.created_at) >= since.astimezone(UTC))

    same_usage = (col(UsageRow.org_id) == col(PromptSampleRow.org_id)) & (
        col(UsageRow.request_id) == col(PromptSampleRow.request_id)
    )
    same_feedback = (col(FeedbackRow.org_id) == col(PromptSampleRow.org_id)) & (
        col(FeedbackRow.request_id) == col(PromptSampleRow.request_id)
    )
    scored = (
        select(
            col(PromptSampleRow.prompt),
            col(UsageRow.model),
            col(FeedbackRow.score),
            col(UsageRow.cost_micros),
            col(FeedbackRow.created_at),
        )
        .join(UsageRow, same_usage)
        .join(FeedbackRow, same_feedback)
        .where(
            col(UsageRow.status) == "OK",
            col(UsageRow.model) != "",
            col(UsageRow.kind).in_(_PROMPT_KINDS),
            *filters,
        )
    )
    async with database.sessions() as session:
        samples = await session.scalar(
            select(func.count()).select_from(PromptSampleRow).where(*filters)
        )
        rows = (await session.execute(scored)).all()
    calls = [ScoredCall(p, m, float(s), int(c)) for p, m, s, c, _ in rows]
    newest = max((as_utc(row[4]) for row in rows), default=None)
    through = None if newest is None else min(newest, read_at - IN_FLIGHT_GRACE)
    return StoredOutcomes(int(samples or 0), calls, org_id, since, through)


def require_scored(stored: StoredOutcomes, where: str = "") -> None:
    """Fail with what the operator should do when there is nothing to learn.

    Raises:
        NoPromptSamples: no prompt sample is stored.
        TooFewOutcomes: samples are stored but none has a score.
    """
    if stored.samples == 0:
        raise NoPromptSamples(
            f"no prompt samples are stored{where}: set "
            "MEGAROUTER_OUTCOME_PROMPT_SAMPLE_RATE (for example 0.05) on the "
            "servers, let callers score answers with SubmitFeedback, then fit again"
        )
    if not stored.calls:
        raise TooFewOutcomes(
            f"{stored.samples} prompt samples are stored{where} but none of their "
            "calls has a score yet: callers score answers with SubmitFeedback"
        )


def production_table(
    calls: Iterable[ScoredCall],
    min_rows: int = DEFAULT_MIN_ROWS,
    known_models: Iterable[str] = (),
) -> ProductionTable:
    """Average scored calls per prompt and model into outcome data.

    Args:
        calls: the scored calls.
        min_rows: scored prompts a model needs for a column of its own.
        known_models: the base data's columns; a call to one of them (by
            catalog id or bare model id) joins it whatever its count.

    Raises:
        TooFewOutcomes: no model has enough scored prompts.
    """
    known = set(known_models)
    prompts: dict[str, int] = {}
    scores: dict[tuple[int, str], list[float]] = defaultdict(list)
    costs: dict[tuple[int, str], list[float]] = defaultdict(list)
    catalog_ids: dict[str, set[str]] = defaultdict(set)  # column -> catalog ids
    read = 0
    for call in calls:
        read += 1
        text = normalise_prompt(call.prompt)
        row = prompts.setdefault(text, len(prompts))
        model = _column_of(call.model, known)
        scores[(row, model)].append(call.score)
        costs[(row, model)].append(call.cost_micros / 1_000_000)
        catalog_ids[model].add(call.model)

    counts: dict[str, int] = defaultdict(int)
    for _, model in scores:
        counts[model] += 1
    kept = sorted(m for m, n in counts.items() if n >= min_rows or m in known)
    skipped = {m: n for m, n in sorted(counts.items()) if m not in kept}
    if not kept:
        most = max(counts.items(), key=lambda kv: kv[1], default=("none", 0))
        raise TooFewOutcomes(
            f"no model has {min_rows} scored prompts yet (most: {most[0]} with "
            f"{most[1]}); collect more feedback or lower --min-rows"
        )

    data = _outcome_data(list(prompts), kept, scores, costs)
    learned = frozenset(i for m in kept for i in catalog_ids[m])
    return ProductionTable(data, {m: counts[m] for m in kept}, skipped, read, learned)


def learned_feedback(
    stored: StoredOutcomes, table: ProductionTable
) -> LearnedFeedback | None:
    """Which stored scores an artifact fitted on ``table`` learned from.

    Record it in the artifact (:class:`~megarouter.routing.bundle.RouterBundle`)
    so that servers stop shifting predictions by those scores once they load
    it. None when nothing was read.
    """
    if stored.through is None or not table.learned:
        return None
    return LearnedFeedback(
        through=stored.through,
        org=stored.org_id,
        since=stored.since,
        models=table.learned,
    )


def _column_of(model: str, known: set[str]) -> str:
    """The base column a catalog id joins, or the catalog id itself."""
    if model in known:
        return model
    bare = model.partition("/")[2]
    return bare if bare in known else model


def _outcome_data(
    texts: list[str],
    models: list[str],
    scores: Mapping[tuple[int, str], list[float]],
    costs: Mapping[tuple[int, str], list[float]],
) -> OutcomeData:
    """Mean scores and costs per prompt and kept model; rows with none dropped."""
    score = np.full((len(texts), len(models)), np.nan)
    cost = np.full((len(texts), len(models)), np.nan)
    column = {m: j for j, m in enumerate(models)}
    for (row, model), values in scores.items():
        j = column.get(model)
        if j is not None:
            score[row, j] = float(np.mean(values))
            cost[row, j] = float(np.mean(costs[(row, model)]))
    rows = np.flatnonzero(~np.isnan(score).all(axis=1))

    digest = hashlib.sha256()
    for i in rows:
        digest.update(texts[i].encode("utf-8"))
        digest.update(np.nan_to_num(score[i], nan=-1.0).tobytes())
    return OutcomeData(
        prompts=[texts[i] for i in rows],
        sources=np.array([PRODUCTION_SOURCE] * len(rows), dtype=np.str_),
        models=models,
        scores=score[rows],
        costs=cost[rows],
        sha256=digest.hexdigest(),
    )


def fit_with_production(
    data: OutcomeData,
    params: QualityFitParams | None = None,
    facts: Mapping[str, ModelFacts] | None = None,
    progress: Callable[[int], None] | None = None,
    prior_models: Collection[str] | None = None,
) -> QualityPredictor:
    """Fit the predictor on data that may hold production columns.

    The catalog-facts prior, which every model without a column relies on,
    is fitted only on ``prior_models`` whose facts are known. Pass the base
    data's models when there is one: callers' scores are not on the scale
    of benchmark correctness, and two or three production models would
    otherwise re-shape the price and size prior of the whole catalog. A
    model of unknown price never shapes it.

    Args:
        data: outcome data, possibly merged from a CSV and the store.
        params: fit knobs; defaults when None.
        facts: catalog facts of production models, by column name.
        progress: called with the number of optimiser steps done so far.
        prior_models: the models the prior learns from; all when None.
    """
    table = {**TRAINING_MODEL_FACTS, **(facts or {})}
    predictor = fit_quality(data, params, table, progress)
    chosen = set(data.models if prior_models is None else prior_models)
    known = [j for j, m in enumerate(data.models) if m in table and m in chosen]
    if not known:
        return predictor
    prior = fit_prior(
        [table[data.models[j]] for j in known],
        [float(predictor.ability[j]) for j in known],
        predictor.params.prior_ridge,
    )
    return replace(predictor, prior=prior)
