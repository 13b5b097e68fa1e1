"""HealthBoard: circuit breakers, cooldowns and moving averages, on a fake clock."""

from __future__ import annotations

import pytest

from megarouter.errors import (
    ContentFiltered,
    ContextTooLong,
    DeadlineExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeout,
)
from megarouter.providers.health import HealthBoard

P, M = "acme", "acme-large"


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def board(clock: FakeClock) -> HealthBoard:
    return HealthBoard(clock, failure_threshold=3, open_seconds=10.0, alpha=0.5)


def server_error() -> ProviderServerError:
    return ProviderServerError("upstream 500", provider=P, status=500)


def fail(board: HealthBoard, times: int, error: Exception | None = None) -> None:
    for _ in range(times):
        board.record_failure(P, M, error or server_error(), latency_ms=50.0)


def reopens_at(board: HealthBoard) -> float:
    open_until = board.snapshot(P, M).open_until
    assert open_until is not None
    return open_until


def open_circuit(board: HealthBoard) -> None:
    fail(board, 3)
    assert board.snapshot(P, M).state == "open"


def test_unseen_model_is_available_and_closed(board: HealthBoard) -> None:
    snap = board.snapshot(P, M)

    assert board.available(P, M)
    assert snap.state == "closed"
    assert snap.latency_ms is None
    assert snap.ttft_ms is None
    assert snap.error_rate == 0.0
    assert snap.open_until is None
    assert snap.cooldown_until is None
    assert board.snapshots() == {}


def test_circuit_opens_after_threshold_consecutive_failures(
    board: HealthBoard, clock: FakeClock
) -> None:
    fail(board, 2)
    assert board.available(P, M)
    assert board.snapshot(P, M).state == "closed"

    fail(board, 1)

    snap = board.snapshot(P, M)
    assert not board.available(P, M)
    assert snap.state == "open"
    assert snap.consecutive_failures == 3
    assert snap.open_until == clock.now + 10.0


@pytest.mark.parametrize(
    "error",
    [
        ProviderTimeout("read timed out"),
        ProviderConnectionError("connection refused"),
        ProviderOverloaded("overloaded", status=529),
        ProviderResponseError("not JSON"),
        ProviderRateLimited("slow down", status=429),
    ],
    ids=["timeout", "connection", "overloaded", "malformed", "429-without-retry"],
)
def test_circuit_opens_on_every_retryable_provider_failure(
    board: HealthBoard, error: Exception
) -> None:
    fail(board, 3, error)

    assert board.snapshot(P, M).state == "open"
    assert not board.available(P, M)


def test_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    board = HealthBoard(clock, failure_threshold=3, alpha=0.1)
    for _ in range(5):
        board.record_success(P, M, latency_ms=100.0)
    fail(board, 2)
    board.record_success(P, M, latency_ms=100.0)
    fail(board, 2)

    snap = board.snapshot(P, M)
    assert snap.state == "closed"
    assert snap.consecutive_failures == 2
    assert board.available(P, M)


def test_circuit_opens_when_error_rate_stays_above_half_without_a_run(
    clock: FakeClock,
) -> None:
    board = HealthBoard(clock, failure_threshold=5, open_seconds=10.0, alpha=0.2)

    # fail, ok, fail, ok, fail: never two in a row, but mostly failing
    for index in range(4):
        if index % 2 == 0:
            fail(board, 1)
        else:
            board.record_success(P, M, latency_ms=10.0)
    assert board.snapshot(P, M).state == "closed"
    fail(board, 1)

    snap = board.snapshot(P, M)
    assert snap.consecutive_failures == 1
    assert snap.error_rate == pytest.approx(0.7376)
    assert snap.state == "open"


def test_error_rate_needs_enough_observations_to_open(clock: FakeClock) -> None:
    board = HealthBoard(clock, failure_threshold=5, open_seconds=10.0)

    fail(board, 1)
    board.record_success(P, M, latency_ms=10.0)
    fail(board, 1)

    snap = board.snapshot(P, M)
    assert snap.error_rate > 0.5
    assert snap.state == "closed"


