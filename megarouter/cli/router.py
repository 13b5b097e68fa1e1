"""``megarouter router ...``: fit and evaluate the learned router offline.

``fit --from-store`` learns from production feedback instead of a CSV; see
:mod:`megarouter.cli.router_store`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table

from megarouter.errors import MegaRouterError

# The routing modules import numpy, scipy and sqlalchemy; the commands import
# them when they run, so that `megarouter --help` need not.
if TYPE_CHECKING:
    from megarouter.routing.evaluation import RouterReport
    from megarouter.routing.outcomes import OutcomeData
    from megarouter.routing.quality import QualityFitParams

# megarouter.routing.production's default, repeated for the --min-rows help;
# tests/cli/test_cli_imports.py checks that both agree.
DEFAULT_MIN_ROWS = 30

app = typer.Typer(help="Fit and evaluate the learned router.", no_args_is_help=True)
console = Console(stderr=True)
PROTOCOLS = ("kfold", "lobo")
ROUTERS = ("quality", "reference")


@contextmanager
def _progress() -> Iterator[Progress]:
    """A rich progress display on stderr."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield progress


def _load(data: Path, sample: int | None) -> OutcomeData:
    """Read outcome data, turning our errors into a clean CLI exit."""
    from megarouter.routing.outcomes import load_outcomes

    try:
        return load_outcomes(data, sample)
    except MegaRouterError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc


def _params(max_iter: int | None) -> QualityFitParams:
    """Default fit parameters, with the iteration cap overridden if given."""
    from megarouter.routing.quality import QualityFitParams

    defaults = QualityFitParams()
    if max_iter is None:
        return defaults
    return QualityFitParams(**{**defaults.__dict__, "max_iter": max_iter})


def _cross_validate(
    outcomes: OutcomeData,
    protocol: str,
    folds: int,
    params: QualityFitParams,
    pool: list[str] | None,
    progress: Progress,
    router: str = "quality",
) -> RouterReport:
    """Fit per fold and report on the out-of-fold predictions."""
    from megarouter.routing.crossval import (
        evaluate_predictions,
        out_of_fold,
        prior_only,
        protocol_folds,
    )
    from megarouter.routing.reference import fit_reference

    fold = protocol_folds(outcomes, protocol, folds)
    n_folds = len(set(fold.tolist()))
    task = progress.add_task(f"{protocol}: fitting folds", total=n_folds)
    oof = out_of_fold(
        outcomes,
        fold,
        params,
        on_fold=lambda: progress.advance(task),
        fitter=fit_reference if router == "reference" else None,
    )
    baseline = prior_only(outcomes, fold)
    return evaluate_predictions(outcomes, oof.predicted, oof.estimated, baseline, pool)


