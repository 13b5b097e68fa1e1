"""Live health of every provider model: circuit breakers and moving averages.

The :class:`HealthBoard` keeps one small record per (provider, model). The
completion path reports every attempt's outcome to it; routing asks it which
candidates may be tried now and reads its latency and error averages to rank
them.

One circuit per (provider, model) moves through three states:

    closed ──(too many provider failures)──> open
    open ──(open_seconds pass)──> half_open
    half_open ──(the one probe succeeds)──> closed
    half_open ──(the probe fails)──> open, for twice as long (up to a cap)

Independently of the circuit, a rate-limit or overload answer that carries
Retry-After puts the model in a cooldown until that moment.

What counts against a provider: a retryable
:class:`~megarouter.errors.ProviderError` (timeouts, connection errors, 5xx,
overload, malformed answers, 429 without Retry-After). A credential the
provider refuses (:class:`~megarouter.errors.ProviderAuthError`) or a model it
does not know (:class:`~megarouter.errors.ProviderNotFound`) will fail every
call until an operator fixes it, so either opens the circuit at once. Errors
caused by the request itself (bad request, context too long, content filter)
and anything that is not a ``ProviderError`` (cancellation, our own deadline)
say nothing about the provider and are ignored.

The board is per process and in memory. Every method is O(1) and runs to
completion without awaiting, so on asyncio's single thread it needs no lock.
Share one board between replicas only through a store built for that.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from megarouter.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderTimeout,
)

logger = logging.getLogger(__name__)

CircuitState = Literal["closed", "open", "half_open"]

MAX_OPEN_SECONDS = 300.0  # the longest a circuit stays open after failed probes
ERROR_RATE_LIMIT = 0.5  # an error-rate average above this opens the circuit


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """What the board knows about one provider model at one moment.

    Attributes:
        state: the circuit's state: "closed", "open" or "half_open".
        latency_ms: moving average of whole-call latency, None until observed.
        ttft_ms: moving average of time to first token, None until observed.
        error_rate: moving average of failures (1) and successes (0).
        consecutive_failures: provider failures since the last success.
        open_until: clock value at which an open circuit turns half-open, or
            None while closed.
        cooldown_until: clock value until which a Retry-After holds the model
            back, or None.
    """

    state: CircuitState
    latency_ms: float | None
    ttft_ms: float | None
    error_rate: float
    consecutive_failures: int
    open_until: float | None
    cooldown_until: float | None


@dataclass(slots=True)
class _Circuit:
    """The mutable record behind one (provider, model)."""

    open_seconds: float
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error_rate: float | None = None
    observations: int = 0  # outcomes counted since the circuit last closed
    consecutive_failures: int = 0
    open_until: float | None = None
    probe_until: float | None = None  # a half-open probe is out until then
    cooldown_until: float | None = None


class HealthBoard:
    """Circuit breakers and latency/error moving averages per provider model.

    Args:
        clock: a monotonic clock in seconds; tests pass a fake one.
        failure_threshold: consecutive provider failures that open a circuit;
            also the number of outcomes the error-rate average needs before
            it alone may open one.
        open_seconds: how long a circuit first stays open. Each failed probe
            doubles it, up to five minutes; a successful probe resets it.
        alpha: weight of the newest sample in every moving average.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        failure_threshold: int = 5,
        open_seconds: float = 30.0,
        alpha: float = 0.2,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if open_seconds <= 0:
            raise ValueError("open_seconds must be positive")
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self._clock = clock
        self._threshold = failure_threshold
        self._open_seconds = open_seconds
        self._max_open_seconds = max(MAX_OPEN_SECONDS, open_seconds)
        self._alpha = alpha
        self._circuits: dict[tuple[str, str], _Circuit] = {}
        # Change counters for readers that derive state from the board.
        self._routability_changes = 0
        self._latency_changes = 0
        self._next_deadline = math.inf  # no routability changes by time before
        self._last_read = -math.inf  # clock at the last routability_epoch()

    def available(self, provider: str, model: str) -> bool:
        """Whether a call to this provider model may be made now.

        In the half-open state this claims the single probe: the first caller
        gets True and must report the outcome (or :meth:`release` the probe);
        others get False until then. An unreported probe expires after
        ``open_seconds``. To look without claiming, use :meth:`snapshot`.

        Args:
            provider: the provider's name.
            model: the provider's model id.

        Returns:
            False while the circuit is open, a probe is out, or a Retry-After
            cooldown runs; True otherwise.
        """
        circuit = self._circuits.get((provider, model))
        if circuit is None:
            return True
        now = self._clock()
        if circuit.cooldown_until is not None and now < circuit.cooldown_until:
            return False
        state = self._state(circuit, now)
        if state == "closed":
            return True
        if state == "open":
            return False

        if circuit.probe_until is not None and now < circuit.probe_until:
            return False
        circuit.probe_until = now + self._open_seconds
        self._routability_changed(circuit.probe_until)
        return True

    def routable(self, provider: str, model: str) -> bool:
        """Whether the router may rank this provider model now, without
        claiming a half-open probe (the attempt claims it with
        :meth:`available`)."""
        circuit = self._circuits.get((provider, model))
        if circuit is None:
            return True
        now = self._clock()
        if circuit.cooldown_until is not None and now < circuit.cooldown_until:
            return False
        state = self._state(circuit, now)
        if state == "open":
            return False
        return state == "closed" or not (
            circuit.probe_until is not None and now < circuit.probe_until
        )

    def unroutable(self) -> list[tuple[str, str]]:
        """Every (provider, model) the router must skip now (see routable)."""
        return [key for key in self._circuits if not self.routable(*key)]

    def observed_latencies(self) -> dict[tuple[str, str], float]:
        """The latency average of every (provider, model) observed so far."""
        return {
            key: circuit.latency_ms
            for key, circuit in self._circuits.items()
            if circuit.latency_ms is not None
        }

    def routability_epoch(self) -> int:
        """A number that changes whenever :meth:`unroutable` may change.

        A reader that derives something from :meth:`unroutable` may keep it
        while this number stays the same. It counts changes made through the
        board and the passing of every deadline (an open circuit's end, a
        cooldown's end, a probe's expiry), so reading it is O(1) except
        right after a deadline, when the next one is looked up.
        """
        now = self._clock()
        if now >= self._next_deadline or now < self._last_read:
            self._routability_changes += 1
            self._next_deadline = self._deadline_after(now)
        self._last_read = now
        return self._routability_changes

    def latency_epoch(self) -> int:
        """A number that changes whenever :meth:`observed_latencies` may."""
        return self._latency_changes

    def latency_ms(self, provider: str, model: str) -> float | None:
        """The moving average of whole-call latency, None until observed."""
        circuit = self._circuits.get((provider, model))
        return None if circuit is None else circuit.latency_ms

    def release(self, provider: str, model: str) -> None:
        """Give back a half-open probe that was claimed but never sent."""
        circuit = self._circuits.get((provider, model))
        if circuit is not None:
            circuit.probe_until = None
            self._routability_changed()

    def record_success(
        self,
        provider: str,
        model: str,
        latency_ms: float,
        ttft_ms: float | None = None,
    ) -> None:
        """Record a call that succeeded; a half-open probe's success closes.

        Args:
            provider: the provider's name.
            model: the provider's model id.
            latency_ms: how long the whole call took.
            ttft_ms: time to the first streamed token, for streaming calls.
        """
        circuit = self._circuit(provider, model)
        circuit.latency_ms = self._average(circuit.latency_ms, latency_ms)
        self._latency_changes += 1
        if ttft_ms is not None:
            circuit.ttft_ms = self._average(circuit.ttft_ms, ttft_ms)
        circuit.error_rate = self._average(circuit.error_rate, 0.0)
        circuit.observations += 1
        circuit.consecutive_failures = 0

        # A call that began before the circuit opened proves little; only a
        # success once the open time is over closes it.
        if self._state(circuit, self._clock()) == "half_open":
            self._close(provider, model, circuit)

    def record_failure(
        self,
        provider: str,
        model: str,
        error: BaseException,
        latency_ms: float = 0.0,
    ) -> None:
        """Record a call that failed; the provider's failures may open.

        Args:
            provider: the provider's name.
            model: the provider's model id.
            error: what the call raised; see the module docstring for which
                errors count against the provider.
            latency_ms: how long the call ran before failing; folded into the
                latency average only for timeouts, whose duration is a lower
                bound on the provider's latency.
        """
        if not isinstance(error, ProviderError):
            return
        needs_operator = isinstance(error, ProviderAuthError | ProviderNotFound)
        if not (error.retryable or needs_operator):
            return

        circuit = self._circuit(provider, model)
        now = self._clock()
        retry_after = error.retry_after
        if retry_after is not None and isinstance(
            error, ProviderRateLimited | ProviderOverloaded
        ):
            # The provider said when to come back: wait that long and no
            # more, rather than also counting the answer towards opening.
            until = now + retry_after
            if circuit.cooldown_until is None or until > circuit.cooldown_until:
                circuit.cooldown_until = until
                self._routability_changed(until)
            return

        if isinstance(error, ProviderTimeout) and latency_ms > 0:
            circuit.latency_ms = self._average(circuit.latency_ms, latency_ms)
            self._latency_changes += 1
        circuit.error_rate = self._average(circuit.error_rate, 1.0)
        circuit.observations += 1
        circuit.consecutive_failures += 1

        state = self._state(circuit, now)
        if (
            needs_operator
            or state == "half_open"
            or (state == "closed" and self._should_open(circuit))
        ):
            self._trip(provider, model, circuit, type(error).__name__)

    def snapshot(self, provider: str, model: str) -> HealthSnapshot:
        """What the board knows about one provider model, without side effects.

        Args:
            provider: the provider's name.
            model: the provider's model id.

        Returns:
            The current snapshot; an unseen model is closed with no averages.
        """
        circuit = self._circuits.get((provider, model))
        if circuit is None:
            circuit = _Circuit(self._open_seconds)
        return self._snapshot(circuit, self._clock())

    def snapshots(self) -> dict[tuple[str, str], HealthSnapshot]:
        """Snapshots of every provider model seen so far, for metrics and admin."""
        now = self._clock()
        return {key: self._snapshot(c, now) for key, c in self._circuits.items()}

    def _circuit(self, provider: str, model: str) -> _Circuit:
        """The record for (provider, model), created on first use."""
        key = (provider, model)
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = _Circuit(self._open_seconds)
        return circuit

    def _average(self, current: float | None, sample: float) -> float:
        """The moving average after ``sample``; the first sample seeds it."""
        if current is None:
            return sample
        return current + self._alpha * (sample - current)

    def _state(self, circuit: _Circuit, now: float) -> CircuitState:
        """The circuit's state at ``now``."""
        if circuit.open_until is None:
            return "closed"
        return "open" if now < circuit.open_until else "half_open"

    def _should_open(self, circuit: _Circuit) -> bool:
        """Whether a closed circuit's record calls for opening it."""
        if circuit.consecutive_failures >= self._threshold:
            return True
        return (
            circuit.observations >= self._threshold
            and circuit.error_rate is not None
            and circuit.error_rate > ERROR_RATE_LIMIT
        )

    def _trip(self, provider: str, model: str, circuit: _Circuit, why: str) -> None:
        """Open the circuit, doubling the open time if a probe just failed."""
        now = self._clock()
        if self._state(circuit, now) == "half_open":
            circuit.open_seconds = min(circuit.open_seconds * 2, self._max_open_seconds)
        elif circuit.open_until is None:
            circuit.open_seconds = self._open_seconds
        circuit.open_until = now + circuit.open_seconds
        circuit.probe_until = None
        self._routability_changed(circuit.open_until)
        logger.warning(
            "circuit open for %s/%s for %.0fs after %s (%d in a row)",
            provider,
            model,
            circuit.open_seconds,
            why,
            circuit.consecutive_failures,
        )

    def _close(self, provider: str, model: str, circuit: _Circuit) -> None:
        """Close the circuit after a good probe and start counting afresh."""
        circuit.open_until = None
        circuit.probe_until = None
        circuit.open_seconds = self._open_seconds
        circuit.observations = 0
        self._routability_changed()
        logger.info(
            "circuit closed for %s/%s after a successful probe", provider, model
        )

    def _routability_changed(self, deadline: float | None = None) -> None:
        """Count a change to what routable() answers, and its new deadline."""
        self._routability_changes += 1
        if deadline is not None and deadline < self._next_deadline:
            self._next_deadline = deadline

    def _deadline_after(self, now: float) -> float:
        """The first moment after ``now`` at which a circuit turns routable
        or unroutable by time alone (infinite when none will)."""
        return min(
            (
                moment
                for circuit in self._circuits.values()
                for moment in (
                    circuit.open_until,
                    circuit.cooldown_until,
                    circuit.probe_until,
                )
                if moment is not None and moment > now
            ),
            default=math.inf,
        )

    def _snapshot(self, circuit: _Circuit, now: float) -> HealthSnapshot:
        """A frozen view of ``circuit`` at ``now``."""
        cooldown = circuit.cooldown_until
        if cooldown is not None and now >= cooldown:
            cooldown = None
        return HealthSnapshot(
            state=self._state(circuit, now),
            latency_ms=circuit.latency_ms,
            ttft_ms=circuit.ttft_ms,
            error_rate=circuit.error_rate or 0.0,
            consecutive_failures=circuit.consecutive_failures,
            open_until=circuit.open_until,
            cooldown_until=cooldown,
        )