def test_open_circuit_turns_half_open_after_open_seconds(
    board: HealthBoard, clock: FakeClock
) -> None:
    open_circuit(board)

    clock.advance(9.9)
    assert board.snapshot(P, M).state == "open"
    assert not board.available(P, M)

    clock.advance(0.1)
    assert board.snapshot(P, M).state == "half_open"


def test_half_open_lets_exactly_one_probe_through(
    board: HealthBoard, clock: FakeClock
) -> None:
    open_circuit(board)
    clock.advance(10.0)

    assert board.available(P, M)
    assert not board.available(P, M)
    assert not board.available(P, M)
    assert board.snapshot(P, M).state == "half_open"


def test_probe_success_closes_the_circuit(board: HealthBoard, clock: FakeClock) -> None:
    open_circuit(board)
    clock.advance(10.0)
    assert board.available(P, M)

    board.record_success(P, M, latency_ms=80.0)

    snap = board.snapshot(P, M)
    assert snap.state == "closed"
    assert snap.open_until is None
    assert snap.consecutive_failures == 0
    assert board.available(P, M)
    assert board.available(P, M)


def test_probe_failure_reopens_with_doubled_open_time_up_to_a_cap(
    board: HealthBoard, clock: FakeClock
) -> None:
    open_circuit(board)
    waits = []
    for _ in range(8):
        clock.now = reopens_at(board)
        assert board.available(P, M)
        fail(board, 1)
        assert board.snapshot(P, M).state == "open"
        waits.append(reopens_at(board) - clock.now)

    assert waits == [20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0, 300.0]


def test_open_time_resets_after_a_successful_probe(
    board: HealthBoard, clock: FakeClock
) -> None:
    open_circuit(board)
    clock.advance(10.0)
    assert board.available(P, M)
    fail(board, 1)  # probe fails: open for 20 s
    clock.advance(20.0)
    assert board.available(P, M)
    board.record_success(P, M, latency_ms=10.0)

    fail(board, 3)

    assert board.snapshot(P, M).open_until == clock.now + 10.0


def test_unreported_probe_expires_and_another_may_go(
    board: HealthBoard, clock: FakeClock
) -> None:
    open_circuit(board)
    clock.advance(10.0)
    assert board.available(P, M)

    clock.advance(9.0)
    assert not board.available(P, M)
    clock.advance(1.0)
    assert board.available(P, M)


def test_released_probe_lets_the_next_caller_probe(
    board: HealthBoard, clock: FakeClock
) -> None:
    open_circuit(board)
    clock.advance(10.0)
    assert board.available(P, M)

    board.release(P, M)

    assert board.available(P, M)
    assert not board.available(P, M)


def test_late_success_from_before_opening_keeps_the_circuit_open(
    board: HealthBoard,
) -> None:
    open_circuit(board)

    board.record_success(P, M, latency_ms=100.0)

    assert board.snapshot(P, M).state == "open"
    assert not board.available(P, M)


def test_retry_after_cooldown_is_honoured_and_then_lifted(
    board: HealthBoard, clock: FakeClock
) -> None:
    board.record_failure(
        P, M, ProviderRateLimited("slow down", status=429, retry_after=7.0)
    )

    snap = board.snapshot(P, M)
    assert not board.available(P, M)
    assert snap.cooldown_until == clock.now + 7.0
    assert snap.state == "closed"

    clock.advance(6.9)
    assert not board.available(P, M)
    clock.advance(0.1)
    assert board.available(P, M)
    assert board.snapshot(P, M).cooldown_until is None


def test_retry_after_is_not_also_counted_towards_opening(
    board: HealthBoard,
) -> None:
    for _ in range(10):
        board.record_failure(
            P, M, ProviderOverloaded("overloaded", status=529, retry_after=1.0)
        )

    snap = board.snapshot(P, M)
    assert snap.state == "closed"
    assert snap.consecutive_failures == 0
    assert snap.error_rate == 0.0


