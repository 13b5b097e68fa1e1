"""Router.decide over a small catalog: filters, reasons, strategies."""

from __future__ import annotations

import pytest

from megarouter.catalog.prices import PriceTable
from megarouter.errors import InvalidArgument, NotFound
from megarouter.providers.spec import (
    Capabilities,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.decision import (
    DropReason,
    Requirements,
    RouteRequest,
    RoutingPolicy,
    Strategy,
)
from megarouter.routing.router import RouteContext, Router

CHAT = Capabilities(streaming=True, tools=True, json_mode=True)


def model(
    name: str,
    price: Price | None,
    *,
    context: int = 100_000,
    caps: Capabilities = CHAT,
    mode: ModelMode = ModelMode.CHAT,
) -> ModelSpec:
    return ModelSpec(
        id=name, mode=mode, context_window=context, price=price, capabilities=caps
    )


PROVIDERS = [
    ProviderSpec(
        name="alpha",
        family="openai",
        models=(
            model("small", Price(100_000, 400_000)),
            model("big", Price(5_000_000, 15_000_000)),
            model("tiny-context", Price(50_000, 50_000), context=1_000),
            model("no-tools", Price(80_000, 80_000), caps=Capabilities(streaming=True)),
            model("unpriced", None),
            model(
                "embed",
                Price(20_000),
                mode=ModelMode.EMBEDDING,
                caps=Capabilities(embeddings=True),
            ),
        ),
    ),
    ProviderSpec(
        name="beta", family="openai", models=(model("small", Price(90_000, 350_000)),)
    ),
    ProviderSpec(
        name="gamma",
        family="openai",
        models=(model("huge", Price(30_000_000, 60_000_000)),),
    ),
]


class Health:
    def __init__(self, down: set[str] | None = None) -> None:
        self.down = down or set()

    def unroutable(self) -> list[tuple[str, str]]:
        return [tuple(name.split("/", 1)) for name in self.down]  # type: ignore[misc]

    def observed_latencies(self) -> dict[tuple[str, str], float]:
        return {("alpha", "small"): 900.0, ("beta", "small"): 200.0}


def context(
    down: set[str] | None = None,
    configured: set[str] | None = None,
    budget: int | None = None,
) -> RouteContext:
    table = PriceTable(PROVIDERS)
    ready = configured if configured is not None else {"alpha", "beta"}
    catalog = RoutableCatalog(table.models(), lambda p: p in ready)
    return RouteContext(catalog, Health(down), budget)


def ask(
    model_name: str = "auto", policy: RoutingPolicy | None = None, **needs: object
) -> RouteRequest:
    return RouteRequest(
        model=model_name,
        requirements=Requirements(**{"input_tokens": 100, **needs}),  # type: ignore[arg-type]
        prompt="Summarise this paragraph.",
        policy=policy or RoutingPolicy(),
    )


def test_auto_considers_only_configured_providers_and_explains_drops() -> None:
    decision = Router().decide(ask(tools=True), context())
    ids = [c.global_id for c in decision.candidates]
    assert "gamma/huge" not in ids  # gamma has no credential
    reasons = {d.model: d.reason for d in decision.dropped}
    assert reasons["alpha/no-tools"] is DropReason.LACKS_CAPABILITY
    assert reasons["alpha/unpriced"] is DropReason.UNPRICED
    assert "alpha/embed" not in reasons and "alpha/embed" not in ids
    assert decision.reason.startswith(ids[0])


def test_context_too_short_is_dropped_with_reason() -> None:
    decision = Router().decide(
        ask(input_tokens=2_000, max_output_tokens=100), context()
    )
    reasons = {d.model: d.reason for d in decision.dropped}
    assert reasons["alpha/tiny-context"] is DropReason.CONTEXT_TOO_SHORT


def test_named_model_resolves_across_providers_cheapest_first() -> None:
    decision = Router().decide(ask("small"), context())
    assert [c.global_id for c in decision.candidates] == ["beta/small", "alpha/small"]
    pinned = Router().decide(ask("alpha/small"), context())
    assert [c.global_id for c in pinned.candidates] == ["alpha/small"]


def test_unknown_model_is_not_found() -> None:
    with pytest.raises(NotFound):
        Router().decide(ask("nope/never"), context())


def test_open_circuit_drops_the_model_and_the_next_provider_serves() -> None:
    decision = Router().decide(ask("small"), context(down={"beta/small"}))
    assert [c.global_id for c in decision.candidates] == ["alpha/small"]
    assert [(d.model, d.reason) for d in decision.dropped] == [
        ("beta/small", DropReason.CIRCUIT_OPEN)
    ]


def test_strategies_rank_by_their_objective() -> None:
    cheap = Router().decide(
        ask(policy=RoutingPolicy(strategy=Strategy.COST_FIRST)), context()
    )
    best = Router().decide(
        ask(policy=RoutingPolicy(strategy=Strategy.QUALITY_FIRST)), context()
    )
    fast = Router().decide(
        ask(policy=RoutingPolicy(strategy=Strategy.LATENCY_FIRST)), context()
    )
    assert cheap.candidates[0].global_id == "alpha/tiny-context"
    assert best.candidates[0].global_id == "alpha/big"
    assert fast.candidates[0].global_id == "beta/small"
    costs = [c.cost_micros for c in cheap.candidates]
    assert costs == sorted(costs)


def test_balanced_willingness_to_pay_moves_the_choice() -> None:
    frugal = RoutingPolicy(strategy=Strategy.BALANCED, willingness_to_pay=10)
    lavish = RoutingPolicy(strategy=Strategy.BALANCED, willingness_to_pay=1e9)
    assert (
        Router().decide(ask(policy=frugal), context()).candidates[0].global_id
        != "alpha/big"
    )
    assert (
        Router().decide(ask(policy=lavish), context()).candidates[0].global_id
        == "alpha/big"
    )


def test_cost_cap_quality_floor_and_budget_drop_with_reasons() -> None:
    policy = RoutingPolicy(max_cost_micros=100, min_quality=0.5)
    decision = Router().decide(ask(policy=policy), context())
    reasons = {d.model: d.reason for d in decision.dropped}
    assert reasons["alpha/big"] is DropReason.ABOVE_COST_CAP
    assert all(c.cost_micros <= 100 for c in decision.candidates)
    detail = {d.model: d.detail for d in decision.dropped}["alpha/big"]
    assert detail.startswith("cost $0.0") and detail.endswith(" > $0.000100")
    assert "est. $0.0000" in decision.reason

    broke = Router().decide(ask(), context(budget=1))
    assert not broke.candidates
    assert {d.reason for d in broke.dropped} >= {DropReason.OVER_BUDGET}


def test_allowed_models_pattern_limits_candidates() -> None:
    policy = RoutingPolicy(allowed_models=("beta/*",))
    decision = Router().decide(ask(policy=policy), context())
    assert [c.global_id for c in decision.candidates] == ["beta/small"]
    assert any(d.reason is DropReason.NOT_ALLOWED for d in decision.dropped)


def test_embedding_requests_see_only_embedding_models() -> None:
    decision = Router().decide(ask(mode=ModelMode.EMBEDDING), context())
    assert [c.global_id for c in decision.candidates] == ["alpha/embed"]
    wrong = Router().decide(ask("alpha/small", mode=ModelMode.EMBEDDING), context())
    assert not wrong.candidates
    assert wrong.dropped[0].reason is DropReason.WRONG_MODE


def test_unknown_task_type_is_invalid_argument() -> None:
    request = RouteRequest("auto", Requirements(), task_type="juggling")
    with pytest.raises(InvalidArgument):
        Router().decide(request, context())
