"""What the router is asked and what it answers, in MegaRouter's own types."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, cast

from megarouter.catalog.prices import CatalogModel
from megarouter.providers.spec import ModelMode

AUTO = "auto"


class Strategy(enum.StrEnum):
    """How candidates that pass every filter are ranked.

    ``cost_first``: the cheapest candidate whose predicted quality meets the
    floor. ``quality_first``: the best predicted quality within the cost cap.
    ``balanced``: the best ``quality - cost / willingness_to_pay``, where
    willingness to pay is the micro-dollars one whole point of quality is
    worth. ``latency_first``: the lowest expected latency.
    """

    COST_FIRST = "cost_first"
    QUALITY_FIRST = "quality_first"
    BALANCED = "balanced"
    LATENCY_FIRST = "latency_first"


class DropReason(enum.StrEnum):
    NOT_ALLOWED = "not_allowed"
    WRONG_MODE = "wrong_mode"
    LACKS_CAPABILITY = "lacks_capability"
    CONTEXT_TOO_SHORT = "context_too_short"
    UNPRICED = "unpriced"
    NOT_CONFIGURED = "not_configured"
    CIRCUIT_OPEN = "circuit_open"
    OVER_BUDGET = "over_budget"
    BELOW_QUALITY_FLOOR = "below_quality_floor"
    ABOVE_COST_CAP = "above_cost_cap"
    ABOVE_LATENCY_CAP = "above_latency_cap"


@dataclass(frozen=True, slots=True)
class Requirements:
    """What a model must offer to serve the request."""

    mode: ModelMode = ModelMode.CHAT
    tools: bool = False
    vision: bool = False
    json_mode: bool = False
    streaming: bool = False
    input_tokens: int = 0
    max_output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """A caller's quality, cost and latency policy.

    Attributes:
        name: the policy's name ("" for the built-in default).
        strategy: how to rank candidates.
        min_quality: drop candidates predicted below this (0 to 1).
        max_cost_micros: drop candidates estimated above this per call.
        max_latency_ms: drop candidates whose expected latency is above this.
        willingness_to_pay: for ``balanced``, micro-dollars per call one
            point of quality (0 to 1) is worth.
        allowed_models: if not empty, only these catalog ids or
            ``provider/*`` patterns may be used.
        max_attempts: how many candidates a call may try.
    """

    name: str = ""
    strategy: Strategy = Strategy.BALANCED
    min_quality: float | None = None
    max_cost_micros: int | None = None
    max_latency_ms: int | None = None
    willingness_to_pay: float = 20_000.0
    allowed_models: tuple[str, ...] = ()
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """One routing question.

    Attributes:
        model: ``auto``, a catalog id, a model id or an alias.
        requirements: capabilities and sizes the model must fit.
        prompt: the text the task classifier and quality predictor read.
        task_type: a caller-given task type, or "" to classify.
        policy: the policy to apply (named policy merged with hints).
    """

    model: str
    requirements: Requirements
    prompt: str = ""
    task_type: str = ""
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model that passed every filter, with what the router expects of it."""

    model: CatalogModel
    quality: float
    cost_micros: int
    latency_ms: float | None
    score: float

    @property
    def global_id(self) -> str:
        return self.model.global_id

    @property
    def provider(self) -> str:
        return self.model.provider.name

    @classmethod
    def many(
        cls, rows: Iterable[tuple[CatalogModel, float, int, float | None, float]]
    ) -> tuple[Candidate, ...]:
        """Candidates from (model, quality, cost, latency, score) rows.

        The same objects the constructor makes, built for the router's hot
        path: a frozen dataclass's ``__init__`` sets each field through
        ``object.__setattr__``, which doubles the cost of the candidates
        every decision builds; this sets the slots directly.
        """
        new = object.__new__
        model, quality, cost, latency, score = _CANDIDATE_SLOTS
        built = []
        for row in rows:
            candidate = new(cls)
            model(candidate, row[0])
            quality(candidate, row[1])
            cost(candidate, row[2])
            latency(candidate, row[3])
            score(candidate, row[4])
            built.append(candidate)
        return tuple(built)


_SlotSetter = Callable[[Candidate, Any], None]
_CANDIDATE_SLOTS: tuple[_SlotSetter, ...] = tuple(
    cast(_SlotSetter, getattr(Candidate, name).__set__)
    for name in (f.name for f in fields(Candidate))
)


@dataclass(frozen=True, slots=True)
class Dropped:
    model: str
    reason: DropReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DropGroup:
    """Models dropped for one reason, described only when someone asks.

    Building one :class:`Dropped` per model on every call would cost more
    than the whole decision; Route asks for them, Complete rarely does.
    ``size``, when given, is how many models ``models`` returns, so counting
    them needs no list.
    """

    reason: DropReason
    models: Callable[[], Sequence[str]]
    details: Callable[[], Sequence[str]]
    size: int | None = None

    def count(self) -> int:
        return len(self.models()) if self.size is None else self.size

    def expand(self) -> list[Dropped]:
        return [
            Dropped(model, self.reason, detail)
            for model, detail in zip(self.models(), self.details(), strict=True)
        ]


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The ranked candidates, what was dropped and why, and a summary.

    Attributes:
        task_type: the task type used.
        strategy: the strategy that ranked the candidates.
        candidates: best first; a call tries them in this order.
        drop_groups: every model considered and dropped, grouped by reason;
            :attr:`dropped` lists them one by one.
        considered: how many models were considered in all.
        reason: one line explaining the first choice.
        max_attempts: how many of the candidates a call may try (the
            policy's).
    """

    task_type: str
    strategy: Strategy
    candidates: tuple[Candidate, ...]
    drop_groups: tuple[DropGroup, ...]
    considered: int
    reason: str
    policy: str = ""
    max_attempts: int = 3  # RoutingPolicy().max_attempts
    limiting_budget: str = ""  # the budget behind over_budget drops

    @property
    def dropped(self) -> tuple[Dropped, ...]:
        return tuple(d for group in self.drop_groups for d in group.expand())

    def drop_counts(self) -> dict[DropReason, int]:
        counts: dict[DropReason, int] = {}
        for group in self.drop_groups:
            counts[group.reason] = counts.get(group.reason, 0) + group.count()
        return counts
