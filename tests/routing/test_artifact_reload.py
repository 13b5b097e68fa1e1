"""A running server picks up a refitted router artifact without a restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from megarouter.routing.bundle import load_default_bundle, save_bundle
from megarouter.routing.learned import ReloadingArtifact
from megarouter.routing.quality import QualityPredictor


def test_changed_artifact_files_are_loaded_and_handed_over(tmp_path: Path) -> None:
    bundle = load_default_bundle()
    save_bundle(bundle, tmp_path)
    loaded: list[QualityPredictor] = []
    artifact = ReloadingArtifact(tmp_path, on_load=loaded.append)

    first = artifact.load()
    assert first.models == bundle.predictor.models
    assert not artifact.reload_if_changed() and not loaded

    # A refit: same models, every ability one logit higher.
    refit = replace(bundle.predictor, ability=bundle.predictor.ability + 1.0)
    save_bundle(replace(bundle, predictor=refit), tmp_path)
    assert artifact.reload_if_changed()
    [fresh] = loaded
    assert np.allclose(fresh.ability, first.ability + 1.0)
    assert not artifact.reload_if_changed()


def test_half_written_artifact_keeps_the_old_predictor(tmp_path: Path) -> None:
    save_bundle(load_default_bundle(), tmp_path)
    loaded: list[QualityPredictor] = []
    artifact = ReloadingArtifact(tmp_path, on_load=loaded.append)
    artifact.load()
    (tmp_path / "quality.npz").write_bytes(b"not an npz file")
    assert not artifact.reload_if_changed()
    assert not loaded
