"""Rate limits: requests and tokens per minute, per API key and per team.

A :class:`RateLimit` caps one subject (a key or a team, named by its
resource name) at ``rpm`` requests and ``tpm`` tokens per minute. Before a
call, :meth:`RateLimiter.acquire` charges one request and the call's token
estimate (input tokens plus the most output it may produce) to every limit
that covers the caller, all or nothing; after the call,
:meth:`RateLimiter.settle` corrects the tokens to what was really used.

Every backend counts in the same fixed windows: minute ``w`` covers the
Unix times ``[60 w, 60 w + 60)``. Within a window a backend never admits
more than the limit (settling a call that used more than its estimate can
still push the count over: those tokens were spent). The price of fixed
windows is that a caller may spend a full minute's allowance at the end of
one window and another at the start of the next. A refused call learns how
long until its window ends, when the allowance comes back.

Three backends: :class:`LocalRateLimiter` (this module) for one process,
``RedisRateLimiter`` (:mod:`megarouter.governance.ratelimit_redis`) and
``DatabaseRateLimiter`` (:mod:`megarouter.governance.ratelimit_leases`) for
replicas that share a Redis or a database.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from megarouter.errors import InvalidArgument, QuotaViolation, ResourceExhausted

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
"""Length of a rate-limit window; limits are per minute."""

ScopeKind = Literal["key", "team"]
Clock = Callable[[], float]
"""Seconds since the Unix epoch, like :func:`time.time`."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests and tokens per minute allowed to one key or team.

    Attributes:
        scope_kind: ``"key"`` or ``"team"``.
        scope: the key's or team's resource name, such as
            ``orgs/acme/teams/search``; it names the counters, so it must be
            unique across orgs (ids alone are unique only within an org).
        rpm: requests per minute, or None for no request limit.
        tpm: tokens per minute (input plus output), or None for no limit.
    """

    scope_kind: ScopeKind
    scope: str
    rpm: int | None = None
    tpm: int | None = None

    def __post_init__(self) -> None:
        if self.scope_kind not in ("key", "team"):
            raise InvalidArgument.for_field("scope_kind", "expected key or team")
        if not self.scope:
            raise InvalidArgument.for_field("scope", "must not be empty")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidArgument.for_field(name, "must not be negative")

    @classmethod
    def for_key(
        cls, org_id: str, key_id: str, *, rpm: int | None = None, tpm: int | None = None
    ) -> RateLimit:
        """A limit on one API key of an org."""
        return cls("key", f"orgs/{org_id}/keys/{key_id}", rpm, tpm)

    @classmethod
    def for_team(
        cls,
        org_id: str,
        team_id: str,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
    ) -> RateLimit:
        """A limit on every key of one team of an org, together."""
        return cls("team", f"orgs/{org_id}/teams/{team_id}", rpm, tpm)

    @property
    def subject(self) -> str:
        """The name of this limit's counters and of its quota violations."""
        return self.scope


LimitsFor = Callable[[str, str, str], Sequence[RateLimit]]
"""``limits_for(org_id, team_id, key_id)``: the limits covering a caller."""


@dataclass(slots=True)
class Permit:
    """What an admitted call was charged; hand it back to ``settle``.

    Attributes:
        limits: the limits charged (those with an rpm or a tpm).
        window: the minute the call was charged to.
        tokens: tokens charged so far: the estimate, then the actual.
        backend: which limiter issued it (``"local"``, ``"redis"``,
            ``"database"``, or ``"unlimited"`` when nothing was charged).
    """

    limits: tuple[RateLimit, ...]
    window: int
    tokens: int
    backend: str


class RateLimiter(Protocol):
    """Admits calls within their rate limits; every backend has this shape."""

    async def acquire(
        self, subjects: Sequence[RateLimit], tokens_estimate: int
    ) -> Permit:
        """Charge one request and ``tokens_estimate`` tokens to every subject.

        Args:
            subjects: the limits covering the caller (key and team).
            tokens_estimate: input tokens plus the most output tokens.

        Returns:
            The permit to settle once the call's usage is known.

        Raises:
            ResourceExhausted: a limit has no room left in this window; its
                ``retry_after`` is the seconds until the window ends, or
                None when the call can never fit (more tokens than the tpm).
        """
        ...

    async def settle(self, permit: Permit, actual_tokens: int) -> None:
        """Correct the tokens charged for a call to what it really used."""
        ...


# --- windows and refusals --------------------------------------------------


def window_of(now: float) -> int:
    """The number of the minute window holding Unix time ``now``."""
    return math.floor(now / WINDOW_SECONDS)


def seconds_left(now: float) -> float:
    """Seconds from ``now`` until its window ends: in ``(0, 60]``."""
    return (window_of(now) + 1) * WINDOW_SECONDS - now


