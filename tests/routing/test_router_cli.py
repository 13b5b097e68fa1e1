"""``megarouter router fit`` and ``eval`` on a small sample of the shared data."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from megarouter.cli.router import app
from megarouter.routing.bundle import load_bundle

TRAIN_CSV = (
    Path(__file__).resolve().parents[3] / "shared/data/routing/routerbench_train.csv"
)
POOL = "gpt-4-1106-preview,mistralai/mixtral-8x7b-chat"


def test_fit_writes_an_artifact_that_eval_reads(tmp_path: Path) -> None:
    runner = CliRunner()
    artifact = tmp_path / "artifact"
    fitted = runner.invoke(
        app,
        [
            "fit",
            str(TRAIN_CSV),
            "-o",
            str(artifact),
            "--sample",
            "150",
            "--max-iter",
            "15",
        ],
    )
    assert fitted.exit_code == 0, fitted.output
    assert len(load_bundle(artifact).predictor.models) == 11

    evaluated = runner.invoke(
        app,
        [
            "eval",
            str(TRAIN_CSV),
            "--artifact",
            str(artifact),
            "--sample",
            "90",
            "--json",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    document = json.loads(evaluated.stdout)
    assert document["artifact"]["prompts"] == 90
    assert document["artifact"]["best_model"] == "gpt-4-1106-preview"


def test_eval_cross_validates_a_two_model_pool(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(TRAIN_CSV),
            "--sample",
            "200",
            "--folds",
            "2",
            "--max-iter",
            "15",
            "--pool",
            POOL,
            "--protocol",
            "both",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    for protocol in ("kfold", "lobo"):
        pool = document[protocol]["pool"]
        assert pool["strong"] == "gpt-4-1106-preview"
        assert 0.0 <= pool["router_share"] <= 1.0


def test_eval_prints_tables_without_json() -> None:
    result = CliRunner().invoke(
        app,
        ["eval", str(TRAIN_CSV), "--sample", "120", "--folds", "2", "--max-iter", "10"],
    )
    assert result.exit_code == 0, result.output
    assert "cost share to match gpt-4-1106-preview" in result.stdout


def test_eval_rejects_a_pool_model_missing_from_the_data() -> None:
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(TRAIN_CSV),
            "--sample",
            "60",
            "--folds",
            "2",
            "--pool",
            "gpt-9,claude-v1",
        ],
    )
    assert result.exit_code == 2


def test_eval_cross_validates_the_reference_router_on_the_same_folds() -> None:
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(TRAIN_CSV),
            "--sample",
            "200",
            "--folds",
            "2",
            "--model",
            "reference",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["kfold"]
    assert report["prompts"] == 200
    # Measured: Brier 0.193 against the prior-only 0.207 on this sample.
    assert report["brier"] < report["baseline_brier"]
    assert (
        report["curve"][-1]["quality"]
        >= report["single"]["gpt-4-1106-preview"]["quality"] - 0.05
    )


def test_eval_rejects_an_unknown_router() -> None:
    result = CliRunner().invoke(
        app, ["eval", str(TRAIN_CSV), "--sample", "60", "--model", "oracle"]
    )
    assert result.exit_code == 2
    assert "quality or reference" in result.output
