"""A key's requests-per-minute limit holds on the completion path."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc import aio
from grpc_status import rpc_status

from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as admin_api
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from megarouter.v1 import governance_pb2 as gov
from tests.admin.support import Admin, auth
from tests.completions.conftest import MODEL


async def test_key_rpm_limit_refuses_with_retry_delay(
    gateway: RunningServer, admin: Admin
) -> None:
    caller = await admin.GetCaller(admin_api.GetCallerRequest())
    await admin.CreateRateLimit(
        gov.CreateRateLimitRequest(
            parent="orgs/default",
            rate_limit_id="admin-key",
            rate_limit=gov.RateLimit(target=caller.api_key, requests_per_minute=3),
        )
    )
    request = api.CompleteRequest(
        model=MODEL,
        messages=[chat.ChatMessage(
            role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text="hi")]
        )],
    )
    async with gateway.channel() as channel:
        stub = api_grpc.CompletionServiceStub(channel)
        outcomes = []
        for _ in range(7):
            try:
                await stub.Complete(request, metadata=auth(gateway.admin_key))
                outcomes.append("ok")
            except aio.AioRpcError as error:
                outcomes.append(error)
    # Seven quick calls span at most two one-minute windows of 3 calls each.
    passed = outcomes.count("ok")
    assert 3 <= passed <= 6
    refusals = [o for o in outcomes if isinstance(o, aio.AioRpcError)]
    assert {r.code() for r in refusals} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    status = rpc_status.from_call(refusals[0])
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    quota = error_details_pb2.QuotaFailure()
    assert any(d.Unpack(retry) for d in status.details)
    assert any(d.Unpack(quota) for d in status.details)
    assert 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 60
