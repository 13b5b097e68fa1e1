"""Save and load a fitted quality predictor with its cost model.

The artifact is a directory with ``quality.json`` (format version, the
training data's sha256, the fit parameters, the model ids, the prior, and
cross-validated figures when the fit computed them, and which stored scores
it learned from when it was fitted from the store) and ``quality.npz`` (the
weights). A default artifact fitted on the shared RouterBench training data
ships in ``megarouter/routing/data``, so model ``auto`` works out of the box.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

from megarouter.errors import ConfigurationError
from megarouter.routing.artifacts import load_artifact, save_artifact
from megarouter.routing.costs import CallCostModel
from megarouter.routing.priors import PRIOR_FEATURES, PriorModel
from megarouter.routing.quality import FeatureScaler, QualityFitParams, QualityPredictor

ARTIFACT_NAME = "quality"
ARTIFACT_KIND = "megarouter.quality-predictor"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LearnedFeedback:
    """The stored scores an artifact fitted from the store has learned from.

    A score is covered when it belongs to ``org`` (any org when None), rates
    an answer of one of ``models`` (catalog ids) given at or after ``since``,
    and was stored at or before ``through``. The live feedback shift leaves
    covered scores out, so that they do not count twice.

    Attributes:
        through: when the newest score the fit read was stored, but at
            least a minute before the read (see ``production.py``); UTC.
        org: the one org the fit read, or None for every org.
        since: the fit's lower bound on the answers' time, UTC.
        models: the models the fit learned; scores of models it left out
            for having too few are not covered.
    """

    through: datetime
    org: str | None = None
    since: datetime | None = None
    models: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "through": _utc(self.through).isoformat(),
            "org": self.org,
            "since": _utc(self.since).isoformat() if self.since else None,
            "models": sorted(self.models),
        }

    @classmethod
    def from_json(cls, value: Any) -> LearnedFeedback:
        """Read what :meth:`to_json` wrote.

        Raises:
            ConfigurationError: the value is not of that shape.
        """
        try:
            since = value["since"]
            return cls(
                through=_utc(datetime.fromisoformat(value["through"])),
                org=None if value["org"] is None else str(value["org"]),
                since=_utc(datetime.fromisoformat(since)) if since else None,
                models=frozenset(str(m) for m in value["models"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"artifact field learned_feedback is malformed: {exc!r}"
            ) from exc


@dataclass
class RouterBundle:
    """A quality predictor, the cost model fitted beside it, and notes.

    Attributes:
        predictor: the quality predictor.
        costs: expected call cost per model from prompt length.
        notes: free-form facts recorded at fit time (figures, commands).
        learned_feedback: the stored scores the fit learned from; None when
            it read none (a fit on a CSV, the shipped artifact).
    """

    predictor: QualityPredictor
    costs: CallCostModel
    notes: dict[str, Any] = field(default_factory=dict)
    learned_feedback: LearnedFeedback | None = None


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
    if bundle.learned_feedback is not None:  # absent: a CSV fit stays as it was
        manifest["learned_feedback"] = bundle.learned_feedback.to_json()
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
    # Artifacts written before the field existed have no learned_feedback.
    learned = manifest.get("learned_feedback")
    return RouterBundle(
        predictor,
        costs,
        dict(manifest.get("notes", {})),
        LearnedFeedback.from_json(learned) if learned is not None else None,
    )


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


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
