"""The attempt loop: try candidates in order until one answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from megarouter.completions.requests import CallContext
from megarouter.errors import (
    AllCandidatesFailed,
    AttemptFailure,
    DeadlineExceeded,
    FailedPrecondition,
    MegaRouterError,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    QuotaViolation,
    ResourceExhausted,
)
from megarouter.governance.usage import Attempt
from megarouter.providers.health import HealthBoard
from megarouter.routing.decision import Candidate, RouteDecision

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEADLINE_MARGIN = 0.05  # seconds kept back to answer before the deadline


async def try_candidates(
    health: HealthBoard,
    call: CallContext,
    decision: RouteDecision,
    attempt: Callable[[Candidate, float | None], Awaitable[T]],
    max_attempts: int,
    *,
    record_success: bool = True,
) -> tuple[Candidate, T, tuple[Attempt, ...]]:
    """Try candidates in order until one answers.

    A retryable failure (timeout, refused connection, 5xx, 429, a
    malformed answer) or a provider-specific one (bad credential, model
    unknown there) moves on to the next candidate; a failure that any
    provider would repeat (a bad request, too long a context, a content
    filter) ends the call. No attempt starts past the caller's deadline.
    """
    attempts: list[Attempt] = []
    tried = decision.candidates[:max_attempts]
    for position, candidate in enumerate(tried):
        remaining = call.remaining()
        if remaining is not None and remaining <= DEADLINE_MARGIN:
            break
        timeout = _attempt_timeout(remaining, more=position + 1 < len(tried))
        model = candidate.model.spec.id
        if not health.available(candidate.provider, model):
            continue  # another call holds its half-open probe, or it cooled
        began = time.monotonic()
        try:
            value = await attempt(candidate, timeout)
        except ProviderError as error:
            elapsed = (time.monotonic() - began) * 1000
            health.record_failure(candidate.provider, model, error, elapsed)
            attempts.append(_failed_attempt(candidate, error, elapsed))
            logger.info(
                "attempt failed request_id=%s model=%s error=%s retryable=%s",
                call.request_id,
                candidate.global_id,
                type(error).__name__,
                error.retryable,
            )
            if not (error.retryable or _provider_specific(error)):
                raise
            continue
        elapsed = (time.monotonic() - began) * 1000
        if record_success:
            health.record_success(candidate.provider, model, elapsed)
        attempts.append(
            Attempt(
                candidate.provider,
                candidate.global_id,
                True,
                latency_ms=round(elapsed, 2),
            )
        )
        return candidate, value, tuple(attempts)

    remaining = call.remaining()
    if remaining is not None and remaining <= DEADLINE_MARGIN:
        raise DeadlineExceeded(
            f"the deadline passed after {len(attempts)} attempts"
            + (f"; last: {attempts[-1].error}" if attempts else "")
        )
    if not attempts:
        raise no_candidate_error(decision)
    raise AllCandidatesFailed(
        f"all {len(attempts)} candidates failed; last: {attempts[-1].error}",
        [
            AttemptFailure(a.provider, a.model, a.error, a.error_kind in _RETRYABLE)
            for a in attempts
        ],
    )


_RETRYABLE = frozenset(
    {
        "ProviderTimeout",
        "ProviderConnectionError",
        "ProviderRateLimited",
        "ProviderOverloaded",
        "ProviderServerError",
        "ProviderResponseError",
    }
)


def _attempt_timeout(remaining: float | None, *, more: bool) -> float | None:
    """How long one attempt may take: all the time left, or half of it when
    another candidate could still answer if this one hangs."""
    if remaining is None:
        return None
    budget = remaining - DEADLINE_MARGIN
    return budget / 2 if more else budget


def _provider_specific(error: ProviderError) -> bool:
    """Failures another provider would not repeat: this one's key or model."""
    return isinstance(error, ProviderAuthError | ProviderNotFound)


def _failed_attempt(
    candidate: Candidate, error: ProviderError, elapsed: float
) -> Attempt:
    return Attempt(
        candidate.provider,
        candidate.global_id,
        False,
        type(error).__name__,
        str(error)[:500],
        round(elapsed, 2),
    )


# What an administrator or caller can do about each way of being dropped.
_REMEDIES = {
    "unpriced": "an admin can price a model: megarouter admin models set-price",
    "not_configured": (
        "an admin can add the provider's credential: megarouter admin "
        "credentials set PROVIDER"
    ),
    "not_allowed": "the routing policy's allowed models exclude them",
    "circuit_open": "their providers are failing; retry shortly",
    "context_too_short": "shorten the prompt or max_tokens",
}


def no_candidate_error(decision: RouteDecision) -> MegaRouterError:
    """The error when the router left nothing to try, saying why."""
    reasons = {reason.value: count for reason, count in decision.drop_counts().items()}
    summary = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none"
    message = (
        f"no model can serve this request ({decision.considered} considered; "
        f"dropped: {summary})"
    )
    if decision.considered == 0:  # only auto gets here: a named model is found
        message += "; no provider this org may use is configured; "
        message += _REMEDIES["not_configured"]
    most_first = sorted(reasons, key=lambda reason: -reasons[reason])
    remedies = [_REMEDIES[reason] for reason in most_first if reason in _REMEDIES]
    if remedies:
        message += "; " + "; ".join(remedies)
    if "over_budget" in reasons:
        subject = decision.limiting_budget or "budget"
        violation = QuotaViolation(
            subject, "no candidate model's estimated cost fits what is left"
        )
        return ResourceExhausted(message, [violation])
    return FailedPrecondition(message)