@app.command()
def fit(
    data: Path | None = typer.Argument(
        None, help="Outcome CSV (RouterBench format); not with --from-store."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Artifact directory."),
    cv: bool = typer.Option(False, "--cv", help="Also cross-validate; figures go in."),
    folds: int = typer.Option(5, "--folds", min=2),
    sample: int | None = typer.Option(
        None, "--sample", help="Use N rows spread evenly through the CSV."
    ),
    max_iter: int | None = typer.Option(None, "--max-iter", help="Optimiser steps."),
    from_store: bool = typer.Option(
        False,
        "--from-store",
        help="Learn from production: sampled prompts with their callers' scores.",
    ),
    base: Path | None = typer.Option(
        None, "--base", help="With --from-store: also fit on this outcome CSV."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database URL (env MEGAROUTER_DATABASE_URL)."
    ),
    config: Path | None = typer.Option(None, "--config", help="A TOML settings file."),
    org: str | None = typer.Option(None, "--org", help="Only this org's feedback."),
    since: datetime | None = typer.Option(
        None,
        "--since",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="Only calls from this UTC date or time on.",
    ),
    min_rows: int = typer.Option(
        DEFAULT_MIN_ROWS,
        "--min-rows",
        min=1,
        help="Scored prompts a new model needs for weights of its own.",
    ),
) -> None:
    """Fit the quality predictor on DATA, or on production, into an artifact."""
    from megarouter.routing.bundle import RouterBundle, save_bundle
    from megarouter.routing.costs import fit_costs
    from megarouter.routing.quality import fit_quality

    if from_store:
        if data is not None:
            raise typer.BadParameter(
                "with --from-store, give the CSV as --base", param_hint="DATA"
            )
        if cv:
            raise typer.BadParameter(
                "cross-validate a CSV instead: production rows score one model "
                "each, and the figures compare every model on every prompt",
                param_hint="--cv",
            )
        from megarouter.cli.router_store import BaseData, StoreFilter, fit_from_store
        from megarouter.cli.router_store import database_url as store_database_url

        fit_from_store(
            output,
            store_database_url(database_url, config),
            StoreFilter(org, since.replace(tzinfo=UTC) if since else None),
            BaseData(_load(base, sample), base.name) if base else None,
            _params(max_iter),
            min_rows,
            _progress,
            config,
        )
        return
    if data is None:
        raise typer.BadParameter("give an outcome CSV, or --from-store")
    if base is not None:
        raise typer.BadParameter("--base goes with --from-store", param_hint="--base")

    outcomes = _load(data, sample)
    params = _params(max_iter)
    notes: dict[str, object] = {"rows": len(outcomes), "source_file": data.name}
    with _progress() as progress:
        task = progress.add_task("fitting", total=params.max_iter)
        predictor = fit_quality(
            outcomes, params, progress=lambda n: progress.update(task, completed=n)
        )
        if cv:
            for protocol in PROTOCOLS:
                result = _cross_validate(
                    outcomes, protocol, folds, params, None, progress
                )
                notes[protocol] = _headline(result)
    costs = fit_costs(outcomes.prompts, outcomes.models, outcomes.costs)
    save_bundle(RouterBundle(predictor, costs, notes), output)
    console.print(
        f"wrote {output} ({len(outcomes)} prompts x {len(outcomes.models)} models)"
    )


@app.command("eval")
def evaluate(
    data: Path = typer.Argument(..., help="Outcome CSV (RouterBench format)."),
    artifact: Path | None = typer.Option(
        None,
        "--artifact",
        help="Evaluate this artifact as is (default: cross-validate).",
    ),
    pool: str | None = typer.Option(None, "--pool", help="Comma-separated model ids."),
    folds: int = typer.Option(5, "--folds", min=2),
    protocol: str = typer.Option("kfold", "--protocol", help="kfold, lobo or both."),
    sample: int | None = typer.Option(
        None, "--sample", help="Use N rows spread evenly through DATA."
    ),
    max_iter: int | None = typer.Option(None, "--max-iter", help="Optimiser steps."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    router: str = typer.Option(
        "quality",
        "--model",
        help="quality (ours) or reference (plain TF-IDF + per-model logistic).",
    ),
) -> None:
    """Sweep the willingness to pay and report the quality-cost curve."""
    from megarouter.routing.evaluation import report_to_dict

    outcomes = _load(data, sample)
    models = [m.strip() for m in pool.split(",")] if pool else None
    protocols = PROTOCOLS if protocol == "both" else (protocol,)
    if any(p not in PROTOCOLS for p in protocols):
        raise typer.BadParameter("use kfold, lobo or both", param_hint="--protocol")
    if router not in ROUTERS:
        raise typer.BadParameter("use quality or reference", param_hint="--model")

    results: dict[str, RouterReport] = {}
    try:
        if models:
            outcomes.with_models(models)  # fail before any fitting
        with _progress() as progress:
            if artifact is not None:
                results["artifact"] = _evaluate_artifact(
                    outcomes, artifact, models, progress
                )
            else:
                for name in protocols:
                    results[name] = _cross_validate(
                        outcomes,
                        name,
                        folds,
                        _params(max_iter),
                        models,
                        progress,
                        router,
                    )
    except MegaRouterError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc

    if as_json:
        document = {name: report_to_dict(r) for name, r in results.items()}
        typer.echo(json.dumps(document, indent=1))
        return
    for name, result in results.items():
        _print_report(name, result)


def _evaluate_artifact(
    outcomes: OutcomeData, artifact: Path, pool: list[str] | None, progress: Progress
) -> RouterReport:
    """Route every prompt with a fitted artifact, without refitting."""
    import numpy as np

    from megarouter.routing.bundle import load_bundle
    from megarouter.routing.crossval import evaluate_predictions

    bundle = load_bundle(artifact)
    task = progress.add_task("predicting", total=len(outcomes))
    rows = []
    for prompt in outcomes.prompts:
        rows.append(bundle.predictor.predict(prompt, outcomes.models))
        progress.advance(task)
    predicted = np.stack(rows)
    estimated = bundle.costs.estimate(outcomes.prompts, outcomes.models)
    return evaluate_predictions(outcomes, predicted, estimated, None, pool)


@app.command("fit-tasks")
def fit_tasks(
    data: Path = typer.Argument(..., help="Labelled prompts CSV (label, prompt)."),
    output: Path = typer.Option(..., "-o", "--output", help="Artifact directory."),
) -> None:
    """Fit the task-type classifier on labelled prompts."""
    from megarouter.routing.tasks import fit_task_classifier, load_labelled_prompts

    prompts, labels = load_labelled_prompts(data)
    with _progress() as progress:
        progress.add_task("fitting task classifier", total=None)
        classifier = fit_task_classifier(prompts, labels)
    classifier.save(output)
    console.print(f"wrote {output} ({len(prompts)} prompts)")


@app.command()
def predict(
    prompt: str = typer.Argument(..., help="The prompt text."),
    artifact: Path | None = typer.Option(
        None, "--artifact", help="Artifact directory."
    ),
) -> None:
    """Show each known model's predicted quality and cost for PROMPT."""
    from megarouter.routing.bundle import load_bundle, load_default_bundle
    from megarouter.routing.explain import explain
    from megarouter.routing.tasks import load_default_task_classifier

    bundle = load_bundle(artifact) if artifact else load_default_bundle()
    models = bundle.predictor.models
    quality = bundle.predictor.predict(prompt, models)
    cost = bundle.costs.estimate([prompt], models)[0]
    task = load_default_task_classifier().classify(prompt)
    table = Table("model", "P(good)", "est. cost (µ$)", "largest reasons (logit)")
    for j in sorted(range(len(models)), key=lambda j: -quality[j]):
        why = explain(bundle.predictor, prompt, models[j], top=2).top
        reasons = ", ".join(f"{c.feature} {c.logit:+.2f}" for c in why)
        table.add_row(models[j], f"{quality[j]:.3f}", f"{cost[j] * 1e6:,.0f}", reasons)
    out = Console()
    out.print(f"task type: {task.task.value}" + (" (rule)" if task.rule else ""))
    out.print(table)


def _headline(result: RouterReport) -> dict[str, object]:
    """The figures worth recording in an artifact's notes."""
    return {
        "best_model": result.best_model,
        "share_to_match_best": result.share_to_match_best,
        "quality_at_cost": result.quality_at_cost,
        "aiq": result.aiq,
    }


def _fmt(value: object, pattern: str = "{:.3f}") -> str:
    """A number for a table cell, or a dash."""
    return pattern.format(value) if isinstance(value, int | float) else "—"


def _print_report(name: str, result: RouterReport) -> None:
    """Rich tables for one evaluation."""
    out = Console()
    base = result.extra.get("baseline")
    baseline = base if isinstance(base, dict) else {}
    out.print(
        f"[bold]{name}[/bold]: {result.prompts} prompts, {len(result.models)} models"
    )

    summary = Table("figure", "router", "prior-only baseline")
    summary.add_row(
        f"cost share to match {result.best_model}",
        _fmt(result.share_to_match_best, "{:.1%}"),
        _fmt(baseline.get("share_to_match_best"), "{:.1%}"),
    )
    summary.add_row(
        "AIQ (mean quality over log cost)", _fmt(result.aiq), _fmt(baseline.get("aiq"))
    )
    summary.add_row(
        "Brier score",
        _fmt(result.extra.get("brier")),
        _fmt(result.extra.get("baseline_brier")),
    )
    out.print(summary)

    at_cost = Table("its cost ($)", "its quality", "router at that cost")
    at_cost.columns.insert(0, Column("single model", overflow="fold"))
    for model, point in sorted(result.single.items(), key=lambda kv: kv[1].cost):
        at_cost.add_row(
            model,
            f"{point.cost:.3f}",
            f"{point.quality:.3f}",
            _fmt(result.quality_at_cost[model]),
        )
    out.print(at_cost)

    curve = Table("cost ($)", "quality", "willingness to pay ($⁻¹)")
    for p in result.curve:
        curve.add_row(f"{p.cost:.3f}", f"{p.quality:.3f}", f"{p.wtp:.3g}")
    out.print(curve)

    if result.pool is not None:
        pool = result.pool
        out.print(
            f"pool {pool.strong} ({pool.strong_quality:.3f}) / {pool.weak} "
            f"({pool.weak_quality:.3f}): {pool.router_share:.1%} of calls to the "
            f"stronger model reach 95 % of its score; random routing needs "
            f"{pool.random_share:.1%}"
        )
