"""What Router.decide reuses between calls, and when it must not.

The router remembers filter results per catalog, request shape, policy and
health state, and health as catalog rows per board change. These tests
change each of those under one long-lived router and check that the next
decision sees the change, exactly as a fresh filter would.
"""

from __future__ import annotations

import pytest

from megarouter.catalog.prices import PriceTable
from megarouter.errors import NotFound, ProviderRateLimited, ProviderServerError
from megarouter.providers.health import HealthBoard
from megarouter.providers.spec import (
    Capabilities,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.decision import (
    Candidate,
    DropReason,
    Requirements,
    RouteDecision,
    RouteRequest,
    RoutingPolicy,
)
from megarouter.routing.filters import FilterMemo, filter_rows
from megarouter.routing.router import RouteContext, Router

CHAT = Capabilities(streaming=True, tools=True, json_mode=True)


def spec(
    name: str, context: int, price: Price | None = Price(100_000, 400_000)
) -> ModelSpec:
    return ModelSpec(
        id=name,
        mode=ModelMode.CHAT,
        context_window=context,
        price=price,
        capabilities=CHAT,
    )


PROVIDERS = [
    ProviderSpec(
        name="alpha",
        family="openai",
        models=(
            spec("small", 8_000),
            spec("big", 200_000, Price(3_000_000, 15_000_000)),
            spec("unsized", 0),
            spec("unpriced", 4_000, None),
        ),
    ),
    ProviderSpec(name="beta", family="openai", models=(spec("small", 32_000),)),
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def catalog(disabled: frozenset[str] = frozenset()) -> RoutableCatalog:
    return RoutableCatalog(
        PriceTable(PROVIDERS).models(),
        lambda provider: True,
        enabled=lambda m: m.global_id not in disabled,
    )


def ask(
    input_tokens: int = 100,
    max_output_tokens: int | None = None,
    allowed: tuple[str, ...] = (),
    model: str = "auto",
) -> RouteRequest:
    return RouteRequest(
        model,
        Requirements(input_tokens=input_tokens, max_output_tokens=max_output_tokens),
        task_type="chat",
        policy=RoutingPolicy(allowed_models=allowed),
    )


def ids(decision: RouteDecision) -> list[str]:
    return [c.global_id for c in decision.candidates]


def reasons(decision: RouteDecision) -> dict[str, DropReason]:
    return {d.model: d.reason for d in decision.dropped}


def latencies(decision: RouteDecision) -> dict[str, float | None]:
    return {c.global_id: c.latency_ms for c in decision.candidates}


def server_error() -> ProviderServerError:
    return ProviderServerError("upstream 500", provider="beta", status=500)


def test_rebuilt_catalog_is_filtered_afresh() -> None:
    router, board = Router(), HealthBoard()
    before = router.decide(ask(), RouteContext(catalog(), board))
    after = router.decide(
        ask(), RouteContext(catalog(frozenset({"beta/small"})), board)
    )
    assert "beta/small" in ids(before)
    assert "beta/small" not in ids(after) and "beta/small" not in reasons(after)
    assert after.considered == before.considered - 1


def test_changed_allowed_models_change_the_candidates() -> None:
    router, context = Router(), RouteContext(catalog(), HealthBoard())
    everything = router.decide(ask(), context)
    only_beta = router.decide(ask(allowed=("beta/*",)), context)
    again = router.decide(ask(), context)
    assert ids(only_beta) == ["beta/small"]
    assert reasons(only_beta)["alpha/small"] is DropReason.NOT_ALLOWED
    assert ids(again) == ids(everything)
    assert DropReason.NOT_ALLOWED not in again.drop_counts()


def test_open_circuit_drops_the_model_until_its_open_time_passes() -> None:
    clock = FakeClock()
    board = HealthBoard(clock, failure_threshold=2, open_seconds=10.0)
    router, context = Router(), RouteContext(catalog(), board)
    assert "beta/small" in ids(router.decide(ask(), context))

    for _ in range(2):
        board.record_failure("beta", "small", server_error())
    opened = router.decide(ask(), context)
    assert reasons(opened)["beta/small"] is DropReason.CIRCUIT_OPEN
    assert "beta/small" not in ids(opened)

    clock.now += 10.0  # half-open: the router may rank it for one probe
    assert "beta/small" in ids(router.decide(ask(), context))
    assert board.available("beta", "small")  # the probe is claimed
    claimed = router.decide(ask(), context)
    assert reasons(claimed)["beta/small"] is DropReason.CIRCUIT_OPEN
    board.release("beta", "small")
    assert "beta/small" in ids(router.decide(ask(), context))


def test_retry_after_cooldown_ends_by_time_alone() -> None:
    clock = FakeClock()
    board = HealthBoard(clock)
    router, context = Router(), RouteContext(catalog(), board)
    limited = ProviderRateLimited("slow down", provider="beta", retry_after=5.0)
    board.record_failure("beta", "small", limited)
    assert "beta/small" not in ids(router.decide(ask(), context))
    clock.now += 4.9
    assert "beta/small" not in ids(router.decide(ask(), context))
    clock.now += 0.1
    assert "beta/small" in ids(router.decide(ask(), context))


def test_new_latency_observations_reach_the_candidates() -> None:
    board = HealthBoard(alpha=1.0)
    router, context = Router(), RouteContext(catalog(), board)
    board.record_success("beta", "small", latency_ms=120.0)
    first = latencies(router.decide(ask(), context))
    board.record_success("beta", "small", latency_ms=480.0)
    second = latencies(router.decide(ask(), context))
    assert first["beta/small"] == 120.0
    assert second["beta/small"] == 480.0
    assert second["alpha/small"] == first["alpha/small"]  # unobserved: the guess


@pytest.mark.parametrize(
    ("input_tokens", "max_output_tokens"),
    [(100, None), (7_999, 1), (8_000, 1), (20_000, None), (40_000, 5_000), (0, 0)],
)
def test_remembered_filters_match_a_fresh_filter_for_any_size(
    input_tokens: int, max_output_tokens: int | None
) -> None:
    memo, routes = FilterMemo(), catalog()
    memo.filter(ask(), routes, ())  # remembered with a small request first
    request = ask(input_tokens, max_output_tokens)
    tokens = input_tokens + (max_output_tokens or 0)

    reused = memo.filter(request, routes, ())
    fresh = filter_rows(request, routes, (), tokens)

    assert reused.rows.tolist() == fresh.rows.tolist()
    assert [(g.reason, g.expand()) for g in reused.dropped] == [
        (g.reason, g.expand()) for g in fresh.dropped
    ]
    assert reused.considered == fresh.considered


@pytest.mark.parametrize("model", ["small", "alpha/big", "unsized"])
@pytest.mark.parametrize("input_tokens", [100, 7_000, 20_000, 300_000])
def test_remembered_named_model_filters_match_a_fresh_filter(
    model: str, input_tokens: int
) -> None:
    memo, routes = FilterMemo(), catalog()
    memo.filter(ask(model=model), routes, ())
    memo.filter(ask(model="auto"), routes, ())  # another key, same catalog
    request = ask(input_tokens, model=model)

    reused = memo.filter(request, routes, ())
    fresh = filter_rows(request, routes, (), input_tokens)

    assert reused.rows.tolist() == fresh.rows.tolist()
    assert [(g.reason, g.expand()) for g in reused.dropped] == [
        (g.reason, g.expand()) for g in fresh.dropped
    ]


def test_unknown_model_name_is_not_found_every_time() -> None:
    memo, routes = FilterMemo(), catalog()
    for _ in range(2):
        with pytest.raises(NotFound):
            memo.filter(ask(model="no-such-model"), routes, ())


def test_context_too_short_is_not_hidden_by_an_earlier_small_request() -> None:
    router, context = Router(), RouteContext(catalog(), HealthBoard())
    router.decide(ask(100), context)
    large = router.decide(ask(20_000), context)
    assert reasons(large)["alpha/small"] is DropReason.CONTEXT_TOO_SHORT
    assert "alpha/unsized" in ids(large)  # no known window: never dropped
    small = router.decide(ask(100), context)
    assert "alpha/small" in ids(small)


def test_remembered_results_cannot_be_changed_by_a_caller() -> None:
    memo, routes = FilterMemo(), catalog()
    result = memo.filter(ask(), routes, ())
    with pytest.raises(ValueError):
        result.rows[0] = 3


def test_candidates_built_in_bulk_equal_constructed_ones() -> None:
    model = catalog().models[0]
    rows = [(model, 0.5, 12, None, 1.5), (model, 0.75, 3, 250.0, -2.0)]
    bulk = Candidate.many(rows)
    one_by_one = tuple(Candidate(*row) for row in rows)
    assert bulk == one_by_one
    assert [repr(c) for c in bulk] == [repr(c) for c in one_by_one]
    with pytest.raises(AttributeError):
        bulk[0].quality = 1.0  # type: ignore[misc]


def test_health_epochs_change_only_when_routing_may_see_a_change() -> None:
    clock = FakeClock()
    board = HealthBoard(clock, failure_threshold=1, open_seconds=10.0)
    quiet = board.routability_epoch()
    board.record_success("beta", "small", latency_ms=100.0)
    assert board.routability_epoch() == quiet  # routable before and after

    latency = board.latency_epoch()
    board.record_success("beta", "small", latency_ms=200.0)
    assert board.latency_epoch() != latency

    board.record_failure("beta", "small", server_error())
    tripped = board.routability_epoch()
    assert tripped != quiet
    clock.now += 9.9
    assert board.routability_epoch() == tripped
    clock.now += 0.1
    assert board.routability_epoch() != tripped  # half-open by time alone
