"""How Cohere's errors and transport faults reach the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from megarouter_cohere.adapter import CohereAdapter
from megarouter_cohere.fake import FakeCohere

from megarouter.errors import (
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
from megarouter.providers.types import ChatRequest, Message, Role
from megarouter.testing.fake_http import (
    FakeHTTPServer,
    FakeRequest,
    FakeResponse,
    free_port,
    sse,
)
from megarouter.testing.fakes import FailureKind

REQUEST = ChatRequest("command-fake", [Message.text(Role.USER, "Hi")])

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
    adapter: CohereAdapter,
    fake: FakeCohere,
    kind: FailureKind,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(error) as caught:
        await adapter.complete(REQUEST)

    assert type(caught.value) is error
    assert caught.value.retryable is retryable
    assert caught.value.provider == "cohere-fake"


@pytest.mark.parametrize(("kind", "error", "retryable"), KINDS)
async def test_stream_classifies_each_documented_error(
    adapter: CohereAdapter,
    fake: FakeCohere,
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
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=17)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retry_after == 17.0
    assert caught.value.status == 429


async def test_service_unavailable_503_is_retryable_overloaded(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.fail_next(FailureKind.OVERLOADED)

    with pytest.raises(ProviderOverloaded) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.status == 503


async def test_error_body_with_an_id_keeps_the_message(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.fail_next(FailureKind.SERVER_ERROR)

    with pytest.raises(ProviderServerError, match="internal server error") as caught:
        await adapter.complete(REQUEST)

    assert caught.value.status == 500


async def test_payment_required_402_is_a_final_auth_error(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.fail_next_with(402, "Please add a payment method to continue.")

    with pytest.raises(ProviderAuthError, match="payment method") as caught:
        await adapter.complete(REQUEST)

    assert not caught.value.retryable
    assert caught.value.status == 402


async def test_not_found_404_is_a_final_not_found(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.fail_next_with(404, "model 'command-x' not found")

    with pytest.raises(ProviderNotFound) as caught:
        await adapter.complete(REQUEST)

    assert not caught.value.retryable


async def test_wrong_api_key_is_refused_as_auth_error(fake: FakeCohere) -> None:
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        adapter = CohereAdapter(spec, Credential("co-wrong"), client)
        with pytest.raises(ProviderAuthError, match="invalid api token"):
            await adapter.complete(REQUEST)


async def test_connection_refused_is_a_retryable_connection_error(
    fake: FakeCohere,
) -> None:
    spec = fake.provider_spec()
    spec = type(spec)(
        spec.name, spec.family, base_url=f"http://127.0.0.1:{free_port()}"
    )
    async with new_client(spec) as client:
        adapter = CohereAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderConnectionError) as caught:
            await adapter.complete(REQUEST)

    assert caught.value.retryable


async def test_slow_answer_times_out_as_retryable_timeout(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.response_delay = 1.0
    slow = ChatRequest("command-fake", REQUEST.messages, timeout=0.2)

    with pytest.raises(ProviderTimeout) as caught:
        await adapter.complete(slow)

    assert caught.value.retryable


async def test_stalled_stream_times_out_as_retryable_timeout(
    fake: FakeCohere,
) -> None:
    fake.stream_pause = 1.0
    spec = fake.provider_spec()
    async with new_client(spec, read_timeout=0.2) as client:
        adapter = CohereAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderTimeout):
            await drain(adapter.stream(REQUEST))


async def test_body_that_is_not_json_is_a_retryable_response_error(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.malformed_next = True

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retryable


async def test_stream_event_that_is_not_json_is_a_response_error(
    adapter: CohereAdapter, http_server: FakeHTTPServer
) -> None:
    def broken(request: FakeRequest) -> FakeResponse:
        return FakeResponse(200, chunks=["event: content-delta\ndata: {oops\n\n"])

    http_server.route("POST", "/v2/chat", broken)

    with pytest.raises(ProviderResponseError):
        await drain(adapter.stream(REQUEST))


async def test_stream_that_ends_before_message_end_is_a_response_error(
    adapter: CohereAdapter, http_server: FakeHTTPServer
) -> None:
    def short(request: FakeRequest) -> FakeResponse:
        delta = {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"text": "Hi"}}},
        }
        return FakeResponse(200, chunks=[sse(delta, "content-delta")])

    http_server.route("POST", "/v2/chat", short)

    with pytest.raises(ProviderResponseError, match="before message-end"):
        await drain(adapter.stream(REQUEST))
