"""AdminService's usage reports: protobuf in, analytics, protobuf out.

Org and billing administrators see the whole org; a team_admin sees only
its own teams: its reports are always filtered to them, and asking for
another team is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from megarouter.auth.caller import Caller
from megarouter.auth.interceptor import current_caller
from megarouter.errors import InvalidArgument, PermissionDenied
from megarouter.governance.analytics_reports import UsageReport
from megarouter.governance.analytics_sql import Dimension, Filters, Granularity
from megarouter.governance.analytics_waste import PremiumForSimpleTasks
from megarouter.governance.budget_burn import BudgetBurn, budget_burn
from megarouter.governance.budget_model import ScopeKind
from megarouter.providers.admin import ProviderAdmin
from megarouter.services.admin_convert import read_timestamp, timestamp
from megarouter.services.budget_admin import Governance, parse_budget, visible_org
from megarouter.tenancy import names
from megarouter.v1 import governance_pb2 as gov

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"

DIMENSION_TO_PB = {
    Dimension.TEAM: gov.USAGE_DIMENSION_TEAM,
    Dimension.PRINCIPAL: gov.USAGE_DIMENSION_PRINCIPAL,
    Dimension.KEY: gov.USAGE_DIMENSION_KEY,
    Dimension.MODEL: gov.USAGE_DIMENSION_MODEL,
    Dimension.PROVIDER: gov.USAGE_DIMENSION_PROVIDER,
    Dimension.TASK_TYPE: gov.USAGE_DIMENSION_TASK_TYPE,
    Dimension.SCENARIO: gov.USAGE_DIMENSION_SCENARIO,
}
DIMENSION_FROM_PB = {value: key for key, value in DIMENSION_TO_PB.items()}
GRANULARITY_TO_PB = {
    Granularity.HOUR: gov.USAGE_GRANULARITY_HOUR,
    Granularity.DAY: gov.USAGE_GRANULARITY_DAY,
    Granularity.WEEK: gov.USAGE_GRANULARITY_WEEK,
    Granularity.MONTH: gov.USAGE_GRANULARITY_MONTH,
}
GRANULARITY_FROM_PB = {value: key for key, value in GRANULARITY_TO_PB.items()}


def utc_now() -> datetime:
    return datetime.now(UTC)


def dimension(value: int, field: str) -> Dimension:
    found = DIMENSION_FROM_PB.get(gov.UsageDimension.ValueType(value))
    if found is None:
        raise InvalidArgument.for_field(field, f"unknown or unset dimension {value}")
    return found


def dimensions(values: Iterable[int], field: str) -> list[Dimension]:
    return [dimension(value, field) for value in values]


def _time(stamp: Timestamp, present: bool, field: str) -> datetime:
    when = read_timestamp(stamp, present, field)
    if when is None:
        raise InvalidArgument.for_field(field, "is required")
    return when


def sees_whole_org(caller: Caller) -> bool:
    """Org and billing administrators read every team's usage."""
    return caller.is_org_admin or caller.holds("billing")


def team_view(caller: Caller, filters: dict[Dimension, list[str]]) -> Filters:
    """``filters``, limited to the caller's teams unless it sees the whole org.

    Raises:
        PermissionDenied: a team_admin asked for a team it does not run.
    """
    if sees_whole_org(caller):
        return filters
    own = caller.admin_teams
    asked = filters.get(Dimension.TEAM)
    if asked is None:
        if not own:
            raise PermissionDenied("usage reports of the whole org need billing")
        return {**filters, Dimension.TEAM: sorted(own)}
    if not set(asked) <= own:
        raise PermissionDenied("a team_admin sees the usage of its own teams only")
    return filters


def report_scope(scope: gov.ReportScope) -> tuple[str, datetime, datetime, Filters]:
    """The org, range and filters of a report, as the caller may see them."""
    caller = current_caller()
    (org_id,) = names.parse(scope.parent, "scope.parent", "orgs")
    visible_org(caller, org_id)
    start = _time(scope.start_time, scope.HasField("start_time"), "scope.start_time")
    end = _time(scope.end_time, scope.HasField("end_time"), "scope.end_time")
    filters: dict[Dimension, list[str]] = {}
    for item in scope.filters:
        key = dimension(item.dimension, "scope.filters.dimension")
        filters.setdefault(key, []).extend(item.values)
    return org_id, start, end, team_view(caller, filters)


def _optional_time(message: Any, field: str, value: datetime | None) -> None:
    if value is not None:
        getattr(message, field).CopyFrom(timestamp(value))


def usage_response(report: UsageReport) -> gov.GetUsageReportResponse:
    response = gov.GetUsageReportResponse(
        group_by=[DIMENSION_TO_PB[d] for d in report.group_by],
        granularity=(
            GRANULARITY_TO_PB[report.granularity]
            if report.granularity is not None
            else gov.USAGE_GRANULARITY_UNSPECIFIED
        ),
        total_cost_micros=report.cost_micros,
    )
    for line in report.lines:
        message = response.lines.add(
            group=dict(line.group),
            calls=line.calls,
            ok_calls=line.ok_calls,
            input_tokens=line.input_tokens,
            output_tokens=line.output_tokens,
            cost_micros=line.cost_micros,
            avg_latency_ms=line.avg_latency_ms,
        )
        _optional_time(message, "bucket_time", line.bucket)
    return response


