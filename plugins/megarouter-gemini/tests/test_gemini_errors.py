"""Gemini's errors and transport faults, as MegaRouter errors."""

from __future__ import annotations

import dataclasses

import pytest
from megarouter_gemini.adapter import GeminiAdapter
from megarouter_gemini.fake import FakeGemini, google_error

from megarouter.errors import (
    ContentFiltered,
    ContextTooLong,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeout,
)
from megarouter.providers.http import new_client
from megarouter.providers.spec import Credential
from megarouter.providers.types import ChatRequest, FinishReason, Message
from megarouter.testing.fake_http import FakeResponse, free_port
from megarouter.testing.fakes import FailureKind


def chat(fake: FakeGemini, text: str = "Hello") -> ChatRequest:
    return ChatRequest(model=fake.chat_model, messages=[Message.text("user", text)])


@pytest.mark.parametrize(
    ("kind", "expected", "retryable"),
    [
        (FailureKind.RATE_LIMITED, ProviderRateLimited, True),
        (FailureKind.SERVER_ERROR, ProviderServerError, True),
        (FailureKind.OVERLOADED, ProviderOverloaded, True),
        (FailureKind.AUTH, ProviderAuthError, False),
        (FailureKind.BAD_REQUEST, ProviderBadRequest, False),
        (FailureKind.CONTEXT_TOO_LONG, ContextTooLong, False),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_failure_is_classified_by_kind(
    fake: FakeGemini,
    adapter: GeminiAdapter,
    kind: FailureKind,
    expected: type[ProviderError],
    retryable: bool,
    streaming: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(expected) as caught:
        if streaming:
            [chunk async for chunk in adapter.stream(chat(fake))]
        else:
            await adapter.complete(chat(fake))

    assert caught.value.retryable is retryable
    assert caught.value.provider == "fake-gemini"


async def test_rate_limit_carries_retry_delay_from_retry_info(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=30)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retry_after == 30.0
    assert caught.value.status == 429
    assert "exceeded your current quota" in caught.value.message


async def test_retry_after_header_wins_over_retry_info(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    response = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}],
    )
    response.headers = {"retry-after": "7"}
    fake.fail_next_with(response)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retry_after == 7.0


async def test_overloaded_model_is_retryable_overload(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next(FailureKind.OVERLOADED)

    with pytest.raises(ProviderOverloaded) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.status == 503
    assert "overloaded" in caught.value.message


async def test_wrong_api_key_is_an_auth_error_despite_status_400(
    fake: FakeGemini,
) -> None:
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, Credential(api_key="wrong"), client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert caught.value.status == 400
    assert "API key not valid" in caught.value.message


async def test_missing_api_key_is_permission_denied(fake: FakeGemini) -> None:
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, None, client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert caught.value.status == 403
    assert caught.value.details["type"] == "PERMISSION_DENIED"


async def test_unknown_model_is_not_found(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    request = ChatRequest(
        model="gemini-0.1-nope", messages=[Message.text("user", "Hi")]
    )

    with pytest.raises(ProviderNotFound) as caught:
        await adapter.complete(request)

    assert not caught.value.retryable


async def test_prompt_longer_than_context_window_is_context_too_long(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.context_window = 3

    with pytest.raises(ContextTooLong) as caught:
        await adapter.complete(chat(fake, "far too many words for this"))

    assert "exceeds the maximum number of tokens" in caught.value.message


async def test_gateway_deadline_is_a_timeout(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next_with(
        google_error(
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
        )
    )

    with pytest.raises(ProviderTimeout) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_blocked_prompt_raises_content_filtered(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    blocked = {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
            ],
        },
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    }
    fake.fail_next_with(FakeResponse(200, blocked))

    with pytest.raises(ContentFiltered) as caught:
        await adapter.complete(chat(fake))

    assert not caught.value.retryable
    assert caught.value.details["block_reason"] == "SAFETY"


async def test_safety_finish_reason_is_content_filter(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    stopped = {
        "candidates": [{"finishReason": "SAFETY", "index": 0}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 0},
    }
    fake.fail_next_with(FakeResponse(200, stopped))

    response = await adapter.complete(chat(fake))

    assert response.finish_reason is FinishReason.CONTENT_FILTER
    assert response.content == ""


async def test_malformed_body_is_a_retryable_response_error(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next_with(
        FakeResponse(200, b"<html>502 Bad Gateway</html>", content_type="text/html")
    )

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_refused_connection_is_a_connection_error(fake: FakeGemini) -> None:
    spec = fake.provider_spec()
    spec = dataclasses.replace(spec, base_url=f"http://127.0.0.1:{free_port()}")
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderConnectionError) as caught:
            await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_slow_answer_is_a_timeout() -> None:
    # A server of its own: the slow answer outlives the test.
    with FakeGemini() as fake:
        fake.delay = 1.0
        spec = fake.provider_spec()
        async with new_client(spec, read_timeout=0.1) as client:
            adapter = GeminiAdapter(spec, fake.credential(), client)
            with pytest.raises(ProviderTimeout) as caught:
                await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_request_timeout_bounds_a_slow_stream() -> None:
    with FakeGemini(reply_text="slow words arrive", stream_pause=1.0) as fake:
        request = ChatRequest(
            model=fake.chat_model, messages=[Message.text("user", "Hi")], timeout=0.1
        )
        spec = fake.provider_spec()
        async with new_client(spec) as client:
            adapter = GeminiAdapter(spec, fake.credential(), client)
            with pytest.raises(ProviderTimeout):
                [chunk async for chunk in adapter.stream(request)]


async def test_answer_of_the_wrong_shape_is_a_response_error(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, {"candidates": [{"content": {"parts": 7}}]}))

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_vertex_path_without_project_fails_every_call_before_sending(
    fake: FakeGemini,
) -> None:
    prefix = "/v1/projects/{project}/locations/global/publishers/google"
    spec = dataclasses.replace(
        fake.provider_spec(), options={"project": "", "path_prefix": prefix}
    )
    before = len(fake.server.requests)
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert "'project'" in caught.value.message
    assert not caught.value.retryable
    assert len(fake.server.requests) == before