def charged(subjects: Sequence[RateLimit]) -> tuple[RateLimit, ...]:
    """The subjects that limit anything, without duplicates, in a stable order."""
    unique = {s.subject: s for s in subjects if s.rpm is not None or s.tpm is not None}
    return tuple(unique[name] for name in sorted(unique))


def check_never_fits(subjects: Sequence[RateLimit], tokens: int) -> None:
    """Refuse for good a call that no window could hold.

    Raises:
        InvalidArgument: ``tokens`` is negative.
        ResourceExhausted: a limit is smaller than one call (no retry_after).
    """
    if tokens < 0:
        raise InvalidArgument.for_field("tokens_estimate", "must not be negative")
    for limit in subjects:
        if limit.tpm is not None and tokens > limit.tpm:
            raise _exhausted(
                limit,
                f"the call needs up to {tokens} tokens, more than the limit of "
                f"{limit.tpm} tokens per minute",
                retry_after=None,
            )
        if limit.rpm == 0:
            raise _exhausted(limit, "no requests are allowed", retry_after=None)


def refusal(
    limit: RateLimit, dimension: Literal["rpm", "tpm"], now: float
) -> ResourceExhausted:
    """The error for a call refused by ``limit`` in the window holding ``now``."""
    if dimension == "rpm":
        what = f"the limit of {limit.rpm} requests per minute is reached"
    else:
        what = f"the limit of {limit.tpm} tokens per minute is reached"
    return _exhausted(limit, what, retry_after=seconds_left(now))


def _exhausted(
    limit: RateLimit, description: str, retry_after: float | None
) -> ResourceExhausted:
    message = f"rate limit of {limit.scope_kind} {limit.scope}: {description}"
    return ResourceExhausted(
        message, [QuotaViolation(limit.subject, description)], retry_after
    )


# --- the gate the completion engine calls -----------------------------------


class RateLimitGate:
    """Looks up the limits covering a caller and charges them.

    Args:
        limiter: the backend that holds the counters.
        limits_for: ``(org_id, team_id, key_id) -> limits``; may be async.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        limits_for: Callable[
            [str, str, str], Sequence[RateLimit] | Awaitable[Sequence[RateLimit]]
        ],
    ) -> None:
        self.limiter = limiter
        self._limits_for = limits_for

    async def acquire(
        self, org_id: str, team_id: str, key_id: str, tokens_estimate: int
    ) -> Permit:
        """Admit one call of a caller, or raise ResourceExhausted.

        Raises:
            ResourceExhausted: a key or team limit has no room left.
        """
        found = self._limits_for(org_id, team_id, key_id)
        limits = found if isinstance(found, Sequence) else await found
        return await self.limiter.acquire(limits, tokens_estimate)

    async def settle(self, permit: Permit, actual_tokens: int) -> None:
        """Correct the call's tokens to what it used."""
        await self.limiter.settle(permit, actual_tokens)


# --- one process -------------------------------------------------------------


class LocalRateLimiter:
    """Counts in this process's memory: exact for a single replica.

    Args:
        clock: Unix time now; tests pass a controllable one.
    """

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._window = -1
        self._used: dict[str, list[int]] = {}  # subject -> [requests, tokens]

    async def acquire(
        self, subjects: Sequence[RateLimit], tokens_estimate: int
    ) -> Permit:
        """Charge the call, all or nothing (see :class:`RateLimiter`)."""
        limits = charged(subjects)
        check_never_fits(limits, tokens_estimate)
        now = self._clock()
        self._roll(window_of(now))

        for limit in limits:
            requests, tokens = self._used.get(limit.subject, (0, 0))
            if limit.rpm is not None and requests + 1 > limit.rpm:
                raise refusal(limit, "rpm", now)
            if limit.tpm is not None and tokens + tokens_estimate > limit.tpm:
                raise refusal(limit, "tpm", now)

        for limit in limits:
            used = self._used.setdefault(limit.subject, [0, 0])
            used[0] += 1
            used[1] += tokens_estimate
        return Permit(limits, self._window, tokens_estimate, "local")

    async def settle(self, permit: Permit, actual_tokens: int) -> None:
        """Correct the call's tokens within its window, if still current."""
        delta = actual_tokens - permit.tokens
        permit.tokens = actual_tokens
        if permit.window != self._window or not delta:
            return
        for limit in permit.limits:
            used = self._used.get(limit.subject)
            if used is not None:
                used[1] = max(0, used[1] + delta)

    def _roll(self, window: int) -> None:
        """Forget the counts of windows that have ended."""
        if window > self._window:
            self._window = window
            self._used.clear()
