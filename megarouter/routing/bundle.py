"""Save and load a fitted quality predictor with its cost model.

The artifact is a directory with ``quality.json`` (format version, the
training data's sha256, the fit parameters, the model ids, the prior, and
cross-validated figures when the fit computed them) and ``quality.npz`` (the
weights). A default artifact fitted on the shared RouterBench training data
ships in ``megarouter/routing/data``, so model ``auto`` works out of the box.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

from megarouter.routing.artifacts import load_artifact, save_artifact
from megarouter.routing.costs import CallCostModel
from megarouter.routing.priors import PRIOR_FEATURES, PriorModel
from megarouter.routing.quality import FeatureScaler, QualityFitParams, QualityPredictor

ARTIFACT_NAME = "quality"
ARTIFACT_KIND = "megarouter.quality-predictor"
FORMAT_VERSION = 1


@dataclass
class RouterBundle:
    """A quality predictor, the cost model fitted beside it, and notes.

    Attributes:
        predictor: the quality predictor.
        costs: expected call cost per model from prompt length.
        notes: free-form facts recorded at fit time (figures, commands).
    """

    predictor: QualityPredictor
    costs: CallCostModel
    notes: dict[str, Any] = field(default_factory=dict)


def save_bundle(bundle: RouterBundle, directory: Path) -> None:
    """Write ``bundle`` as an artifact into ``directory``."""
    predictor = bundle.predictor
    manifest = {
        "kind": ARTIFACT_KIND,
        "format": FORMAT_VERSION,
        "data_sha256": predictor.data_sha256,
        "fit_params": asdict(predictor.params),
        "models": predictor.models,
        "cost_models": bundle.costs.models,
        "prior": {
            "features": list(PRIOR_FEATURES),
            "intercept": predictor.prior.intercept,
        },
        "notes": bundle.notes,
    }
    arrays = {
        "ability": predictor.ability,
        "shared": predictor.shared,
        "own": predictor.own,
        "shape_mean": predictor.scaler.shape_mean,
        "shape_scale": predictor.scaler.shape_scale,
        "idf": predictor.scaler.idf,
        "prior_weights": predictor.prior.weights,
        "prior_centre": predictor.prior.centre,
        "cost_coefficients": bundle.costs.coefficients,
    }
    save_artifact(directory, ARTIFACT_NAME, manifest, arrays)


def load_bundle(directory: Path | Traversable) -> RouterBundle:
    """Read an artifact written by :func:`save_bundle`.

    Raises:
        ConfigurationError: the artifact is missing or of another format.
    """
    manifest, arrays = load_artifact(
        directory, ARTIFACT_NAME, ARTIFACT_KIND, FORMAT_VERSION
    )
    predictor = QualityPredictor(
        models=list(manifest["models"]),
        ability=arrays["ability"],
        shared=arrays["shared"],
        own=arrays["own"],
        scaler=FeatureScaler(
            arrays["shape_mean"],
            arrays["shape_scale"],
            arrays["idf"],
        ),
        prior=PriorModel(
            float(manifest["prior"]["intercept"]),
            arrays["prior_weights"],
            arrays["prior_centre"],
        ),
        params=QualityFitParams(**manifest["fit_params"]),
        data_sha256=str(manifest["data_sha256"]),
    )
    costs = CallCostModel(
        list(manifest["cost_models"]), np.asarray(arrays["cost_coefficients"])
    )
    return RouterBundle(predictor, costs, dict(manifest.get("notes", {})))


def default_artifact_dir() -> Traversable:
    """Where the shipped default artifact lives inside the package."""
    return resources.files("megarouter.routing") / "data"


@cache
def load_default_bundle() -> RouterBundle:
    """The shipped artifact, loaded once per process."""
    return load_bundle(default_artifact_dir())


def load_default_predictor() -> QualityPredictor:
    """The quality predictor fitted on the shared training data.

    Returns:
        The predictor; it is loaded once and shared, so treat it as read-only.
    """
    return load_default_bundle().predictor
