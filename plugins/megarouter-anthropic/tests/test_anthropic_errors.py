"""How Anthropic's errors and transport faults reach the caller."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from megarouter_anthropic.adapter import AnthropicAdapter
from megarouter_anthropic.fake import FakeAnthropic

from megarouter.errors import (
    ContextTooLong,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeout,
)
from megarouter.providers.http import new_client
from megarouter.providers.spec import AuthScheme, Credential
from megarouter.providers.types import ChatRequest, Message, Role
from megarouter.testing.fake_http import (
    FakeHTTPServer,
    FakeRequest,
    FakeResponse,
    free_port,
    sse,
)
from megarouter.testing.fakes import FailureKind

REQUEST = ChatRequest("claude-fake-1", [Message.text(Role.USER, "Hi")])

KINDS = [
    (FailureKind.RATE_LIMITED, ProviderRateLimited, True),
    (FailureKind.SERVER_ERROR, ProviderServerError, True),
    (FailureKind.OVERLOADED, ProviderOverloaded, True),
    (FailureKind.AUTH, ProviderAuthError, False),
    (FailureKind.BAD_REQUEST, ProviderBadRequest, False),
    (FailureKind.CONTEXT_TOO_LONG, ContextTooLong, False),
]


async def drain(stream: AsyncIterator[object]) -> None:
    async for _ in stream:
        pass


@pytest.mark.parametrize(("kind", "error", "retryable"), KINDS)
async def test_complete_classifies_each_documented_error(
    adapter: AnthropicAdapter,
    fake: FakeAnthropic,
    kind: FailureKind,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(error) as caught:
        await adapter.complete(REQUEST)

    assert type(caught.value) is error
    assert caught.value.retryable is retryable
    assert caught.value.provider == "anthropic-fake"


@pytest.mark.parametrize(("kind", "error", "retryable"), KINDS)
async def test_stream_classifies_each_documented_error(
    adapter: AnthropicAdapter,
    fake: FakeAnthropic,
    kind: FailureKind,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(error) as caught:
        await drain(adapter.stream(REQUEST))

    assert type(caught.value) is error
    assert caught.value.retryable is retryable


async def test_rate_limit_carries_retry_after_seconds(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=17)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retry_after == 17.0
    assert caught.value.status == 429
    assert caught.value.details["type"] == "rate_limit_error"


async def test_overloaded_529_is_retryable_overloaded(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.fail_next(FailureKind.OVERLOADED)

    with pytest.raises(ProviderOverloaded) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.status == 529
    assert "Overloaded" in str(caught.value)


async def test_request_too_large_413_is_a_final_bad_request(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.fail_next_with(413, "request_too_large", "Request exceeds the maximum size")

    with pytest.raises(ProviderBadRequest) as caught:
        await adapter.complete(REQUEST)

    assert not caught.value.retryable
    assert caught.value.status == 413


async def test_wrong_api_key_is_refused_as_auth_error(fake: FakeAnthropic) -> None:
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        adapter = AnthropicAdapter(spec, Credential("sk-ant-wrong"), client)
        with pytest.raises(ProviderAuthError, match="invalid x-api-key"):
            await adapter.complete(REQUEST)


async def test_connection_refused_is_a_retryable_connection_error(
    fake: FakeAnthropic,
) -> None:
    spec = fake.provider_spec()
    spec = type(spec)(
        spec.name, spec.family, base_url=f"http://127.0.0.1:{free_port()}"
    )
    async with new_client(spec) as client:
        adapter = AnthropicAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderConnectionError) as caught:
            await adapter.complete(REQUEST)

    assert caught.value.retryable


async def test_slow_answer_times_out_as_retryable_timeout(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.response_delay = 1.0
    slow = ChatRequest("claude-fake-1", REQUEST.messages, timeout=0.2)

    with pytest.raises(ProviderTimeout) as caught:
        await adapter.complete(slow)

    assert caught.value.retryable


async def test_stalled_stream_times_out_as_retryable_timeout(
    fake: FakeAnthropic,
) -> None:
    fake.stream_pause = 1.0
    spec = fake.provider_spec()
    async with new_client(spec, read_timeout=0.2) as client:
        adapter = AnthropicAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderTimeout):
            await drain(adapter.stream(REQUEST))


async def test_body_that_is_not_json_is_a_retryable_response_error(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.malformed_next = True

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retryable


async def test_stream_event_that_is_not_json_is_a_response_error(
    adapter: AnthropicAdapter, http_server: FakeHTTPServer
) -> None:
    def broken(request: FakeRequest) -> FakeResponse:
        return FakeResponse(200, chunks=["event: message_start\ndata: {oops\n\n"])

    http_server.route("POST", "/v1/messages", broken)

    with pytest.raises(ProviderResponseError):
        await drain(adapter.stream(REQUEST))


async def test_stream_that_ends_before_message_stop_is_a_response_error(
    adapter: AnthropicAdapter, http_server: FakeHTTPServer
) -> None:
    def short(request: FakeRequest) -> FakeResponse:
        start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        return FakeResponse(200, chunks=[sse(start, "content_block_start")])

    http_server.route("POST", "/v1/messages", short)

    with pytest.raises(ProviderResponseError, match="before message_stop") as caught:
        await drain(adapter.stream(REQUEST))

    assert caught.value.retryable


async def test_bearer_auth_spec_sends_an_authorization_header(
    fake: FakeAnthropic,
) -> None:
    spec = dataclasses.replace(fake.provider_spec(), auth=AuthScheme.BEARER)
    async with new_client(spec) as client:
        adapter = AnthropicAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderAuthError):  # the fake wants x-api-key
            await adapter.complete(REQUEST)

    sent = fake.server.requests[-1].headers
    assert sent["authorization"] == f"Bearer {fake.api_key}"
    assert "x-api-key" not in sent
