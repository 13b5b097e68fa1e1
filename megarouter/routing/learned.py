"""The learned quality predictor as the router's quality model.

Catalog models the predictor was fitted on (matched by model id or alias)
get their learned per-prompt prediction; every other model gets the
predictor's prior from its catalog facts (price, size, context) plus the
prompt's shared difficulty. Per catalog, the mapping is computed once; per
request, one prompt is featurised and a few vector operations follow.

Feedback from production (:class:`FeedbackAdjustments`) shifts a model's
prediction for a task type toward the scores callers reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from megarouter.routing.bundle import (
    LearnedFeedback,
    RouterBundle,
    load_bundle,
    load_default_bundle,
)
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.priors import ModelFacts
from megarouter.routing.quality import QualityPredictor

logger = logging.getLogger(__name__)

_UNKNOWN = ModelFacts("__megarouter_unseen_model__")


class _CatalogMapping:
    """For each catalog row: the predictor's column, or its prior logit."""

    def __init__(self, predictor: QualityPredictor, catalog: RoutableCatalog) -> None:
        trained = {model: index for index, model in enumerate(predictor.models)}
        count = len(catalog)
        self.column = np.full(count, -1, dtype=np.intp)
        self.prior = np.zeros(count)
        for row, model in enumerate(catalog.models):
            spec = model.spec
            names = (spec.id, *spec.aliases, model.global_id)
            index = next((trained[n] for n in names if n in trained), None)
            if index is not None:
                self.column[row] = index
                continue
            price = model.price
            facts = ModelFacts(
                spec.id,
                price.input_per_mtok if price else None,
                price.output_per_mtok if price else None,
                spec.context_window,
            )
            self.prior[row] = predictor.prior_ability(facts)


class LearnedQuality:
    """Per-prompt quality from a fitted :class:`QualityPredictor`.

    Args:
        predictor: the fitted predictor.
        adjustments: feedback shifts per org, task type and model; None for
            none.
    """

    name = "learned"

    def __init__(
        self,
        predictor: QualityPredictor,
        adjustments: FeedbackAdjustments | None = None,
    ) -> None:
        self.predictor = predictor
        self.adjustments = adjustments
        self._mappings: weakref.WeakKeyDictionary[RoutableCatalog, _CatalogMapping] = (
            weakref.WeakKeyDictionary()
        )
        self._known = list(predictor.models)
        self._unknown_prior = predictor.prior_ability(_UNKNOWN)

    def use(self, predictor: QualityPredictor) -> None:
        """Switch to a newly loaded predictor (between two requests)."""
        self.predictor = predictor
        self._mappings = weakref.WeakKeyDictionary()
        self._known = list(predictor.models)
        self._unknown_prior = predictor.prior_ability(_UNKNOWN)

    def predict(
        self,
        prompt: str,
        task: str,
        org_id: str,
        rows: NDArray[np.intp],
        catalog: RoutableCatalog,
    ) -> NDArray[np.float64]:
        mapping = self._mappings.get(catalog)
        if mapping is None:
            mapping = _CatalogMapping(self.predictor, catalog)
            self._mappings[catalog] = mapping

        # One evaluation gives the trained models' logits and, through an
        # unseen stand-in, the prompt's shared part for every other model.
        logits = self.predictor.logits(prompt, [*self._known, _UNKNOWN])
        shared = logits[-1] - self._unknown_prior
        columns = mapping.column[rows]
        known = columns >= 0
        values = mapping.prior[rows] + shared
        values[known] = logits[columns[known]]
        quality = np.asarray(expit(values))
        if self.adjustments is not None:
            quality = self.adjustments.adjust(org_id, task, rows, catalog, quality)
        return quality


# (provider, model id) -> (sum of scores, number of scores)
_Scores = dict[tuple[str, str], tuple[float, int]]