def test_overlapping_retry_afters_keep_the_latest_end(
    board: HealthBoard, clock: FakeClock
) -> None:
    board.record_failure(P, M, ProviderRateLimited("a", retry_after=30.0))
    board.record_failure(P, M, ProviderRateLimited("b", retry_after=5.0))

    assert board.snapshot(P, M).cooldown_until == clock.now + 30.0


def test_cooldown_holds_one_model_and_not_its_neighbours(board: HealthBoard) -> None:
    board.record_failure(P, M, ProviderRateLimited("slow down", retry_after=5.0))
    fail(board, 3)

    assert not board.available(P, M)
    assert board.available(P, "acme-small")
    assert board.available("other", M)


@pytest.mark.parametrize(
    "error",
    [
        ProviderBadRequest("bad temperature", status=400),
        ContextTooLong("too long", status=400),
        ContentFiltered("filtered", status=400),
        DeadlineExceeded("caller's deadline"),
        ValueError("not a provider error"),
    ],
    ids=["bad-request", "context-too-long", "content-filter", "deadline", "other"],
)
def test_errors_that_are_not_the_providers_fault_do_not_open(
    board: HealthBoard, error: Exception
) -> None:
    fail(board, 20, error)

    snap = board.snapshot(P, M)
    assert snap.state == "closed"
    assert snap.consecutive_failures == 0
    assert snap.error_rate == 0.0
    assert board.available(P, M)


@pytest.mark.parametrize(
    "error",
    [
        ProviderAuthError("Incorrect API key provided", status=401),
        ProviderNotFound("no such model", status=404),
    ],
    ids=["auth", "not-found"],
)
def test_errors_only_an_operator_can_fix_open_at_once(
    board: HealthBoard, clock: FakeClock, error: Exception
) -> None:
    board.record_failure(P, M, error)

    snap = board.snapshot(P, M)
    assert snap.state == "open"
    assert snap.open_until == clock.now + 10.0
    assert not board.available(P, M)


def test_latency_average_moves_towards_new_samples(board: HealthBoard) -> None:
    board.record_success(P, M, latency_ms=100.0, ttft_ms=40.0)
    first = board.snapshot(P, M)
    board.record_success(P, M, latency_ms=300.0)
    board.record_success(P, M, latency_ms=300.0, ttft_ms=20.0)

    last = board.snapshot(P, M)
    assert first.latency_ms == 100.0
    assert first.ttft_ms == 40.0
    assert last.latency_ms == pytest.approx(250.0)  # 100 -> 200 -> 250 at alpha 0.5
    assert last.ttft_ms == pytest.approx(30.0)


def test_error_rate_average_moves_with_outcomes(board: HealthBoard) -> None:
    board.record_success(P, M, latency_ms=10.0)
    fail(board, 1)
    after_failure = board.snapshot(P, M).error_rate
    board.record_success(P, M, latency_ms=10.0)

    assert after_failure == pytest.approx(0.5)
    assert board.snapshot(P, M).error_rate == pytest.approx(0.25)


def test_timeouts_raise_the_latency_average_and_other_failures_do_not(
    board: HealthBoard,
) -> None:
    board.record_success(P, M, latency_ms=100.0)
    board.record_failure(P, M, server_error(), latency_ms=5.0)
    assert board.snapshot(P, M).latency_ms == 100.0

    board.record_failure(P, M, ProviderTimeout("read timed out"), latency_ms=900.0)

    assert board.snapshot(P, M).latency_ms == pytest.approx(500.0)


def test_snapshots_list_every_model_seen(board: HealthBoard) -> None:
    board.record_success(P, M, latency_ms=10.0)
    fail(board, 3)
    board.record_success("other", "small", latency_ms=20.0)

    snaps = board.snapshots()

    assert set(snaps) == {(P, M), ("other", "small")}
    assert snaps[(P, M)].state == "open"
    assert snaps[("other", "small")].latency_ms == 20.0


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        HealthBoard(failure_threshold=0)
    with pytest.raises(ValueError, match="open_seconds"):
        HealthBoard(open_seconds=0)
    with pytest.raises(ValueError, match="alpha"):
        HealthBoard(alpha=1.5)
