"""Budgets over AdminService: create, read, list, change, delete and status.

Every test runs against the real server on loopback, on SQLite and on
PostgreSQL, and reads back what a user would see: the stored budget, the
status codes of refused calls and the audit log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import grpc
from google.protobuf import field_mask_pb2

from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import audit_pb2
from megarouter.v1 import governance_pb2 as gov
from tests.admin.support import Admin

ORG = "orgs/default"


def team_budget(limit: int = 250_000_000) -> gov.Budget:
    return gov.Budget(
        scope_kind=gov.BUDGET_SCOPE_KIND_TEAM,
        scope_value="ml",
        period=gov.BUDGET_PERIOD_MONTHLY,
        limit_micros=limit,
        enforcement=gov.BUDGET_ENFORCEMENT_SOFT,
        prefer_cheaper_below_micros=20_000_000,
        display_name="ML monthly",
    )


async def audit_actions(admin: Admin, resource: str) -> list[audit_pb2.AuditEvent]:
    response = await admin.ListAuditEvents(
        api.ListAuditEventsRequest(parent=ORG, filter=f'resource = "{resource}"')
    )
    return list(reversed(response.audit_events))


async def test_budget_crud_round_trips_and_is_audited(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        created = (
            await admin.CreateBudget(
                gov.CreateBudgetRequest(
                    parent=ORG, budget_id="ml-monthly", budget=team_budget()
                )
            )
        ).budget
        fetched = (
            await admin.GetBudget(gov.GetBudgetRequest(name=created.name))
        ).budget
        changed = gov.Budget(
            name=created.name,
            etag=created.etag,
            limit_micros=300_000_000,
            enforcement=gov.BUDGET_ENFORCEMENT_HARD,
        )
        mask = field_mask_pb2.FieldMask(
            paths=["limit_micros", "enforcement", "prefer_cheaper_below_micros"]
        )
        updated = (
            await admin.UpdateBudget(
                gov.UpdateBudgetRequest(budget=changed, update_mask=mask)
            )
        ).budget
        listed = (await admin.ListBudgets(gov.ListBudgetsRequest(parent=ORG))).budgets
        await admin.DeleteBudget(
            gov.DeleteBudgetRequest(name=created.name, etag=updated.etag)
        )
        gone = await admin.code_of("GetBudget", gov.GetBudgetRequest(name=created.name))
        events = await audit_actions(admin, created.name)

    assert created.name == "orgs/default/budgets/ml-monthly"
    assert (created.scope_kind, created.scope_value) == (
        gov.BUDGET_SCOPE_KIND_TEAM,
        "ml",
    )
    assert created.enforcement == gov.BUDGET_ENFORCEMENT_SOFT
    assert created.prefer_cheaper_below_micros == 20_000_000
    assert fetched == created
    assert updated.limit_micros == 300_000_000
    assert updated.enforcement == gov.BUDGET_ENFORCEMENT_HARD
    assert not updated.HasField("prefer_cheaper_below_micros")
    assert updated.display_name == "ML monthly"
    assert updated.etag != created.etag
    assert [b.name for b in listed] == [created.name]
    assert gone == grpc.StatusCode.NOT_FOUND
    assert [e.action for e in events] == [
        "budgets.create",
        "budgets.update",
        "budgets.delete",
    ]
    assert {e.actor for e in events} == {"orgs/default/principals/admin"}
    before, after = json.loads(events[1].before_json), json.loads(events[1].after_json)
    assert (before["limit_micros"], after["limit_micros"]) == (250_000_000, 300_000_000)
    assert (before["hard"], after["hard"]) == (False, True)
    assert events[2].after_json == ""


async def test_update_budget_with_stale_etag_fails_precondition(
    server: RunningServer,
) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        created = (
            await admin.CreateBudget(
                gov.CreateBudgetRequest(
                    parent=ORG, budget_id="b1", budget=team_budget()
                )
            )
        ).budget
        mask = field_mask_pb2.FieldMask(paths=["display_name"])
        first = gov.Budget(name=created.name, etag=created.etag, display_name="one")
        await admin.UpdateBudget(
            gov.UpdateBudgetRequest(budget=first, update_mask=mask)
        )
        stale = gov.Budget(name=created.name, etag=created.etag, display_name="two")
        code = await admin.code_of(
            "UpdateBudget", gov.UpdateBudgetRequest(budget=stale, update_mask=mask)
        )
        delete_code = await admin.code_of(
            "DeleteBudget",
            gov.DeleteBudgetRequest(name=created.name, etag=created.etag),
        )
        kept = (await admin.GetBudget(gov.GetBudgetRequest(name=created.name))).budget

    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert delete_code == grpc.StatusCode.FAILED_PRECONDITION
    assert kept.display_name == "one"


async def test_create_budget_rejects_invalid_fields(server: RunningServer) -> None:
    bad = {
        "bad id": ("Bad_ID", team_budget()),
        "zero limit": ("zero", team_budget(limit=0)),
        "no period": (
            "no-period",
            gov.Budget(scope_kind=gov.BUDGET_SCOPE_KIND_ORG, limit_micros=1),
        ),
        "no scope": (
            "no-scope",
            gov.Budget(period=gov.BUDGET_PERIOD_DAILY, limit_micros=1),
        ),
        "bad team": (
            "bad-team",
            gov.Budget(
                scope_kind=gov.BUDGET_SCOPE_KIND_TEAM,
                scope_value="Not A Team",
                period=gov.BUDGET_PERIOD_DAILY,
                limit_micros=1,
            ),
        ),
    }
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        codes = {
            label: await admin.code_of(
                "CreateBudget",
                gov.CreateBudgetRequest(parent=ORG, budget_id=bid, budget=budget),
            )
            for label, (bid, budget) in bad.items()
        }
        mask = field_mask_pb2.FieldMask(paths=["period"])
        await admin.CreateBudget(
            gov.CreateBudgetRequest(parent=ORG, budget_id="ok", budget=team_budget())
        )
        immutable = await admin.code_of(
            "UpdateBudget",
            gov.UpdateBudgetRequest(
                budget=gov.Budget(
                    name=f"{ORG}/budgets/ok", period=gov.BUDGET_PERIOD_DAILY
                ),
                update_mask=mask,
            ),
        )
        listed = (await admin.ListBudgets(gov.ListBudgetsRequest(parent=ORG))).budgets

    assert set(codes.values()) == {grpc.StatusCode.INVALID_ARGUMENT}
    assert immutable == grpc.StatusCode.INVALID_ARGUMENT
    assert [b.name for b in listed] == [f"{ORG}/budgets/ok"]


async def test_budget_status_shows_the_current_window_untouched(
    server: RunningServer,
) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        await admin.CreateBudget(
            gov.CreateBudgetRequest(parent=ORG, budget_id="b", budget=team_budget())
        )
        status = (
            await admin.GetBudgetStatus(
                gov.GetBudgetStatusRequest(name=f"{ORG}/budgets/b")
            )
        ).status
    now = datetime.now(UTC)

    start = status.window_start_time.ToDatetime(tzinfo=UTC)
    end = status.window_end_time.ToDatetime(tzinfo=UTC)
    assert status.budget == f"{ORG}/budgets/b"
    assert (status.spent_micros, status.leased_micros) == (0, 0)
    assert status.remaining_micros == status.limit_micros == 250_000_000
    assert start.day == 1 and start <= now < end
    assert (end.month - start.month) % 12 == 1


async def test_budgets_of_another_org_are_invisible_to_its_billing(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        await admin.CreateOrg(api.CreateOrgRequest(org_id="globex"))
        await admin.CreateBudget(
            gov.CreateBudgetRequest(
                parent="orgs/globex", budget_id="secret", budget=team_budget()
            )
        )
        billing = await admin.principal("default", "finance")
        await admin.grant(billing.name, "billing")
        _, key = await admin.key_for(billing.name)
        finance = Admin(channel, key)
        get = await finance.code_of(
            "GetBudget", gov.GetBudgetRequest(name="orgs/globex/budgets/secret")
        )
        listing = await finance.code_of(
            "ListBudgets", gov.ListBudgetsRequest(parent="orgs/globex")
        )

    assert get == grpc.StatusCode.NOT_FOUND
    assert listing == grpc.StatusCode.NOT_FOUND
