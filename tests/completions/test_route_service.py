"""RouteService explains decisions; Complete follows them; feedback teaches."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2
from grpc import aio

from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as admin_api
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as completion
from megarouter.v1 import completion_service_pb2_grpc as completion_grpc
from megarouter.v1 import route_service_pb2 as api
from megarouter.v1 import route_service_pb2_grpc as api_grpc
from tests.admin.support import Admin, auth
from tests.completions.conftest import EMBEDDING, MODEL


def user(text: str) -> chat.ChatMessage:
    return chat.ChatMessage(
        role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text=text)]
    )


async def route(server: RunningServer, request: api.RouteRequest) -> api.RouteResponse:
    async with server.channel() as channel:
        stub = api_grpc.RouteServiceStub(channel)
        return await stub.Route(request, metadata=auth(server.admin_key), timeout=30)


async def test_route_ranks_candidates_and_explains_every_drop(
    gateway: RunningServer,
) -> None:
    response = await route(
        gateway,
        api.RouteRequest(
            model="auto",
            messages=[user("Classify this review as positive or negative: great!")],
            routing=chat.RoutingHints(max_cost_micros=1_000_000),
        ),
    )
    ranked = [c.model for c in response.candidates]
    assert set(ranked) == {
        f"fake-a/{MODEL}",
        f"fake-b/{MODEL}",
        "fake-dead/gpt-4o-mini-dead",
    }
    assert response.summary.task_type == "classification"
    assert response.summary.reason.startswith(ranked[0])
    assert response.quality_model == "learned"
    assert response.input_tokens > 0
    for candidate in response.candidates:
        assert 0 < candidate.predicted_quality < 1
        assert candidate.estimated_cost_micros > 0
    # The fakes' embedding models are not chat models: not considered.
    assert not any("embedding" in d.model for d in response.dropped)


async def test_route_drops_with_reasons_for_caps_and_capabilities(
    gateway: RunningServer,
) -> None:
    parameters = struct_pb2.Struct()
    parameters.update({"type": "object", "properties": {}})
    capped = await route(
        gateway,
        api.RouteRequest(
            model=MODEL,
            messages=[user("hi")],
            routing=chat.RoutingHints(max_cost_micros=1, min_quality=0.0),
            max_tokens=10_000,
        ),
    )
    assert not capped.candidates
    reasons = {d.model: d.reason for d in capped.dropped}
    assert reasons[f"fake-a/{MODEL}"] == api.DROP_REASON_ABOVE_COST_CAP
    assert reasons[f"fake-b/{MODEL}"] == api.DROP_REASON_ABOVE_COST_CAP
    # The real catalog serves the model too, but nobody configured it here.
    assert reasons[f"openai/{MODEL}"] == api.DROP_REASON_NOT_CONFIGURED

    embedding = await route(
        gateway, api.RouteRequest(model=EMBEDDING, messages=[user("hi")])
    )
    assert [d.reason for d in embedding.dropped] == [api.DROP_REASON_WRONG_MODE] * len(
        embedding.dropped
    )
    assert not embedding.candidates


async def test_complete_auto_follows_the_route_decision(gateway: RunningServer) -> None:
    prompt = [user("Write a haiku about routers.")]
    decided = await route(gateway, api.RouteRequest(model="auto", messages=prompt))
    async with gateway.channel() as channel:
        stub = completion_grpc.CompletionServiceStub(channel)
        answered = await stub.Complete(
            completion.CompleteRequest(model="auto", messages=prompt),
            metadata=auth(gateway.admin_key),
        )
    assert answered.model == decided.candidates[0].model
    assert answered.route.reason == decided.summary.reason


async def test_list_available_models_shows_what_the_key_may_use(
    gateway: RunningServer, admin: Admin
) -> None:
    async with gateway.channel() as channel:
        stub = api_grpc.RouteServiceStub(channel)
        listed = await stub.ListAvailableModels(
            api.ListAvailableModelsRequest(mode="chat"),
            metadata=auth(gateway.admin_key),
        )
        ids = [m.model for m in listed.models]
        assert f"fake-a/{MODEL}" in ids and f"fake-b/{MODEL}" in ids
        assert all(
            m.mode == "chat" and m.input_price_per_mtok_micros > 0
            for m in listed.models
        )

        await admin.DisableModel(
            admin_api.DisableModelRequest(name=f"orgs/default/models/fake-b/{MODEL}")
        )
        gateway.runtime.components.routes._catalogs.invalidate()  # type: ignore[attr-defined]
        after = await stub.ListAvailableModels(
            api.ListAvailableModelsRequest(mode="chat"),
            metadata=auth(gateway.admin_key),
        )
        assert f"fake-b/{MODEL}" not in [m.model for m in after.models]

        with pytest.raises(aio.AioRpcError) as caught:
            await stub.ListAvailableModels(
                api.ListAvailableModelsRequest(mode="audio"),
                metadata=auth(gateway.admin_key),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_feedback_changes_later_decisions(gateway: RunningServer) -> None:
    prompt = [user("Tell me something nice.")]
    fakes = {f"fake-a/{MODEL}", f"fake-b/{MODEL}"}
    before = await route(gateway, api.RouteRequest(model="auto", messages=prompt))
    first, second = [c.model for c in before.candidates if c.model in fakes]

    async with gateway.channel() as channel:
        stub = completion_grpc.CompletionServiceStub(channel)
        metadata = auth(gateway.admin_key)
        # Callers keep scoring the first choice's answers badly and the
        # second's well, for this kind of task.
        for model, score in ((first, 0.0), (second, 1.0)):
            for _ in range(15):
                answer = await stub.Complete(
                    completion.CompleteRequest(model=model, messages=prompt),
                    metadata=metadata,
                )
                scored = await stub.SubmitFeedback(
                    completion.SubmitFeedbackRequest(
                        request_id=answer.request_id, score=score, label="test"
                    ),
                    metadata=metadata,
                )
                assert scored.model == model

    after = await route(gateway, api.RouteRequest(model="auto", messages=prompt))
    assert [c.model for c in after.candidates if c.model in fakes] == [second, first]
    by_model = {c.model: c.predicted_quality for c in after.candidates}
    assert by_model[second] > by_model[first]


async def test_feedback_for_unknown_answer_or_bad_score_is_refused(
    gateway: RunningServer,
) -> None:
    async with gateway.channel() as channel:
        stub = completion_grpc.CompletionServiceStub(channel)
        metadata = auth(gateway.admin_key)
        with pytest.raises(aio.AioRpcError) as missing:
            await stub.SubmitFeedback(
                completion.SubmitFeedbackRequest(request_id="nope", score=1.0),
                metadata=metadata,
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        answer = await stub.Complete(
            completion.CompleteRequest(model=MODEL, messages=[user("x")]),
            metadata=metadata,
        )
        with pytest.raises(aio.AioRpcError) as bad:
            await stub.SubmitFeedback(
                completion.SubmitFeedbackRequest(request_id=answer.request_id, score=3),
                metadata=metadata,
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
