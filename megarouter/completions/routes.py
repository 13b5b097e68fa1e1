"""From a completion request to a routing decision."""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Protocol

from megarouter.catalog.prices import CatalogModel
from megarouter.completions.requests import (
    CallContext,
    CompletionRequest,
    EmbeddingCall,
    RoutingHints,
)
from megarouter.governance.governor import Governor
from megarouter.providers.health import HealthBoard
from megarouter.providers.spec import ModelMode
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.decision import (
    DropReason,
    Requirements,
    RouteDecision,
    RouteRequest,
    RoutingPolicy,
    Strategy,
)
from megarouter.routing.router import RouteContext, Router


class CatalogSource(Protocol):
    """The routable catalog of an org: its models, prices and providers."""

    async def catalog_for(self, org_id: str) -> RoutableCatalog: ...


class PolicySource(Protocol):
    """Named routing policies and the default that applies to a caller."""

    async def policy_for(self, call: CallContext, name: str) -> RoutingPolicy: ...


class DefaultPolicies:
    """The built-in balanced policy for everyone, until policies are stored."""

    async def policy_for(self, call: CallContext, name: str) -> RoutingPolicy:
        return RoutingPolicy()


def apply_hints(policy: RoutingPolicy, hints: RoutingHints) -> RoutingPolicy:
    """The policy tightened by the request's own hints."""
    changes: dict[str, object] = {}
    if hints.min_quality is not None:
        floor = policy.min_quality or 0.0
        changes["min_quality"] = max(floor, hints.min_quality)
    if hints.max_cost_micros is not None:
        cap = policy.max_cost_micros
        changes["max_cost_micros"] = (
            hints.max_cost_micros if cap is None else min(cap, hints.max_cost_micros)
        )
    if hints.max_latency_ms is not None:
        cap = policy.max_latency_ms
        changes["max_latency_ms"] = (
            hints.max_latency_ms if cap is None else min(cap, hints.max_latency_ms)
        )
    if not changes:
        return policy
    values = {name: getattr(policy, name) for name in policy.__dataclass_fields__}
    values.update(changes)
    return RoutingPolicy(**values)


class RouteResolver:
    """Asks the router, with the caller's catalog, policy and health."""

    def __init__(
        self,
        router: Router,
        catalogs: CatalogSource,
        health: HealthBoard,
        policies: PolicySource | None = None,
        governor: Governor | None = None,
    ) -> None:
        self.router = router
        self._catalogs = catalogs
        self._health = health
        self._policies = policies or DefaultPolicies()
        self._governor = governor

    async def decide(
        self,
        call: CallContext,
        request: CompletionRequest,
        input_tokens: int,
        *,
        stream: bool,
    ) -> RouteDecision:
        policy = await self._policies.policy_for(call, request.routing.policy)
        route_request = RouteRequest(
            model=request.model,
            requirements=Requirements(
                mode=ModelMode.CHAT,
                tools=request.wants_tools,
                vision=request.has_images,
                json_mode=request.wants_json,
                streaming=stream,
                input_tokens=input_tokens,
                max_output_tokens=request.max_tokens,
            ),
            prompt=request.prompt_text(),
            task_type=request.routing.task_type,
            policy=apply_hints(policy, request.routing),
        )
        return await self._decide(call, route_request, request.scenario)

    async def decide_embedding(
        self, call: CallContext, request: EmbeddingCall, input_tokens: int
    ) -> RouteDecision:
        route_request = RouteRequest(
            model=request.model,
            requirements=Requirements(
                mode=ModelMode.EMBEDDING, input_tokens=input_tokens
            ),
        )
        return await self._decide(call, route_request, request.scenario)

    async def _decide(
        self, call: CallContext, request: RouteRequest, scenario: str
    ) -> RouteDecision:
        catalog = await self._catalogs.catalog_for(call.caller.org_id)
        headroom, budget_name = None, ""
        if self._governor is not None:
            outlook = await self._governor.outlook(call.caller, scenario)
            if outlook is not None:
                headroom = outlook.headroom_micros
                budget_name = outlook.limiting_budget
                if outlook.prefer_cheaper:
                    # A budget is running low: the cheapest model that still
                    # meets the quality floor.
                    policy = replace(request.policy, strategy=Strategy.COST_FIRST)
                    request = replace(request, policy=policy)
        context = RouteContext(
            catalog=catalog,
            health=self._health,
            budget_left_micros=headroom,
            org_id=call.caller.org_id,
            budget_name=budget_name,
        )
        decision = self.router.decide(request, context)
        if not decision.candidates and DropReason.OVER_BUDGET in decision.drop_counts():
            # Nothing fits the estimate; the budget book decides exactly at
            # admission (and says whether calls in flight may free room).
            decision = self.router.decide(
                request, replace(context, budget_left_micros=None)
            )
        return decision

    async def available_models(
        self, call: CallContext, mode: ModelMode | None
    ) -> list[CatalogModel]:
        """Models the caller may use: enabled, configured, priced, allowed."""
        catalog = await self._catalogs.catalog_for(call.caller.org_id)
        allowed = (await self._policies.policy_for(call, "")).allowed_models
        usable = []
        for row, model in enumerate(catalog.models):
            if not (catalog.enabled[row] and catalog.configured[row]):
                continue
            if model.price is None or (mode is not None and model.spec.mode != mode):
                continue
            if allowed and not any(
                fnmatch.fnmatchcase(model.global_id, p) for p in allowed
            ):
                continue
            usable.append(model)
        return sorted(usable, key=lambda m: m.global_id)
