"""What an administrator sets on a routing policy, and the checks it must pass.

A :class:`PolicySpec` is the stored form of a
:class:`~megarouter.routing.decision.RoutingPolicy`: money in integer
micro-dollars, and a description. Field names are those of the Admin API's
``RoutingPolicy`` message, so update masks name them directly.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from megarouter.errors import FieldViolation, InvalidArgument
from megarouter.routing.decision import RoutingPolicy, Strategy
from megarouter.store.policy_tables import RoutingPolicyRow

FIELD_PREFIX = "routing_policy."
DEFAULT_WILLINGNESS_MICROS = 20_000  # the built-in default's, as an integer
MAX_ATTEMPTS = 10
MAX_ALLOWED_MODELS = 100
MAX_PATTERN_LENGTH = 320
MAX_DESCRIPTION = 2000
# provider/model in printable ASCII, where either part may hold fnmatch
# wildcards (* ? [...]).
_PATTERN = re.compile(r"[A-Za-z0-9*?\[\]._-]+/[!-~]+")


def policy_name(org_id: str, policy_id: str) -> str:
    return f"orgs/{org_id}/routingPolicies/{policy_id}"


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A routing policy's settings, as stored and as the API sets them.

    Attributes:
        description: what the policy is for.
        strategy: how candidates are ranked.
        min_quality: the quality floor, 0 to 1, or None.
        max_cost_micros: the cost cap per call, or None.
        max_latency_ms: the latency cap, or None.
        willingness_to_pay_micros: for ``balanced``, micro-dollars per call
            one point of quality is worth.
        allowed_models: global model ids or ``provider/*`` patterns; empty
            allows every model.
        max_attempts: how many candidates one call may try.
    """

    description: str = ""
    strategy: Strategy = Strategy.BALANCED
    min_quality: float | None = None
    max_cost_micros: int | None = None
    max_latency_ms: int | None = None
    willingness_to_pay_micros: int = DEFAULT_WILLINGNESS_MICROS
    allowed_models: tuple[str, ...] = ()
    max_attempts: int = RoutingPolicy().max_attempts

    @classmethod
    def of_row(cls, row: RoutingPolicyRow) -> PolicySpec:
        return cls(
            description=row.description,
            strategy=Strategy(row.strategy),
            min_quality=row.min_quality,
            max_cost_micros=row.max_cost_micros,
            max_latency_ms=row.max_latency_ms,
            willingness_to_pay_micros=row.willingness_to_pay_micros,
            allowed_models=tuple(json.loads(row.allowed_models)),
            max_attempts=row.max_attempts,
        )

    def routing_policy(self, name: str) -> RoutingPolicy:
        """The policy the router applies, named ``name``."""
        return RoutingPolicy(
            name=name,
            strategy=self.strategy,
            min_quality=self.min_quality,
            max_cost_micros=self.max_cost_micros,
            max_latency_ms=self.max_latency_ms,
            willingness_to_pay=float(self.willingness_to_pay_micros),
            allowed_models=self.allowed_models,
            max_attempts=self.max_attempts,
        )


def spec_values(spec: PolicySpec) -> dict[str, Any]:
    """The row columns that hold ``spec``."""
    return {
        "description": spec.description,
        "strategy": spec.strategy.value,
        "min_quality": spec.min_quality,
        "max_cost_micros": spec.max_cost_micros,
        "max_latency_ms": spec.max_latency_ms,
        "willingness_to_pay_micros": spec.willingness_to_pay_micros,
        "allowed_models": json.dumps(list(spec.allowed_models)),
        "max_attempts": spec.max_attempts,
    }


def check_spec(spec: PolicySpec) -> None:
    """Check every setting at once.

    Raises:
        InvalidArgument: with one field violation per bad setting, on
            ``routing_policy.<field>``.
    """
    problems: list[tuple[str, str]] = []
    if len(spec.description) > MAX_DESCRIPTION or "\x00" in spec.description:
        problems.append(
            ("description", f"must be at most {MAX_DESCRIPTION} characters, no NUL")
        )
    quality = spec.min_quality
    if quality is not None and not (math.isfinite(quality) and 0 <= quality <= 1):
        problems.append(("min_quality", "must be between 0 and 1"))
    for field in ("max_cost_micros", "max_latency_ms", "willingness_to_pay_micros"):
        value = getattr(spec, field)
        if value is not None and value <= 0:
            problems.append((field, "must be more than 0"))
    if not 1 <= spec.max_attempts <= MAX_ATTEMPTS:
        problems.append(("max_attempts", f"must be 1 to {MAX_ATTEMPTS}"))
    problems.extend(_pattern_problems(spec.allowed_models))
    if problems:
        violations = [FieldViolation(FIELD_PREFIX + f, d) for f, d in problems]
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        raise InvalidArgument(f"invalid routing policy: {summary}", violations)


def _pattern_problems(patterns: tuple[str, ...]) -> list[tuple[str, str]]:
    if len(patterns) > MAX_ALLOWED_MODELS:
        return [("allowed_models", f"must hold at most {MAX_ALLOWED_MODELS} models")]
    problems = []
    for index, pattern in enumerate(patterns):
        if not pattern.strip():
            problems.append((f"allowed_models[{index}]", "must not be empty"))
        elif len(pattern) > MAX_PATTERN_LENGTH or not _PATTERN.fullmatch(pattern):
            problems.append(
                (
                    f"allowed_models[{index}]",
                    f"expected PROVIDER/MODEL or PROVIDER/*, got {pattern[:100]!r}",
                )
            )
    if len(set(patterns)) != len(patterns):
        problems.append(("allowed_models", "must not repeat a model"))
    return problems
