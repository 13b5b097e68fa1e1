"""AdminService's budget calls: protobuf in and out.

Resource names: ``orgs/{org}/budgets/{budget}``. Amounts are integer
micro-dollars on the wire as in the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from grpc import aio

from megarouter.auth.caller import Caller
from megarouter.auth.interceptor import current_caller
from megarouter.errors import InvalidArgument, NotFound
from megarouter.governance.analytics import Analytics
from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budget_model import Budget, BudgetStatus, ScopeKind
from megarouter.governance.budget_periods import Period
from megarouter.governance.budgets import BudgetBook
from megarouter.governance.ratelimit_store import RateLimitStore
from megarouter.services.admin_convert import timestamp
from megarouter.tenancy import names
from megarouter.v1 import governance_pb2 as gov

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"

SCOPE_TO_PB = {
    ScopeKind.ORG: gov.BUDGET_SCOPE_KIND_ORG,
    ScopeKind.TEAM: gov.BUDGET_SCOPE_KIND_TEAM,
    ScopeKind.PRINCIPAL: gov.BUDGET_SCOPE_KIND_PRINCIPAL,
    ScopeKind.KEY: gov.BUDGET_SCOPE_KIND_KEY,
    ScopeKind.SCENARIO: gov.BUDGET_SCOPE_KIND_SCENARIO,
}
SCOPE_FROM_PB = {value: key for key, value in SCOPE_TO_PB.items()}
PERIOD_TO_PB = {
    Period.DAILY: gov.BUDGET_PERIOD_DAILY,
    Period.WEEKLY: gov.BUDGET_PERIOD_WEEKLY,
    Period.MONTHLY: gov.BUDGET_PERIOD_MONTHLY,
    Period.LIFETIME: gov.BUDGET_PERIOD_LIFETIME,
}
PERIOD_FROM_PB = {value: key for key, value in PERIOD_TO_PB.items()}
HARD_FROM_PB = {gov.BUDGET_ENFORCEMENT_HARD: True, gov.BUDGET_ENFORCEMENT_SOFT: False}
# Update mask paths that the domain calls by another name.
_FIELD_OF_PATH = {"enforcement": "hard"}


@dataclass(frozen=True, slots=True)
class Governance:
    """What the budget, rate-limit and report calls work on."""

    budgets: BudgetAdmin
    book: BudgetBook
    ratelimits: RateLimitStore
    analytics: Analytics


def visible_org(caller: Caller, org_id: str) -> str:
    """``org_id`` if the caller may act in it, else NOT_FOUND (never leaked)."""
    if not caller.can_see_org(org_id):
        raise NotFound(f"orgs/{org_id} not found")
    return org_id


def parse_budget(name: str, field: str) -> tuple[str, str]:
    """``(org, budget)`` from ``orgs/{org}/budgets/{budget}``."""
    org_id, budget_id = names.parse(name, field, "orgs", "budgets")
    return visible_org(current_caller(), org_id), budget_id


def budget_message(budget: Budget) -> gov.Budget:
    message = gov.Budget(
        name=budget.name,
        scope_kind=SCOPE_TO_PB[budget.scope_kind],
        scope_value=budget.scope_value,
        period=PERIOD_TO_PB[budget.period],
        limit_micros=budget.limit_micros,
        enforcement=(
            gov.BUDGET_ENFORCEMENT_HARD if budget.hard else gov.BUDGET_ENFORCEMENT_SOFT
        ),
        display_name=budget.display_name,
        etag=budget.etag,
    )
    if budget.prefer_cheaper_below_micros is not None:
        message.prefer_cheaper_below_micros = budget.prefer_cheaper_below_micros
    if budget.create_time is not None:
        message.create_time.CopyFrom(timestamp(budget.create_time))
    if budget.update_time is not None:
        message.update_time.CopyFrom(timestamp(budget.update_time))
    return message


def status_message(status: BudgetStatus) -> gov.BudgetStatus:
    message = gov.BudgetStatus(
        budget=status.budget.name,
        limit_micros=status.budget.limit_micros,
        spent_micros=status.spent_micros,
        leased_micros=status.leased_micros,
        remaining_micros=status.remaining_micros,
        written_off_micros=status.written_off_micros,
        window_start_time=timestamp(status.window.start),
    )
    if status.window.end is not None:
        message.window_end_time.CopyFrom(timestamp(status.window.end))
    return message


def budget_from_message(org_id: str, budget_id: str, message: gov.Budget) -> Budget:
    """The budget a Create request describes.

    Raises:
        InvalidArgument: the scope kind or period is missing or unknown.
    """
    if message.scope_kind not in SCOPE_FROM_PB:
        raise InvalidArgument.for_field("budget.scope_kind", "is required")
    if message.period not in PERIOD_FROM_PB:
        raise InvalidArgument.for_field("budget.period", "is required")
    return Budget(
        org_id=org_id,
        id=budget_id,
        scope_kind=SCOPE_FROM_PB[message.scope_kind],
        scope_value=message.scope_value,
        period=PERIOD_FROM_PB[message.period],
        limit_micros=message.limit_micros,
        hard=HARD_FROM_PB.get(message.enforcement, True),
        prefer_cheaper_below_micros=(
            message.prefer_cheaper_below_micros
            if message.HasField("prefer_cheaper_below_micros")
            else None
        ),
        display_name=message.display_name,
    )


def budget_changes(message: gov.Budget, paths: list[str]) -> dict[str, Any]:
    """The domain's changes for an Update request's mask.

    Raises:
        InvalidArgument: an empty mask, or enforcement left unspecified.
    """
    if not paths:
        raise InvalidArgument.for_field("update_mask", "names no field to update")
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "enforcement":
            if message.enforcement not in HARD_FROM_PB:
                raise InvalidArgument.for_field(
                    "budget.enforcement", "must be HARD or SOFT"
                )
            value: Any = HARD_FROM_PB[message.enforcement]
        elif path == "prefer_cheaper_below_micros":
            has = message.HasField("prefer_cheaper_below_micros")
            value = message.prefer_cheaper_below_micros if has else None
        else:
            value = getattr(message, path, None)
        changes[_FIELD_OF_PATH.get(path, path)] = value
    return changes


class BudgetAdminMixin:
    """The budget calls of AdminService; mixed into ``AdminServicer``,
    which sets ``self._governance``."""

    _governance: Governance

    async def CreateBudget(
        self, request: gov.CreateBudgetRequest, context: Context
    ) -> gov.CreateBudgetResponse:
        caller = current_caller()
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        visible_org(caller, org_id)
        budget = budget_from_message(org_id, request.budget_id, request.budget)
        created = await self._governance.budgets.create(budget, actor=caller)
        return gov.CreateBudgetResponse(budget=budget_message(created))

    async def GetBudget(
        self, request: gov.GetBudgetRequest, context: Context
    ) -> gov.GetBudgetResponse:
        org_id, budget_id = parse_budget(request.name, "name")
        budget = await self._governance.budgets.get(org_id, budget_id)
        return gov.GetBudgetResponse(budget=budget_message(budget))

    async def ListBudgets(
        self, request: gov.ListBudgetsRequest, context: Context
    ) -> gov.ListBudgetsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        visible_org(current_caller(), org_id)
        budgets, token = await self._governance.budgets.list(
            org_id, request.page_size, request.page_token
        )
        return gov.ListBudgetsResponse(
            budgets=[budget_message(b) for b in budgets], next_page_token=token
        )

    async def UpdateBudget(
        self, request: gov.UpdateBudgetRequest, context: Context
    ) -> gov.UpdateBudgetResponse:
        org_id, budget_id = parse_budget(request.budget.name, "budget.name")
        changes = budget_changes(request.budget, list(request.update_mask.paths))
        budget = await self._governance.budgets.update(
            org_id,
            budget_id,
            changes,
            request.budget.etag,
            actor=current_caller(),
        )
        return gov.UpdateBudgetResponse(budget=budget_message(budget))

    async def DeleteBudget(
        self, request: gov.DeleteBudgetRequest, context: Context
    ) -> gov.DeleteBudgetResponse:
        org_id, budget_id = parse_budget(request.name, "name")
        await self._governance.budgets.delete(
            org_id, budget_id, request.etag, actor=current_caller()
        )
        return gov.DeleteBudgetResponse()

    async def GetBudgetStatus(
        self, request: gov.GetBudgetStatusRequest, context: Context
    ) -> gov.GetBudgetStatusResponse:
        org_id, budget_id = parse_budget(request.name, "name")
        status = await self._governance.book.status(org_id, budget_id)
        return gov.GetBudgetStatusResponse(status=status_message(status))
