"""``megarouter router fit --from-store``: learn from production feedback.

Reads the scored, sampled calls from the database, turns them into outcome
rows (see :mod:`megarouter.routing.production`), optionally merges the
shared outcome CSV so the artifact keeps what it knew, fits, and writes an
artifact that running servers pick up when ``router_artifact`` names it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from megarouter.config import load_settings
from megarouter.errors import MegaRouterError, NotFound
from megarouter.providers.registry import ProviderRegistry
from megarouter.routing.bundle import RouterBundle, save_bundle
from megarouter.routing.costs import fit_costs
from megarouter.routing.outcomes import OutcomeData, merge_outcomes
from megarouter.routing.priors import TRAINING_MODEL_FACTS, ModelFacts
from megarouter.routing.production import (
    ProductionTable,
    StoredOutcomes,
    fit_with_production,
    learned_feedback,
    production_table,
    read_stored_outcomes,
    require_scored,
)
from megarouter.routing.quality import QualityFitParams
from megarouter.store.database import Database
from megarouter.store.migrations import require_current

console = Console(stderr=True)


@dataclass(frozen=True)
class StoreFilter:
    """Which stored calls a fit reads."""

    org: str | None = None
    since: datetime | None = None  # UTC

    def describe(self) -> str:
        """The filter as words for messages ("" when there is none)."""
        parts = []
        if self.org:
            parts.append(f" for org {self.org}")
        if self.since:
            parts.append(f" since {self.since.isoformat()}")
        return "".join(parts)


@dataclass(frozen=True)
class BaseData:
    """The outcome CSV merged into a production fit."""

    data: OutcomeData
    name: str


def database_url(url: str | None, config: Path | None) -> str:
    """The URL to read: the flag, else the settings' (env, file, default)."""
    try:
        return load_settings(config, database_url=url).effective_database_url
    except MegaRouterError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc


def fit_from_store(
    output: Path,
    url: str,
    where: StoreFilter,
    base: BaseData | None,
    params: QualityFitParams,
    min_rows: int,
    progress: Callable[[], AbstractContextManager[Progress]],
    config: Path | None = None,
) -> None:
    """Fit on the store's scored calls (and ``base``) and write an artifact.

    ``config`` is the settings file given with ``--config``, whose providers
    file, if any, adds to the catalog facts.
    """
    try:
        with progress() as bar:
            bar.add_task("reading scored calls from the store", total=None)
            stored = asyncio.run(_read(url, where))
        require_scored(stored, where.describe())
        known = base.data.models if base else ()
        table = production_table(stored.calls, min_rows, known)
        facts = _catalog_facts(table.rows_per_model, config)
    except MegaRouterError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc

    data = merge_outcomes(base.data, table.data) if base else table.data
    with progress() as bar:
        task = bar.add_task("fitting", total=params.max_iter)
        predictor = fit_with_production(
            data,
            params,
            facts,
            lambda n: bar.update(task, completed=n),
            prior_models=base.data.models if base else None,
        )
    costs = fit_costs(data.prompts, data.models, data.costs)
    notes = _notes(data, base, stored, table, where, min_rows)
    # The record lets running servers leave these scores out of the live
    # feedback shift, so that they do not count twice.
    learned = learned_feedback(stored, table)
    save_bundle(RouterBundle(predictor, costs, notes, learned), output)
    _report(output, data, table, min_rows)


async def _read(url: str, where: StoreFilter) -> StoredOutcomes:
    database = Database(url)
    try:
        await require_current(database)
        return await read_stored_outcomes(database, where.org, where.since)
    finally:
        await database.dispose()


def _catalog_facts(
    models: Iterable[str], config: Path | None = None
) -> dict[str, ModelFacts]:
    """Prices and context windows of production models, from installed plugins
    and the settings' providers file.

    A model neither knows (one registered in process, say) gets no facts and
    so does not shape the prior.

    Raises:
        ConfigurationError: the settings or the providers file are unusable.
    """
    wanted = [m for m in models if m not in TRAINING_MODEL_FACTS and "/" in m]
    if not wanted:
        return {}
    registry = ProviderRegistry()
    registry.load(providers_file=load_settings(config).providers_file)
    facts = {}
    for model in wanted:
        try:
            spec = registry.find_model(model).model
        except NotFound:
            continue
        price = spec.price
        facts[model] = ModelFacts(
            spec.id,
            price.input_per_mtok if price else None,
            price.output_per_mtok if price else None,
            spec.context_window,
        )
    return facts


def _notes(
    data: OutcomeData,
    base: BaseData | None,
    stored: StoredOutcomes,
    table: ProductionTable,
    where: StoreFilter,
    min_rows: int,
) -> dict[str, object]:
    """What the artifact records about where its rows came from."""
    return {
        "rows": len(data),
        "source_file": base.name if base else "",
        "from_store": {
            "org": where.org or "",
            "since": where.since.isoformat() if where.since else "",
            "prompt_samples": stored.samples,
            "scored_calls": table.calls,
            "rows": len(table.data),
            "min_rows": min_rows,
            "rows_per_model": table.rows_per_model,
            "left_out": table.skipped,
        },
    }


def _report(
    output: Path, data: OutcomeData, table: ProductionTable, min_rows: int
) -> None:
    console.print(
        f"wrote {output} ({len(data)} prompts x {len(data.models)} models; "
        f"{table.calls} scored calls from the store made {len(table.data)} rows)"
    )
    for model, rows in table.rows_per_model.items():
        console.print(f"  learned {model}: {rows} scored prompts")
    for model, rows in table.skipped.items():
        console.print(
            f"  left out {model}: {rows} scored prompts, fewer than {min_rows}; "
            "it keeps its catalog prior"
        )