class FeedbackAdjustments:
    """Shifts predicted quality toward the scores callers reported.

    For each (task type, model) with feedback, the prediction ``q`` becomes
    the posterior mean of a Beta prior centred on ``q`` with ``strength``
    pseudo-observations, updated with the observed scores:
    ``(strength * q + sum) / (strength + n)``. Refreshed from the store by
    the caller; reads are lock-free dictionary lookups.
    """

    def __init__(self, strength: float = 20.0) -> None:
        self.strength = strength
        # (org, task type) -> {(provider, model id): (score sum, count)}
        self._stats: dict[
            tuple[str, str], dict[tuple[str, str], tuple[float, int]]
        ] = {}

    def replace(self, stats: Mapping[tuple[str, str, str], tuple[float, int]]) -> None:
        """Install fresh (score sum, count) per (org, task type, global model id)."""
        grouped: dict[tuple[str, str], _Scores] = {}
        for (org_id, task, model), values in stats.items():
            provider, _, model_id = model.partition("/")
            grouped.setdefault((org_id, task), {})[(provider, model_id)] = values
        self._stats = grouped  # one assignment: readers see old or new, whole

    def adjust(
        self,
        org_id: str,
        task: str,
        rows: NDArray[np.intp],
        catalog: RoutableCatalog,
        quality: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """``quality`` of ``rows``, shifted for the models that have scores."""
        found = self._stats.get((org_id, task))
        if not found:
            return quality
        position = np.full(len(catalog), -1, dtype=np.intp)
        position[rows] = np.arange(len(rows))
        out = quality.copy()
        for key, (total, count) in found.items():
            row = catalog.row_of.get(key)
            if row is not None and position[row] >= 0:
                i = position[row]
                out[i] = (self.strength * quality[i] + total) / (self.strength + count)
        return out


class ReloadingArtifact:
    """Holds the current predictor and reloads it when its files change.

    It also knows which stored scores the current artifact learned from
    (:meth:`learned_feedback`), for the live feedback shift to leave out.

    Args:
        directory: an artifact directory written by ``megarouter router
            fit``, or None for the artifact shipped in the package.
        on_load: called with each newly loaded predictor.
    """

    def __init__(
        self,
        directory: Path | None,
        on_load: Callable[[QualityPredictor], None],
        interval: float = 5.0,
    ) -> None:
        self._directory = directory
        self._on_load = on_load
        self._interval = interval
        self._stamp: float | None = None
        self._learned: LearnedFeedback | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Watch the artifact's files; a refit is picked up within interval."""
        if self._directory is not None:
            self._task = asyncio.create_task(self._watch(), name="router-artifact")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await asyncio.to_thread(self.reload_if_changed)

    def load(self) -> QualityPredictor:
        """The artifact's predictor now; later changes go to ``on_load``."""
        bundle: RouterBundle
        if self._directory is None:
            bundle = load_default_bundle()
        else:
            self._stamp = _stamp(self._directory)
            bundle = load_bundle(self._directory)
        self._learned = bundle.learned_feedback
        return bundle.predictor

    def learned_feedback(self) -> LearnedFeedback | None:
        """The stored scores the artifact in use learned from; None for none."""
        return self._learned

    def reload_if_changed(self) -> bool:
        """Load the artifact again if its files changed; True if it did."""
        if self._directory is None:
            return False
        stamp = _stamp(self._directory)
        if stamp == self._stamp:
            return False
        try:
            bundle = load_bundle(self._directory)
        except Exception:  # a half-written artifact: keep the old one
            logger.warning(
                "router artifact at %s did not load", self._directory, exc_info=True
            )
            return False
        self._stamp = stamp
        self._on_load(bundle.predictor)
        self._learned = bundle.learned_feedback
        logger.info("loaded router artifact from %s", self._directory)
        return True


def _stamp(directory: Path) -> float:
    files = sorted(directory.glob("quality.*"))
    return max((f.stat().st_mtime_ns for f in files), default=0) + len(files)
