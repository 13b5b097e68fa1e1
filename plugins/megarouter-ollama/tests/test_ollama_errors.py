"""How Ollama's errors and transport faults reach the caller."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from megarouter_ollama.adapter import OllamaAdapter
from megarouter_ollama.fake import FakeOllama

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
)
from megarouter.testing.fakes import FailureKind

REQUEST = ChatRequest("llama-fake:8b", [Message.text(Role.USER, "Hi")])

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
    adapter: OllamaAdapter,
    fake: FakeOllama,
    kind: FailureKind,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(error) as caught:
        await adapter.complete(REQUEST)

    assert type(caught.value) is error
    assert caught.value.retryable is retryable
    assert caught.value.provider == "ollama-fake"


@pytest.mark.parametrize(("kind", "error", "retryable"), KINDS)
async def test_stream_classifies_each_documented_error(
    adapter: OllamaAdapter,
    fake: FakeOllama,
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
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=17)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retry_after == 17.0
    assert caught.value.status == 429


async def test_full_queue_503_is_retryable_overloaded(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.fail_next(FailureKind.OVERLOADED)

    with pytest.raises(ProviderOverloaded, match="server busy") as caught:
        await adapter.complete(REQUEST)

    assert caught.value.status == 503


async def test_unknown_model_is_a_final_not_found(adapter: OllamaAdapter) -> None:
    request = ChatRequest("missing-model", REQUEST.messages)

    with pytest.raises(ProviderNotFound, match="try pulling it first") as caught:
        await adapter.complete(request)

    assert not caught.value.retryable
    assert caught.value.status == 404


async def test_error_line_midway_through_a_stream_is_a_server_error(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.error_after = 2
    received = []

    with pytest.raises(ProviderServerError, match="while running the model"):
        async for chunk in adapter.stream(REQUEST):
            received.append(chunk.content)

    assert "".join(received) == "Hello! I "


async def test_stream_line_that_is_not_json_is_a_response_error(
    adapter: OllamaAdapter, http_server: FakeHTTPServer
) -> None:
    def broken(request: FakeRequest) -> FakeResponse:
        return FakeResponse(200, chunks=['{"model": "x", "mess\n'])

    http_server.route("POST", "/api/chat", broken)

    with pytest.raises(ProviderResponseError):
        await drain(adapter.stream(REQUEST))


async def test_proxy_key_is_sent_as_bearer_and_a_wrong_one_refused(
    http_server: FakeHTTPServer,
) -> None:
    fake = FakeOllama(api_key="proxy-key", server=http_server)
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        good = OllamaAdapter(spec, fake.credential(), client)
        bad = OllamaAdapter(spec, Credential("wrong"), client)

        await good.complete(REQUEST)
        sent = http_server.requests[-1].headers["authorization"]
        with pytest.raises(ProviderAuthError, match="unauthorized"):
            await bad.complete(REQUEST)

    assert sent == "Bearer proxy-key"


async def test_connection_refused_is_a_retryable_connection_error(
    fake: FakeOllama,
) -> None:
    spec = fake.provider_spec()
    spec = type(spec)(
        spec.name, spec.family, base_url=f"http://127.0.0.1:{free_port()}"
    )
    async with new_client(spec) as client:
        adapter = OllamaAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderConnectionError) as caught:
            await adapter.complete(REQUEST)

    assert caught.value.retryable


async def test_slow_answer_times_out_as_retryable_timeout(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.response_delay = 1.0
    slow = ChatRequest("llama-fake:8b", REQUEST.messages, timeout=0.2)

    with pytest.raises(ProviderTimeout) as caught:
        await adapter.complete(slow)

    assert caught.value.retryable


async def test_stalled_stream_times_out_as_retryable_timeout(
    fake: FakeOllama,
) -> None:
    fake.stream_pause = 1.0
    spec = fake.provider_spec()
    async with new_client(spec, read_timeout=0.2) as client:
        adapter = OllamaAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderTimeout):
            await drain(adapter.stream(REQUEST))


async def test_body_that_is_not_json_is_a_retryable_response_error(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.malformed_next = True

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retryable


async def test_stream_that_ends_before_its_done_object_is_a_response_error(
    adapter: OllamaAdapter, http_server: FakeHTTPServer
) -> None:
    def short(request: FakeRequest) -> FakeResponse:
        line = {
            "model": "llama-fake:8b",
            "message": {"role": "assistant", "content": "Hi"},
            "done": False,
        }
        return FakeResponse(200, chunks=[json.dumps(line) + "\n"])

    http_server.route("POST", "/api/chat", short)

    with pytest.raises(ProviderResponseError, match="before its done object"):
        await drain(adapter.stream(REQUEST))
