"""A hard budget holds exactly on the completion path; a soft one alerts."""

from __future__ import annotations

import asyncio

import grpc
from google.rpc import error_details_pb2
from grpc import aio
from grpc_status import rpc_status

from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budget_model import Budget, ScopeKind
from megarouter.governance.budget_periods import Period
from megarouter.testing.server import RunningServer
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from tests.admin.support import auth
from tests.completions.conftest import MODEL

# Each call: at most 100 output tokens at 0.60 USD/M plus the prompt at
# 0.15 USD/M: a worst case of about 70 micro-dollars.
MAX_TOKENS = 100


def request() -> api.CompleteRequest:
    return api.CompleteRequest(
        model=f"fake-a/{MODEL}",
        messages=[
            chat.ChatMessage(
                role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text="Hello there")]
            )
        ],
        max_tokens=MAX_TOKENS,
        scenario="budgeted",
    )


async def add_budget(server: RunningServer, limit: int, hard: bool) -> Budget:
    admin = BudgetAdmin(server.runtime.database)
    budget = await admin.create(
        Budget(
            org_id="default",
            id="scenario-cap",
            scope_kind=ScopeKind.SCENARIO,
            scope_value="budgeted",
            period=Period.LIFETIME,
            limit_micros=limit,
            hard=hard,
        )
    )
    server.runtime.components.budgets.forget("default")
    return budget


async def test_hard_budget_refuses_with_quota_failure_and_never_overspends(
    gateway: RunningServer,
) -> None:
    budget = await add_budget(gateway, limit=1_000, hard=True)
    admitted: list[api.CompleteResponse] = []
    async with gateway.channel() as channel:
        stub = api_grpc.CompletionServiceStub(channel)
        # Concurrent calls: each holds its worst case while it runs.
        burst = await asyncio.gather(
            *(
                stub.Complete(request(), metadata=auth(gateway.admin_key))
                for _ in range(40)
            ),
            return_exceptions=True,
        )
        admitted += [r for r in burst if isinstance(r, api.CompleteResponse)]
        # Then one at a time until the budget refuses.
        for _ in range(400):
            try:
                admitted.append(
                    await stub.Complete(request(), metadata=auth(gateway.admin_key))
                )
            except aio.AioRpcError as error:
                refusal = error
                break
        else:
            raise AssertionError("the budget never refused")
    assert refusal.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(refusal)
    assert status is not None
    quota = error_details_pb2.QuotaFailure()
    assert any(d.Unpack(quota) for d in status.details)
    assert quota.violations[0].subject == budget.name

    spent = sum(r.usage.cost_micros for r in admitted)
    worst_case = 70  # the largest reservation one of these calls makes
    assert 1_000 - worst_case <= spent <= 1_000


async def test_soft_budget_admits_past_its_limit(gateway: RunningServer) -> None:
    await add_budget(gateway, limit=10, hard=False)
    async with gateway.channel() as channel:
        stub = api_grpc.CompletionServiceStub(channel)
        for _ in range(3):
            response = await stub.Complete(request(), metadata=auth(gateway.admin_key))
            assert response.usage.cost_micros > 0
