"""Client -> MegaRouter -> fake provider, over real sockets, end to end."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from google.protobuf import struct_pb2
from grpc import aio
from megarouter_openai.fake import Fault
from sqlalchemy import func, select

from megarouter.store.database import Database
from megarouter.store.usage_tables import UsageRow
from megarouter.testing.fakes import FailureKind
from megarouter.testing.server import RunningServer
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from tests.admin.support import auth
from tests.completions.conftest import EMBEDDING, MODEL, REFUSABLE, Fakes


def user(text: str) -> chat.ChatMessage:
    return chat.ChatMessage(
        role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text=text)]
    )


def complete_request(
    model: str = MODEL, text: str = "Say hello.", **fields: object
) -> api.CompleteRequest:
    return api.CompleteRequest(model=model, messages=[user(text)], **fields)  # type: ignore[arg-type]


class Client:
    def __init__(self, server: RunningServer, channel: aio.Channel) -> None:
        self.stub = api_grpc.CompletionServiceStub(channel)
        self.metadata = auth(server.admin_key)

    async def complete(
        self, request: api.CompleteRequest, timeout: float = 30
    ) -> api.CompleteResponse:
        return await self.stub.Complete(
            request, metadata=self.metadata, timeout=timeout
        )

    def stream(self, request: api.StreamCompleteRequest, timeout: float = 30):  # type: ignore[no-untyped-def]
        return self.stub.StreamComplete(
            request, metadata=self.metadata, timeout=timeout
        )


async def usage_rows(server: RunningServer) -> list[UsageRow]:
    database = Database(server.database_url)
    try:
        async with database.sessions() as session:
            rows = await session.execute(select(UsageRow).order_by(UsageRow.created_at))
            return list(rows.scalars())
    finally:
        await database.dispose()


async def test_complete_answers_and_records_usage(
    gateway: RunningServer, fakes: Fakes
) -> None:
    async with gateway.channel() as channel:
        response = await Client(gateway, channel).complete(
            complete_request(scenario="greeting", max_tokens=50)
        )
    assert response.message.content[0].text == fakes.a.reply_text
    assert response.model == f"fake-a/{MODEL}" and response.provider == "fake-a"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    # 0.15 USD / 0.60 USD per million tokens, rounded up to a micro-dollar.
    expected = -(
        -(
            response.usage.input_tokens * 150_000
            + response.usage.output_tokens * 600_000
        )
        // 1_000_000
    )
    assert response.usage.cost_micros == expected
    assert [a.ok for a in response.attempts] == [True]

    [row] = await usage_rows(gateway)
    assert (row.org_id, row.principal_id, row.scenario) == (
        "default",
        "admin",
        "greeting",
    )
    assert (row.model, row.provider, row.status) == (f"fake-a/{MODEL}", "fake-a", "OK")
    assert (row.input_tokens, row.output_tokens, row.cost_micros) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
        expected,
    )
    assert row.request_id == response.request_id


async def test_auto_picks_a_configured_model_and_says_why(
    gateway: RunningServer,
) -> None:
    async with gateway.channel() as channel:
        response = await Client(gateway, channel).complete(complete_request("auto"))
    assert response.provider in {"fake-a", "fake-b"}
    assert response.route.reason.startswith(response.model)
    assert response.route.strategy == "balanced"
    assert response.route.candidates >= 1


async def test_stream_sends_deltas_then_summary_after_recording(
    gateway: RunningServer, fakes: Fakes
) -> None:
    async with gateway.channel() as channel:
        call = Client(gateway, channel).stream(
            api.StreamCompleteRequest(model=MODEL, messages=[user("Stream please.")])
        )
        messages = [m async for m in call]
    deltas = [m.delta.content for m in messages if m.HasField("delta")]
    assert "".join(deltas) == fakes.a.reply_text and len(deltas) > 1
    summary = messages[-1].summary
    assert messages[-1].HasField("summary")
    assert summary.model == f"fake-a/{MODEL}" and summary.usage.cost_micros > 0
    [row] = await usage_rows(gateway)
    assert row.kind == "stream" and row.status == "OK"
    assert row.output_tokens == summary.usage.output_tokens and row.ttft_ms > 0


async def test_embed_returns_vectors_in_order(gateway: RunningServer) -> None:
    async with gateway.channel() as channel:
        stub = api_grpc.CompletionServiceStub(channel)
        response = await stub.Embed(
            api.EmbedRequest(model=EMBEDDING, inputs=["one", "two", "three"]),
            metadata=auth(gateway.admin_key),
        )
    assert len(response.embeddings) == 3
    assert response.embeddings[0].values != response.embeddings[1].values
    assert response.usage.input_tokens > 0 and response.usage.cost_micros > 0
    [row] = await usage_rows(gateway)
    assert row.kind == "embed"


async def test_tool_call_round_trip(gateway: RunningServer) -> None:
    parameters = struct_pb2.Struct()
    parameters.update(
        {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }
    )
    tool = chat.Tool(
        name="get_weather", description="Weather now", parameters=parameters
    )
    async with gateway.channel() as channel:
        response = await Client(gateway, channel).complete(
            complete_request(text="Weather in Paris?", tools=[tool])
        )
    assert response.finish_reason == chat.FINISH_REASON_TOOL_CALLS
    [call] = response.message.tool_calls
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)


@pytest.mark.parametrize(
    "break_a",
    [
        lambda fakes: fakes.a.fail_next(FailureKind.SERVER_ERROR),
        lambda fakes: fakes.a.fail_next(FailureKind.OVERLOADED),
        lambda fakes: fakes.a.break_next(Fault.MALFORMED_BODY),
        lambda fakes: fakes.a.fail_next(FailureKind.AUTH),
    ],
    ids=["5xx", "overloaded", "malformed-body", "bad-credential"],
)
async def test_failure_at_first_provider_falls_back_to_second(
    gateway: RunningServer, fakes: Fakes, break_a
) -> None:  # type: ignore[no-untyped-def]
    break_a(fakes)
    async with gateway.channel() as channel:
        response = await Client(gateway, channel).complete(complete_request())
    assert response.provider == "fake-b"
    assert [(a.provider, a.ok) for a in response.attempts] == [
        ("fake-a", False),
        ("fake-b", True),
    ]
    [row] = await usage_rows(gateway)
    assert row.provider == "fake-b" and len(json.loads(row.attempts)) == 2


async def test_connection_refused_falls_back(gateway: RunningServer) -> None:
    async with gateway.channel() as channel:
        response = await Client(gateway, channel).complete(complete_request(REFUSABLE))
    assert response.attempts[0].provider == "fake-dead"
    assert response.attempts[0].error_kind == "ProviderConnectionError"
    assert response.provider == "fake-a"


async def test_rate_limit_falls_back_and_cools_down_the_provider(
    gateway: RunningServer, fakes: Fakes
) -> None:
    fakes.a.fail_next(FailureKind.RATE_LIMITED, retry_after=60)
    async with gateway.channel() as channel:
        client = Client(gateway, channel)
        first = await client.complete(complete_request())
        second = await client.complete(complete_request())
    assert first.attempts[0].error_kind == "ProviderRateLimited"
    assert first.provider == "fake-b"
    # fake-a is cooling down for its Retry-After: not even tried.
    assert [a.provider for a in second.attempts] == ["fake-b"]


async def test_timeout_falls_back_within_the_deadline(
    gateway: RunningServer, fakes: Fakes
) -> None:
    fakes.a.response_delay = 5.0
    async with gateway.channel() as channel:
        response = await Client(gateway, channel).complete(
            complete_request(), timeout=4
        )
    assert response.attempts[0].error_kind == "ProviderTimeout"
    assert response.provider == "fake-b"


async def test_deadline_exceeded_when_every_provider_is_slow(
    gateway: RunningServer, fakes: Fakes
) -> None:
    fakes.a.response_delay = fakes.b.response_delay = 3.0
    async with gateway.channel() as channel:
        with pytest.raises(aio.AioRpcError) as caught:
            await Client(gateway, channel).complete(complete_request(), timeout=1.0)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(50):  # the record is written as the call unwinds
        rows = await usage_rows(gateway)
        if rows:
            break
        await asyncio.sleep(0.1)
    assert [r.status for r in rows] == ["DEADLINE_EXCEEDED"]


async def test_stream_cut_midway_ends_with_error_and_no_model_switch(
    gateway: RunningServer, fakes: Fakes
) -> None:
    fakes.a.break_next(Fault.CUT_STREAM)
    received: list[api.StreamCompleteResponse] = []
    async with gateway.channel() as channel:
        call = Client(gateway, channel).stream(
            api.StreamCompleteRequest(model=MODEL, messages=[user("Long answer.")])
        )
        with pytest.raises(aio.AioRpcError) as caught:
            async for message in call:
                received.append(message)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "not retried" in (caught.value.details() or "")
    assert received and all(m.HasField("delta") for m in received)
    assert not fakes.b.chat_bodies()  # never switched to another provider
    [row] = await usage_rows(gateway)
    assert row.status == "STREAM_BROKEN" and row.provider == "fake-a"


async def test_cancelled_stream_closes_the_upstream_request(
    gateway: RunningServer, fakes: Fakes
) -> None:
    fakes.a.stream_pause = 0.2
    fakes.a.reply_text = " ".join(["word"] * 200)
    async with gateway.channel() as channel:
        call = Client(gateway, channel).stream(
            api.StreamCompleteRequest(model=MODEL, messages=[user("Talk a lot.")])
        )
        first = await call.read()
        assert first.HasField("delta")
        call.cancel()
    for _ in range(100):
        if fakes.a.server.disconnects:
            break
        await asyncio.sleep(0.05)
    assert fakes.a.server.disconnects == 1
    for _ in range(50):
        rows = await usage_rows(gateway)
        if rows:
            break
        await asyncio.sleep(0.1)
    assert [r.status for r in rows] == ["CANCELLED"]


async def test_retry_with_same_client_request_id_replays_without_billing_twice(
    gateway: RunningServer, fakes: Fakes
) -> None:
    request = complete_request(client_request_id="order-42")
    async with gateway.channel() as channel:
        client = Client(gateway, channel)
        first = await client.complete(request)
        again = await client.complete(request)
    assert again.message == first.message and again.usage == first.usage
    assert len(fakes.a.chat_bodies()) == 1
    assert len(await usage_rows(gateway)) == 1


async def test_bad_requests_are_invalid_argument_with_field(
    gateway: RunningServer,
) -> None:
    bad = [
        api.CompleteRequest(model=MODEL),  # no messages
        api.CompleteRequest(messages=[user("x")]),  # no model
        complete_request(temperature=7.0),
        complete_request(max_tokens=0),
        api.CompleteRequest(
            model=MODEL, messages=[chat.ChatMessage(role=chat.CHAT_ROLE_USER)]
        ),
        api.CompleteRequest(
            model=MODEL,
            messages=[chat.ChatMessage(role=9, content=[chat.ContentPart(text="x")])],
        ),
    ]
    async with gateway.channel() as channel:
        client = Client(gateway, channel)
        for request in bad:
            with pytest.raises(aio.AioRpcError) as caught:
                await client.complete(request)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        with pytest.raises(aio.AioRpcError) as caught:
            await client.complete(complete_request("no-such-model"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.timeout(300)
async def test_thousand_concurrent_calls_leave_exactly_one_record_each(
    gateway: RunningServer,
) -> None:
    async with gateway.channel() as channel:
        client = Client(gateway, channel)
        # A generous deadline: this is about exact records, not speed.
        responses = await asyncio.gather(
            *(
                client.complete(complete_request(text=f"Call {i}"), timeout=280)
                for i in range(1000)
            )
        )
    database = Database(gateway.database_url)
    try:
        async with database.sessions() as session:
            count, tokens_in, tokens_out, cost = (
                await session.execute(
                    select(
                        func.count(),
                        func.sum(UsageRow.input_tokens),
                        func.sum(UsageRow.output_tokens),
                        func.sum(UsageRow.cost_micros),
                    )
                )
            ).one()
            ids = set((await session.execute(select(UsageRow.request_id))).scalars())
    finally:
        await database.dispose()
    assert count == 1000
    assert tokens_in == sum(r.usage.input_tokens for r in responses)
    assert tokens_out == sum(r.usage.output_tokens for r in responses)
    assert cost == sum(r.usage.cost_micros for r in responses)
    assert ids == {r.request_id for r in responses}
