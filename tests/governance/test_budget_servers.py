"""Three server processes, one PostgreSQL, 500 concurrent calls, one budget.

The settled spend of a hard budget never exceeds its limit, and callers who
retry when told to get within one worst-case reservation of the best
possible use of it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc import aio
from grpc_status import rpc_status
from megarouter_openai.fake import OpenAIFake
from sqlalchemy import func, select

from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budget_model import Budget, ScopeKind
from megarouter.governance.budget_periods import Period
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.store.usage_tables import UsageRow
from megarouter.testing.fake_http import free_port
from megarouter.testing.server import fresh_postgres_database
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from tests.conftest import POSTGRES_URL
from tests.server.support import wait_serving

KEY = "mr-budget-servers-admin-0123456789"
LAUNCHER = Path(__file__).parents[1] / "completions" / "serve_with_fakes.py"
CALLS = 500
REPLICAS = 3


def request() -> api.CompleteRequest:
    return api.CompleteRequest(
        model="gpt-4o-mini",
        messages=[
            chat.ChatMessage(
                role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text="Same words")]
            )
        ],
        max_tokens=100,
        scenario="shared",
    )


def retry_delay(error: aio.AioRpcError) -> float | None:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.ToTimedelta().total_seconds()
    return None


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_hard_budget_holds_across_three_server_processes(tmp_path: Path) -> None:
    async with fresh_postgres_database(POSTGRES_URL) as url:
        await upgrade_async(url)
        with OpenAIFake(api_key="sk-a-123456") as fake:
            env = {
                **os.environ,
                "FAKE_BASE_URL": f"{fake.server.url}/v1",
                "FAKE_A_KEY": "sk-a-123456",
                "MEGAROUTER_DATA_DIR": str(tmp_path),
                "MEGAROUTER_DATABASE_URL": url,
                "MEGAROUTER_SECRET_KEY": "b" * 40,
                "MEGAROUTER_BOOTSTRAP_KEY": KEY,
                "MEGAROUTER_LOG_LEVEL": "WARNING",
                "MEGAROUTER_PLUGINS": "openai",
            }
            ports = [free_port() for _ in range(REPLICAS)]
            processes = []
            try:
                for port in ports:
                    processes.append(
                        await asyncio.create_subprocess_exec(
                            sys.executable,
                            str(LAUNCHER),
                            env={**env, "MEGAROUTER_LISTEN": f"127.0.0.1:{port}"},
                            stdout=asyncio.subprocess.DEVNULL,
                            stderr=asyncio.subprocess.DEVNULL,
                        )
                    )
                    await wait_serving(f"127.0.0.1:{port}")
                cost, limit = await measure_and_budget(url, ports[0])
                admitted, refused = await hammer(ports)
            finally:
                for process in processes:
                    if process.returncode is None:
                        process.terminate()
                for process in processes:
                    await process.wait()

        spent = await settled_spend(url)
    worst_case = -(-(5 * 150_000 + 100 * 600_000) // 1_000_000) + 5  # generous
    assert admitted + refused == CALLS
    assert spent <= limit
    assert spent == admitted * cost + cost  # every admitted call, plus the probe
    best = limit // cost
    assert admitted + 1 >= best - -(-worst_case // cost)


async def measure_and_budget(url: str, port: int) -> tuple[int, int]:
    """Price one call (outside the scenario's budget), then set the budget."""
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = api_grpc.CompletionServiceStub(channel)
        probe = await stub.Complete(request(), metadata=(("x-api-key", KEY),))
    cost = probe.usage.cost_micros
    database = Database(url)
    try:
        limit = cost * 300  # room for 300 of the 500 calls
        await BudgetAdmin(database).create(
            Budget(
                org_id="default",
                id="shared-cap",
                scope_kind=ScopeKind.SCENARIO,
                scope_value="shared",
                period=Period.LIFETIME,
                limit_micros=limit + cost,  # the probe is already spent
            )
        )
    finally:
        await database.dispose()
    # Replicas re-read their org's budgets every tick (a third of the lease
    # time, 5 s by default): a new budget applies everywhere after that.
    await asyncio.sleep(6.0)
    return cost, limit + cost


async def hammer(ports: list[int]) -> tuple[int, int]:
    admitted = refused = 0
    channels = [aio.insecure_channel(f"127.0.0.1:{p}") for p in ports]
    stubs = [api_grpc.CompletionServiceStub(c) for c in channels]

    async def caller(number: int) -> bool:
        stub = stubs[number % len(stubs)]
        for _ in range(100):
            try:
                await stub.Complete(
                    request(), metadata=(("x-api-key", KEY),), timeout=60
                )
                return True
            except aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                delay = retry_delay(error)
                if delay is None:
                    return False  # final: the budget cannot hold one more call
                await asyncio.sleep(delay)
        return False

    try:
        outcomes = await asyncio.gather(*(caller(i) for i in range(CALLS)))
    finally:
        for channel in channels:
            await channel.close()
    admitted = sum(outcomes)
    refused = CALLS - admitted
    return admitted, refused


async def settled_spend(url: str) -> int:
    database = Database(url)
    try:
        async with database.sessions() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(UsageRow.cost_micros), 0)).where(
                    UsageRow.scenario == "shared", UsageRow.status == "OK"
                )
            )
    finally:
        await database.dispose()
    return int(total or 0)
