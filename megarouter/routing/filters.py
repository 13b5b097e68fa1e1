"""The filters a decision applies before scoring, and their reuse.

Router.decide keeps a model only if it has the request's mode and is
enabled, configured, capable, big enough, priced, allowed by the policy and
healthy. For ``auto`` over thousands of models, every one of these but the
context check depends only on things that change rarely: the catalog, the
request's mode and capabilities, the policy's allowed models and the models
health holds back. :class:`FilterMemo` filters once per such combination and
hands the same read-only result to every later decision (a named model is
part of the key: the same holds for the rows a name resolves to). A catalog rebuilt
after a price, credential or setting change is a new object with an empty
memo; a changed policy or health state is a new key.

The context check depends on each request's token counts. A request that
fits the smallest known context window among the models checked drops
nothing there, so the remembered result is exactly what filtering afresh
would give; any other request is filtered afresh.
"""

from __future__ import annotations

import fnmatch
import math
import weakref
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from megarouter.errors import NotFound
from megarouter.providers.spec import ModelMode
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.decision import (
    AUTO,
    DropGroup,
    DropReason,
    Requirements,
    RouteRequest,
)

MEMO_SIZE = 256  # remembered results per catalog; the oldest go first

_Array = TypeVar("_Array", bound=NDArray[Any])
_K = TypeVar("_K")
_V = TypeVar("_V")
_Check = tuple[DropReason, NDArray[np.bool_], str]
_Key = tuple[str, ModelMode, int, tuple[str, ...], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Filtered:
    """The rows that pass every filter, and what was dropped on the way.

    Attributes:
        rows: the surviving catalog rows (read-only; shared between calls).
        in_price: their input prices, per million tokens (read-only).
        out_price: their output prices, per million tokens (read-only).
        dropped: groups of dropped models, in the order the filters ran.
        considered: how many models were considered in all.
        min_context: the smallest known context window among the models
            the context check looked at; infinite when none is known.
    """

    rows: NDArray[np.intp]
    in_price: NDArray[np.float64]
    out_price: NDArray[np.float64]
    dropped: tuple[DropGroup, ...]
    considered: int
    min_context: float


class FilterMemo:
    """Filters requests, remembering the results per catalog.

    Requests for ``auto`` and requests naming a model are remembered alike:
    a name resolves to a handful of rows, but resolving and filtering them
    afresh still costs more than the rest of a named call's decision.
    """

    def __init__(self) -> None:
        self._results: weakref.WeakKeyDictionary[
            RoutableCatalog, dict[_Key, Filtered]
        ] = weakref.WeakKeyDictionary()
        self._allowed: weakref.WeakKeyDictionary[
            RoutableCatalog, dict[tuple[str, ...], NDArray[np.bool_]]
        ] = weakref.WeakKeyDictionary()

    def filter(
        self,
        request: RouteRequest,
        catalog: RoutableCatalog,
        unhealthy: tuple[int, ...],
    ) -> Filtered:
        """What passes the filters for ``request``.

        Args:
            request: the routing question.
            catalog: the org's routable models.
            unhealthy: catalog rows health holds back now, ascending.

        Raises:
            NotFound: an explicit model name matches nothing in the catalog.
        """
        needs = request.requirements
        tokens = needs.input_tokens + (needs.max_output_tokens or 0)
        allowed = request.policy.allowed_models
        key = (
            request.model,
            needs.mode,
            catalog.wanted_caps(needs),
            allowed,
            unhealthy,
        )
        results = self._results.get(catalog)
        if results is None:
            results = self._results[catalog] = {}
        found = results.get(key)
        if found is None:
            mask = self._allowed_mask(catalog, allowed)
            found = filter_rows(request, catalog, unhealthy, None, mask)
            _remember(results, key, found)
        if tokens <= found.min_context:
            return found
        mask = self._allowed_mask(catalog, allowed)
        return filter_rows(request, catalog, unhealthy, tokens, mask)

    def _allowed_mask(
        self, catalog: RoutableCatalog, allowed: tuple[str, ...]
    ) -> NDArray[np.bool_] | None:
        """Per catalog row, whether ``allowed`` admits it (None: all are)."""
        if not allowed:
            return None
        masks = self._allowed.get(catalog)
        if masks is None:
            masks = self._allowed[catalog] = {}
        mask = masks.get(allowed)
        if mask is None:
            mask = np.array([_admits(allowed, i) for i in catalog.ids], dtype=bool)
            mask.flags.writeable = False
            _remember(masks, allowed, mask)
        return mask


def filter_rows(
    request: RouteRequest,
    catalog: RoutableCatalog,
    unhealthy: tuple[int, ...],
    tokens: int | None,
    allowed_mask: NDArray[np.bool_] | None = None,
) -> Filtered:
    """Run every filter in order; each dropped model counts for the first.

    Args:
        request: the routing question.
        catalog: the org's routable models.
        unhealthy: catalog rows health holds back now.
        tokens: input plus output tokens the context window must hold, or
            None to skip the context check.
        allowed_mask: the policy's allowed models as a per-row mask, or
            None to match the patterns row by row.

    Raises:
        NotFound: an explicit model name matches nothing in the catalog.
    """
    rows, dropped = _targets(request, catalog)
    considered = len(rows) + sum(group.count() for group in dropped)
    needs = request.requirements

    rows = _apply(
        rows,
        [
            (DropReason.NOT_ALLOWED, catalog.enabled[rows], "disabled by an admin"),
            (DropReason.NOT_CONFIGURED, catalog.configured[rows], "no credential"),
            (
                DropReason.LACKS_CAPABILITY,
                catalog.capability_mask(rows, needs),
                needs_text(needs),
            ),
        ],
        catalog,
        dropped,
    )
    windows = catalog.context[rows]
    known = windows[windows > 0]
    min_context = float(known.min()) if len(known) else math.inf

    later: list[_Check] = []
    if tokens is not None:
        passes = catalog.context_mask(rows, needs, needs.max_output_tokens or 0)
        later.append((DropReason.CONTEXT_TOO_SHORT, passes, f"needs {tokens} tokens"))
    in_price = catalog.in_price[rows]
    later.append(
        (DropReason.UNPRICED, ~np.isnan(in_price), "no price; an admin must set one")
    )
    rows = _apply(rows, later, catalog, dropped)
    rows = _drop_not_allowed(
        rows, request.policy.allowed_models, allowed_mask, catalog, dropped
    )
    rows = _drop_unhealthy(rows, unhealthy, catalog, dropped)

    return Filtered(
        rows=_frozen(rows),
        in_price=_frozen(catalog.in_price[rows]),
        out_price=_frozen(catalog.out_price[rows]),
        dropped=tuple(dropped),
        considered=considered,
        min_context=min_context,
    )


def needs_text(needs: Requirements) -> str:
    """The detail for models lacking a capability the request needs."""
    wanted = [
        name
        for name, on in (
            ("streaming", needs.streaming),
            ("tools", needs.tools),
            ("vision", needs.vision),
            ("json", needs.json_mode),
        )
        if on
    ]
    return "lacks " + "/".join(wanted) if wanted else "lacks a capability"


def _targets(
    request: RouteRequest, catalog: RoutableCatalog
) -> tuple[NDArray[np.intp], list[DropGroup]]:
    """The rows the request names (all of its mode for ``auto``)."""
    mode_rows = catalog.of_mode(request.requirements.mode)
    if request.model == AUTO:
        # Unconfigured providers are not candidates for auto, and listing
        # thousands of them would drown the explanation.
        usable = catalog.configured[mode_rows] & catalog.enabled[mode_rows]
        return mode_rows[usable], []
    match = catalog.resolve(request.model)
    if not match.indices:
        raise NotFound(
            f"model {request.model!r} is not in the catalog; "
            "`megarouter models available` lists what your key may use; "
            "or ask for 'auto'"
        )
    rows = np.array(match.indices, dtype=np.intp)
    wanted_mode = catalog.mode[mode_rows[0]] if len(mode_rows) else -1
    wrong = catalog.mode[rows] != wanted_mode
    dropped: list[DropGroup] = []
    if wrong.any():
        detail = f"not a {request.requirements.mode.value} model"
        dropped.append(group(DropReason.WRONG_MODE, catalog, rows[wrong], detail))
    return rows[~wrong], dropped


def _apply(
    rows: NDArray[np.intp],
    checks: list[_Check],
    catalog: RoutableCatalog,
    dropped: list[DropGroup],
) -> NDArray[np.intp]:
    keep = np.ones(len(rows), dtype=bool)
    for reason, passes, detail in checks:
        hit = keep & ~passes
        if hit.any():
            dropped.append(group(reason, catalog, rows[hit], detail))
        keep &= passes
    return np.asarray(rows[keep])


def _drop_not_allowed(
    rows: NDArray[np.intp],
    allowed: tuple[str, ...],
    mask: NDArray[np.bool_] | None,
    catalog: RoutableCatalog,
    dropped: list[DropGroup],
) -> NDArray[np.intp]:
    if not allowed:
        return rows
    if mask is not None:
        keep = mask[rows]
    else:
        keep = np.array([_admits(allowed, catalog.ids[r]) for r in rows], dtype=bool)
    if not keep.all():
        detail = "not in the policy's allowed models"
        dropped.append(group(DropReason.NOT_ALLOWED, catalog, rows[~keep], detail))
    return np.asarray(rows[keep])


def _drop_unhealthy(
    rows: NDArray[np.intp],
    unhealthy: tuple[int, ...],
    catalog: RoutableCatalog,
    dropped: list[DropGroup],
) -> NDArray[np.intp]:
    if not unhealthy:
        return rows
    bad = np.isin(rows, np.array(unhealthy, dtype=np.intp))
    if bad.any():
        detail = "provider failing or cooling down"
        dropped.append(group(DropReason.CIRCUIT_OPEN, catalog, rows[bad], detail))
    return np.asarray(rows[~bad])


def group(
    reason: DropReason,
    catalog: RoutableCatalog,
    rows: NDArray[np.intp],
    detail: str,
) -> DropGroup:
    """Models dropped for one reason with one detail, described lazily."""
    ids = catalog.ids

    def models() -> list[str]:
        return [ids[r] for r in rows]

    def details() -> list[str]:
        return [detail] * len(rows)

    return DropGroup(reason, models, details, len(rows))


def _admits(allowed: tuple[str, ...], global_id: str) -> bool:
    return any(fnmatch.fnmatchcase(global_id, pattern) for pattern in allowed)


def _frozen(values: _Array) -> _Array:
    """``values`` made read-only, as everything a memo hands out must be."""
    values.flags.writeable = False
    return values


def _remember(memo: dict[_K, _V], key: _K, value: _V) -> None:
    if len(memo) >= MEMO_SIZE:
        del memo[next(iter(memo))]
    memo[key] = value