def burn_response(found: BudgetBurn) -> gov.GetBudgetBurnResponse:
    burn = found.burn
    response = gov.GetBudgetBurnResponse(
        budget=found.status.budget.name,
        limit_micros=burn.limit_micros,
        spent_micros=burn.spent_micros,
        remaining_micros=burn.remaining_micros,
        window_start_time=timestamp(burn.window_start),
        window_end_time=timestamp(burn.window_end),
        as_of_time=timestamp(burn.as_of),
        daily_rate_micros=burn.daily_rate_micros,
        projected_spend_micros=burn.projected_spend_micros,
    )
    _optional_time(response, "projected_exhaustion_time", burn.projected_exhaustion)
    for day, cost in found.daily:
        response.daily.add(day_time=timestamp(day), cost_micros=cost)
    return response


class ReportAdminMixin:
    """The usage-report calls of AdminService; mixed into ``AdminServicer``,
    which sets ``self._governance`` and ``self._providers``."""

    _governance: Governance
    _providers: ProviderAdmin

    async def GetUsageReport(
        self, request: gov.GetUsageReportRequest, context: Context
    ) -> gov.GetUsageReportResponse:
        org_id, start, end, filters = report_scope(request.scope)
        granularity = None
        if request.granularity != gov.USAGE_GRANULARITY_UNSPECIFIED:
            if request.granularity not in GRANULARITY_FROM_PB:
                raise InvalidArgument.for_field("granularity", "unknown granularity")
            granularity = GRANULARITY_FROM_PB[request.granularity]
        report = await self._governance.analytics.usage(
            org_id,
            start,
            end,
            group_by=dimensions(request.group_by, "group_by"),
            granularity=granularity,
            filters=filters,
        )
        return usage_response(report)

    async def GetTopConsumers(
        self, request: gov.GetTopConsumersRequest, context: Context
    ) -> gov.GetTopConsumersResponse:
        org_id, start, end, filters = report_scope(request.scope)
        by = Dimension.TEAM
        if request.dimension != gov.USAGE_DIMENSION_UNSPECIFIED:
            by = dimension(request.dimension, "dimension")
        report = await self._governance.analytics.top_consumers(
            org_id, start, end, dimension=by, limit=request.limit or 10, filters=filters
        )
        response = gov.GetTopConsumersResponse(
            dimension=DIMENSION_TO_PB[report.dimension],
            total_calls=report.total_calls,
            total_cost_micros=report.total_cost_micros,
            total_active_principals=report.total_active_principals,
        )
        for line in report.lines:
            response.consumers.add(
                key=line.key,
                calls=line.calls,
                cost_micros=line.cost_micros,
                input_tokens=line.input_tokens,
                output_tokens=line.output_tokens,
                active_principals=line.active_principals,
                call_share=line.call_share,
                cost_share=line.cost_share,
            )
        return response

    async def GetBudgetBurn(
        self, request: gov.GetBudgetBurnRequest, context: Context
    ) -> gov.GetBudgetBurnResponse:
        org_id, budget_id = parse_budget(request.name, "name")
        status = await self._governance.book.status(org_id, budget_id)
        caller, budget = current_caller(), status.budget
        own_team = (
            budget.scope_kind is ScopeKind.TEAM
            and budget.scope_value in caller.admin_teams
        )
        if not (sees_whole_org(caller) or own_team):
            raise PermissionDenied("a team_admin sees its own teams' budgets only")
        found = await budget_burn(status, self._governance.analytics, utc_now())
        return burn_response(found)

    async def GetWasteReport(
        self, request: gov.GetWasteReportRequest, context: Context
    ) -> gov.GetWasteReportResponse:
        org_id, start, end, filters = report_scope(request.scope)
        catalog = await self._providers.catalog(org_id)
        allowed = catalog.allowed_models()
        finder = PremiumForSimpleTasks.from_catalog(
            m for m in catalog.price_table().models() if m.global_id in allowed
        )
        report = await self._governance.analytics.waste(
            org_id,
            start,
            end,
            finder,
            group_by=dimensions(request.group_by, "group_by"),
            filters=filters,
        )
        response = gov.GetWasteReportResponse(
            total_cost_micros=report.total_cost_micros,
            saving_micros=report.saving_micros,
            group_by=[DIMENSION_TO_PB[Dimension(d)] for d in report.group_by],
        )
        for line in report.lines:
            response.lines.add(
                task_type=line.task_type,
                model=line.model,
                group=dict(line.group),
                calls=line.calls,
                input_tokens=line.input_tokens,
                output_tokens=line.output_tokens,
                cost_micros=line.cost_micros,
                alternative=line.alternative,
                alternative_cost_micros=line.alternative_cost_micros,
                saving_micros=line.saving_micros,
            )
        return response

    async def GetScenarioValue(
        self, request: gov.GetScenarioValueRequest, context: Context
    ) -> gov.GetScenarioValueResponse:
        org_id, start, end, filters = report_scope(request.scope)
        report = await self._governance.analytics.scenario_value(
            org_id, start, end, filters=filters
        )
        response = gov.GetScenarioValueResponse()
        for line in report.lines:
            message = response.lines.add(
                scenario=line.scenario,
                calls=line.calls,
                cost_micros=line.cost_micros,
                feedback_count=line.feedback_count,
                good_outcomes=line.good_outcomes,
            )
            if line.mean_score is not None:
                message.mean_score = line.mean_score
            if line.cost_per_good_outcome_micros is not None:
                message.cost_per_good_outcome_micros = line.cost_per_good_outcome_micros
            if line.value_index is not None:
                message.value_index = line.value_index
        return response
