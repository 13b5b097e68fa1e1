"""Usage reports over AdminService, checked against hand-worked figures.

The server runs once for the module over the ledger of
:mod:`tests.governance.report_ledger`; each test asks for a report as an
administrator or a team_admin would, and compares it with the sums worked
out by hand in that module's docstring.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from megarouter.testing.server import RunningServer, running_server, server_settings
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import governance_pb2 as gov
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin
from tests.governance.report_ledger import (
    MINI,
    PREMIUM,
    WEEK_END,
    WEEK_START,
    Call,
    seed_ledger,
)

ORG = "orgs/default"
_serial = itertools.count()


@dataclass
class World:
    server: RunningServer
    admin: Admin
    search_admin: Admin


def stamp(when: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(when)
    return result


def week(*filters: gov.UsageFilter) -> gov.ReportScope:
    return gov.ReportScope(
        parent=ORG,
        start_time=stamp(WEEK_START),
        end_time=stamp(WEEK_END),
        filters=list(filters),
    )


async def price_mini(admin: Admin) -> None:
    await admin.SetModelPrice(
        api.SetModelPriceRequest(
            name=f"{ORG}/models/{MINI}",
            price=pb.ModelPrice(input_micros_per_mtok=100, output_micros_per_mtok=200),
        )
    )


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("reports")
    settings = server_settings(f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}", Path(tmp))
    async with running_server(settings) as server, server.channel() as channel:
        await seed_ledger(server.database_url)
        admin = Admin(channel, server.admin_key)
        await price_mini(admin)
        await admin.team("default", "search")
        lead = await admin.principal(
            "default", "search-lead", team=f"{ORG}/teams/search"
        )
        await admin.grant(lead.name, "team_admin", f"{ORG}/teams/search")
        _, key = await admin.key_for(lead.name)
        yield World(server, admin, Admin(channel, key))


async def test_usage_report_groups_by_team_within_the_range(world: World) -> None:
    response = await world.admin.GetUsageReport(
        gov.GetUsageReportRequest(scope=week(), group_by=[gov.USAGE_DIMENSION_TEAM])
    )

    lines = {
        line.group["team"]: (
            line.calls,
            line.input_tokens,
            line.output_tokens,
            line.cost_micros,
        )
        for line in response.lines
    }
    assert lines == {
        "legal": (1, 1000, 100, 13_000),
        "search": (4, 6000, 900, 52_001),
        "support": (2, 2000, 1100, 13_001),
    }
    assert response.total_cost_micros == 78_002
    assert list(response.group_by) == [gov.USAGE_DIMENSION_TEAM]


async def test_usage_report_by_day_for_one_team(world: World) -> None:
    search = gov.UsageFilter(dimension=gov.USAGE_DIMENSION_TEAM, values=["search"])
    response = await world.admin.GetUsageReport(
        gov.GetUsageReportRequest(
            scope=week(search), granularity=gov.USAGE_GRANULARITY_DAY
        )
    )

    days = [
        (line.bucket_time.ToDatetime(tzinfo=UTC).day, line.calls, line.cost_micros)
        for line in response.lines
    ]
    assert days == [(2, 1, 13_000), (3, 2, 39_000), (4, 1, 1)]


async def test_top_consumers_ranks_teams_by_cost(world: World) -> None:
    response = await world.admin.GetTopConsumers(
        gov.GetTopConsumersRequest(scope=week(), limit=2)
    )

    assert [(c.key, c.calls, c.cost_micros) for c in response.consumers] == [
        ("search", 4, 52_001),
        ("support", 2, 13_001),
    ]
    assert response.consumers[0].active_principals == 2
    assert response.consumers[0].cost_share == pytest.approx(52_001 / 78_002)
    assert (response.total_calls, response.total_cost_micros) == (7, 78_002)
    assert response.dimension == gov.USAGE_DIMENSION_TEAM


async def test_waste_report_names_the_cheaper_model_for_simple_tasks(
    world: World,
) -> None:
    response = await world.admin.GetWasteReport(gov.GetWasteReportRequest(scope=week()))

    lines = [
        (w.task_type, w.model, w.calls, w.cost_micros, w.alternative, w.saving_micros)
        for w in response.lines
    ]
    assert lines == [
        ("classification", PREMIUM, 3, 52_000, MINI, 51_999),
        ("extraction", PREMIUM, 1, 13_000, MINI, 12_999),
    ]
    assert response.total_cost_micros == 78_002
    assert response.saving_micros == 64_998


async def test_scenario_value_orders_by_score_per_dollar(world: World) -> None:
    response = await world.admin.GetScenarioValue(
        gov.GetScenarioValueRequest(scope=week())
    )

    by_name = {line.scenario: line for line in response.lines}
    assert [line.scenario for line in response.lines] == [
        "tickets",
        "faq",
        "contracts",
    ]
    faq, tickets = by_name["faq"], by_name["tickets"]
    assert (faq.calls, faq.cost_micros, faq.feedback_count) == (4, 52_001, 2)
    assert faq.mean_score == pytest.approx(0.5)
    assert faq.good_outcomes == 1
    assert faq.cost_per_good_outcome_micros == 26_001  # 52,001 * 2 / 4, half up
    assert faq.value_index == pytest.approx(0.5 * 4 * 1_000_000 / 52_001)
    assert tickets.cost_per_good_outcome_micros == 6_501  # 13,001 / 2, half up
    assert not by_name["contracts"].HasField("mean_score")
    assert not by_name["contracts"].HasField("value_index")


async def test_team_admin_reports_are_limited_to_its_team(world: World) -> None:
    own = await world.search_admin.GetUsageReport(
        gov.GetUsageReportRequest(scope=week(), group_by=[gov.USAGE_DIMENSION_TEAM])
    )
    support = gov.UsageFilter(dimension=gov.USAGE_DIMENSION_TEAM, values=["support"])
    other = await world.search_admin.code_of(
        "GetTopConsumers", gov.GetTopConsumersRequest(scope=week(support))
    )

    assert [(line.group["team"], line.cost_micros) for line in own.lines] == [
        ("search", 52_001)
    ]
    assert other == grpc.StatusCode.PERMISSION_DENIED


async def test_report_without_a_range_is_invalid(world: World) -> None:
    code = await world.admin.code_of(
        "GetUsageReport",
        gov.GetUsageReportRequest(scope=gov.ReportScope(parent=ORG)),
    )
    backwards = await world.admin.code_of(
        "GetUsageReport",
        gov.GetUsageReportRequest(
            scope=gov.ReportScope(
                parent=ORG, start_time=stamp(WEEK_END), end_time=stamp(WEEK_START)
            )
        ),
    )

    assert code == backwards == grpc.StatusCode.INVALID_ARGUMENT


async def scenario_budget(admin: Admin, scenario: str, limit: int) -> gov.Budget:
    response = await admin.CreateBudget(
        gov.CreateBudgetRequest(
            parent=ORG,
            budget_id=f"burn-{next(_serial)}",
            budget=gov.Budget(
                scope_kind=gov.BUDGET_SCOPE_KIND_SCENARIO,
                scope_value=scenario,
                period=gov.BUDGET_PERIOD_MONTHLY,
                limit_micros=limit,
            ),
        )
    )
    return response.budget


async def test_budget_burn_projects_from_the_ledger_of_its_scope(
    world: World,
) -> None:
    scenario = "burn-test"
    roomy = await scenario_budget(world.admin, scenario, 100_000_000)
    tight = await scenario_budget(world.admin, scenario, 1_000_000)
    status = (
        await world.admin.GetBudgetStatus(gov.GetBudgetStatusRequest(name=roomy.name))
    ).status
    start = status.window_start_time.ToDatetime(tzinfo=UTC)
    calls = [
        Call(
            "default",
            f"b{i}",
            "ops",
            "eve",
            scenario,
            MINI,
            "chat",
            start,
            (1, 1),
            cost,
        )
        for i, cost in enumerate((1_000_000, 2_000_000))
    ]
    await seed_ledger(world.server.database_url, calls)

    burn = await world.admin.GetBudgetBurn(gov.GetBudgetBurnRequest(name=roomy.name))
    spent = await world.admin.GetBudgetBurn(gov.GetBudgetBurnRequest(name=tight.name))

    as_of = burn.as_of_time.ToDatetime(tzinfo=UTC)
    end = burn.window_end_time.ToDatetime(tzinfo=UTC)
    elapsed = (as_of - start) // timedelta(microseconds=1)
    day = timedelta(days=1) // timedelta(microseconds=1)
    assert (burn.spent_micros, burn.remaining_micros) == (3_000_000, 97_000_000)
    assert [(d.day_time.ToDatetime(tzinfo=UTC), d.cost_micros) for d in burn.daily] == [
        (start, 3_000_000)
    ]
    assert burn.daily_rate_micros == (2 * 3_000_000 * day + elapsed) // (2 * elapsed)
    assert end == status.window_end_time.ToDatetime(tzinfo=UTC)
    assert spent.remaining_micros == 0
    assert spent.projected_exhaustion_time == spent.as_of_time
