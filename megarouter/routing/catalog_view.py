"""The catalog as arrays, so the router filters thousands of models at once.

A :class:`RoutableCatalog` is built from an org's :class:`PriceTable` (list
prices plus the org's overrides and enablement) and rebuilt when those
change; the per-request work is a few vectorised comparisons.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from megarouter.catalog.prices import CatalogModel
from megarouter.providers.spec import ModelMode
from megarouter.routing.decision import Requirements

CAP_STREAMING, CAP_TOOLS, CAP_VISION, CAP_JSON, CAP_EMBEDDINGS = 1, 2, 4, 8, 16
MODES = {ModelMode.CHAT: 0, ModelMode.EMBEDDING: 1}


def prior_quality(model: CatalogModel) -> float:
    """A model's quality from catalog facts alone, 0 to 1.

    The rule: price is the market's estimate of strength. The blended list
    price (3:1 input to output) maps through a logistic curve on its log, so
    $0.1 per million tokens gives about 0.55 and $10 about 0.85. Unpriced
    models get the curve's middle.
    """
    price = model.price
    if price is None:
        return 0.6
    blended = (3 * price.input_per_mtok + price.output_per_mtok) / 4 / 1_000_000
    x = math.log10(max(blended, 0.01))
    return 0.5 + 0.4 / (1 + math.exp(-1.4 * (x + 0.5)))


@dataclass(frozen=True, slots=True)
class Match:
    """Catalog rows an explicit model name resolves to."""

    indices: tuple[int, ...]
    exact: bool  # named as provider/model


class RoutableCatalog:
    """Every model an org may route to, as parallel arrays.

    Args:
        models: the org's catalog models with effective prices.
        configured: provider name -> whether MegaRouter can call it (it has
            a credential, or needs none).
        enabled: whether the org's administrators allow the model.
        quality: a model's prior quality (defaults to :func:`prior_quality`).
    """

    def __init__(
        self,
        models: Iterable[CatalogModel],
        configured: Callable[[str], bool],
        enabled: Callable[[CatalogModel], bool] = lambda model: True,
        quality: Callable[[CatalogModel], float] = prior_quality,
    ) -> None:
        self.models = list(models)
        count = len(self.models)
        self.ids = [m.global_id for m in self.models]
        self.mode = np.empty(count, dtype=np.int8)
        self.caps = np.zeros(count, dtype=np.int16)
        self.context = np.zeros(count, dtype=np.int64)
        self.max_output = np.zeros(count, dtype=np.int64)
        self.in_price = np.full(count, np.nan)
        self.out_price = np.full(count, np.nan)
        self.configured = np.zeros(count, dtype=bool)
        self.enabled = np.zeros(count, dtype=bool)
        self.prior = np.empty(count)
        self._by_global: dict[str, int] = {}
        self.row_of: dict[tuple[str, str], int] = {}
        self._by_name: dict[str, list[int]] = defaultdict(list)

        configured_cache: dict[str, bool] = {}
        for i, model in enumerate(self.models):
            spec, caps = model.spec, model.spec.capabilities
            self.mode[i] = MODES[spec.mode]
            self.caps[i] = (
                CAP_STREAMING * caps.streaming
                | CAP_TOOLS * caps.tools
                | CAP_VISION * caps.vision
                | CAP_JSON * caps.json_mode
                | CAP_EMBEDDINGS * caps.embeddings
            )
            self.context[i] = spec.context_window
            self.max_output[i] = spec.max_output_tokens
            if model.price is not None:
                self.in_price[i] = model.price.input_per_mtok
                self.out_price[i] = model.price.output_per_mtok
            name = model.provider.name
            if name not in configured_cache:
                configured_cache[name] = configured(name)
            self.configured[i] = configured_cache[name]
            self.enabled[i] = enabled(model)
            self.prior[i] = quality(model)
            self._by_global[model.global_id] = i
            self.row_of[(name, spec.id)] = i
            for alias in (spec.id, *spec.aliases):
                self._by_name[alias].append(i)
                self._by_global.setdefault(f"{name}/{alias}", i)

    def __len__(self) -> int:
        return len(self.models)

    def resolve(self, name: str) -> Match:
        """The rows a caller's model name means (empty when none)."""
        exact = self._by_global.get(name)
        if exact is not None:
            return Match((exact,), True)
        return Match(tuple(self._by_name.get(name, ())), False)

    def of_mode(self, mode: ModelMode) -> NDArray[np.intp]:
        return np.flatnonzero(self.mode == MODES[mode])

    @staticmethod
    def wanted_caps(needs: Requirements) -> int:
        """The capability bits a request needs."""
        return (
            CAP_STREAMING * needs.streaming
            | CAP_TOOLS * needs.tools
            | CAP_VISION * needs.vision
            | CAP_JSON * needs.json_mode
        )

    def capability_mask(
        self, rows: NDArray[np.intp], needs: Requirements
    ) -> NDArray[np.bool_]:
        wanted = self.wanted_caps(needs)
        return np.asarray((self.caps[rows] & wanted) == wanted)

    def context_mask(
        self, rows: NDArray[np.intp], needs: Requirements, output_tokens: int
    ) -> NDArray[np.bool_]:
        context = self.context[rows]
        fits = needs.input_tokens + output_tokens <= context
        return np.asarray(fits | (context == 0))  # 0: the catalog does not say
