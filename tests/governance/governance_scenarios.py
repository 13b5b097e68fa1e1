"""Role-matrix scenarios for budgets, rate limits and usage reports.

``tests/admin/test_rbac_matrix.py`` runs each as every built-in role:

- budgets (``budgets:*``): org_admin and billing;
- rate limits: org_admin changes them (``ratelimits:update``); team_admin,
  viewer and billing read them (``ratelimits:list``);
- usage reports (``usage:read``): org_admin, billing and team_admin, whose
  reports are limited to its own team (here ``red``, whose budget's burn
  it may read).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from megarouter.v1 import governance_pb2 as gov
from tests.admin.support import Admin

ORG = "orgs/default"
RED = "orgs/default/teams/red"
BUDGET_ROLES = {"platform_admin", "org_admin", "billing"}
LIMIT_WRITERS = {"platform_admin", "org_admin"}
LIMIT_READERS = LIMIT_WRITERS | {"team_admin", "viewer", "billing"}
REPORT_READERS = {"platform_admin", "org_admin", "billing", "team_admin"}

_serial = itertools.count()


def fresh(prefix: str) -> str:
    return f"{prefix}-g{next(_serial)}"


def stamp(when: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(when)
    return result


def scope() -> gov.ReportScope:
    return gov.ReportScope(
        parent=ORG,
        start_time=stamp(datetime(2026, 1, 1, tzinfo=UTC)),
        end_time=stamp(datetime(2027, 1, 1, tzinfo=UTC)),
    )


async def budget(admin: Admin, team: str = "red") -> gov.Budget:
    response = await admin.CreateBudget(
        gov.CreateBudgetRequest(
            parent=ORG,
            budget_id=fresh("b"),
            budget=gov.Budget(
                scope_kind=gov.BUDGET_SCOPE_KIND_TEAM,
                scope_value=team,
                period=gov.BUDGET_PERIOD_MONTHLY,
                limit_micros=5_000_000,
            ),
        )
    )
    return response.budget


async def rate_limit(admin: Admin) -> gov.RateLimit:
    team = await admin.team("default", fresh("rl"))
    response = await admin.CreateRateLimit(
        gov.CreateRateLimitRequest(
            parent=ORG,
            rate_limit_id=fresh("l"),
            rate_limit=gov.RateLimit(target=team.name, requests_per_minute=60),
        )
    )
    return response.rate_limit


async def s_create_budget(admin: Admin) -> tuple[str, Any]:
    request = gov.CreateBudgetRequest(
        parent=ORG,
        budget_id=fresh("b"),
        budget=gov.Budget(
            scope_kind=gov.BUDGET_SCOPE_KIND_ORG,
            period=gov.BUDGET_PERIOD_DAILY,
            limit_micros=1_000_000,
        ),
    )
    return "CreateBudget", request


async def s_get_budget(admin: Admin) -> tuple[str, Any]:
    return "GetBudget", gov.GetBudgetRequest(name=(await budget(admin)).name)


async def s_list_budgets(admin: Admin) -> tuple[str, Any]:
    return "ListBudgets", gov.ListBudgetsRequest(parent=ORG)


async def s_update_budget(admin: Admin) -> tuple[str, Any]:
    current = await budget(admin)
    current.limit_micros = 7_000_000
    mask = field_mask_pb2.FieldMask(paths=["limit_micros"])
    return "UpdateBudget", gov.UpdateBudgetRequest(budget=current, update_mask=mask)


async def s_delete_budget(admin: Admin) -> tuple[str, Any]:
    return "DeleteBudget", gov.DeleteBudgetRequest(name=(await budget(admin)).name)


async def s_get_budget_status(admin: Admin) -> tuple[str, Any]:
    name = (await budget(admin)).name
    return "GetBudgetStatus", gov.GetBudgetStatusRequest(name=name)


async def s_create_rate_limit(admin: Admin) -> tuple[str, Any]:
    team = await admin.team("default", fresh("rl"))
    request = gov.CreateRateLimitRequest(
        parent=ORG,
        rate_limit_id=fresh("l"),
        rate_limit=gov.RateLimit(target=team.name, tokens_per_minute=10_000),
    )
    return "CreateRateLimit", request


async def s_get_rate_limit(admin: Admin) -> tuple[str, Any]:
    name = (await rate_limit(admin)).name
    return "GetRateLimit", gov.GetRateLimitRequest(name=name)


async def s_list_rate_limits(admin: Admin) -> tuple[str, Any]:
    return "ListRateLimits", gov.ListRateLimitsRequest(parent=ORG)


async def s_update_rate_limit(admin: Admin) -> tuple[str, Any]:
    current = await rate_limit(admin)
    current.requests_per_minute = 120
    mask = field_mask_pb2.FieldMask(paths=["requests_per_minute"])
    request = gov.UpdateRateLimitRequest(rate_limit=current, update_mask=mask)
    return "UpdateRateLimit", request


async def s_delete_rate_limit(admin: Admin) -> tuple[str, Any]:
    name = (await rate_limit(admin)).name
    return "DeleteRateLimit", gov.DeleteRateLimitRequest(name=name)


async def s_get_usage_report(admin: Admin) -> tuple[str, Any]:
    request = gov.GetUsageReportRequest(
        scope=scope(), group_by=[gov.USAGE_DIMENSION_TEAM]
    )
    return "GetUsageReport", request


async def s_get_top_consumers(admin: Admin) -> tuple[str, Any]:
    return "GetTopConsumers", gov.GetTopConsumersRequest(scope=scope())


async def s_get_budget_burn(admin: Admin) -> tuple[str, Any]:
    name = (await budget(admin, team="red")).name
    return "GetBudgetBurn", gov.GetBudgetBurnRequest(name=name)


async def s_get_waste_report(admin: Admin) -> tuple[str, Any]:
    return "GetWasteReport", gov.GetWasteReportRequest(scope=scope())


async def s_get_scenario_value(admin: Admin) -> tuple[str, Any]:
    return "GetScenarioValue", gov.GetScenarioValueRequest(scope=scope())


GOVERNANCE_MATRIX = {
    s_create_budget: BUDGET_ROLES,
    s_get_budget: BUDGET_ROLES,
    s_list_budgets: BUDGET_ROLES,
    s_update_budget: BUDGET_ROLES,
    s_delete_budget: BUDGET_ROLES,
    s_get_budget_status: BUDGET_ROLES,
    s_create_rate_limit: LIMIT_WRITERS,
    s_get_rate_limit: LIMIT_READERS,
    s_list_rate_limits: LIMIT_READERS,
    s_update_rate_limit: LIMIT_WRITERS,
    s_delete_rate_limit: LIMIT_WRITERS,
    s_get_usage_report: REPORT_READERS,
    s_get_top_consumers: REPORT_READERS,
    s_get_budget_burn: REPORT_READERS,
    s_get_waste_report: REPORT_READERS,
    s_get_scenario_value: REPORT_READERS,
}
