"""How the OpenAI adapter reports upstream errors and transport faults."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from megarouter_openai.adapter import OpenAIAdapter
from megarouter_openai.fake import Fault, OpenAIFake

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
from megarouter.providers.spec import Credential, ProviderSpec
from megarouter.providers.types import ChatRequest, EmbeddingRequest, Message
from megarouter.testing.fake_http import free_port
from megarouter.testing.fakes import FailureKind

REQUEST = ChatRequest(model="gpt-4o-mini", messages=[Message.text("user", "Hi")])

FAILURES = [
    (FailureKind.RATE_LIMITED, ProviderRateLimited, True),
    (FailureKind.SERVER_ERROR, ProviderServerError, True),
    (FailureKind.OVERLOADED, ProviderOverloaded, True),
    (FailureKind.AUTH, ProviderAuthError, False),
    (FailureKind.BAD_REQUEST, ProviderBadRequest, False),
    (FailureKind.CONTEXT_TOO_LONG, ContextTooLong, False),
]


async def drain(adapter: OpenAIAdapter, request: ChatRequest = REQUEST) -> str:
    return "".join([chunk.content async for chunk in adapter.stream(request)])


@pytest.mark.parametrize(("kind", "error", "retryable"), FAILURES)
async def test_complete_classifies_failure_when_fake_fails(
    adapter: OpenAIAdapter,
    fake: OpenAIFake,
    kind: FailureKind,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(error) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retryable is retryable
    assert caught.value.provider == "openai-fake"
    assert caught.value.status == fake.failure_response(kind).status


@pytest.mark.parametrize(("kind", "error", "retryable"), FAILURES)
async def test_stream_classifies_failure_before_first_chunk(
    adapter: OpenAIAdapter,
    fake: OpenAIFake,
    kind: FailureKind,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(error) as caught:
        await drain(adapter)

    assert caught.value.retryable is retryable


async def test_rate_limit_carries_retry_after_seconds(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=7)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retry_after == 7.0
    assert caught.value.details["code"] == "rate_limit_exceeded"


async def test_embed_classifies_failure_when_fake_fails(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.fail_next(FailureKind.OVERLOADED, retry_after=2)

    with pytest.raises(ProviderOverloaded) as caught:
        await adapter.embed(EmbeddingRequest("text-embedding-3-small", ["x"]))

    assert caught.value.retry_after == 2.0


async def test_complete_raises_auth_error_when_key_is_wrong(fake: OpenAIFake) -> None:
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        adapter = OpenAIAdapter(spec, Credential(api_key="sk-wrong-key"), client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(REQUEST)

    assert caught.value.details["code"] == "invalid_api_key"
    assert "sk-wrong-key" not in str(caught.value)  # the fake masks keys too


async def test_complete_raises_not_found_when_model_is_unknown(
    adapter: OpenAIAdapter,
) -> None:
    with pytest.raises(ProviderNotFound) as caught:
        await adapter.complete(replace(REQUEST, model="gpt-9"))

    assert caught.value.details["code"] == "model_not_found"
    assert not caught.value.retryable


async def test_complete_raises_connection_error_when_nothing_listens() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    spec = ProviderSpec(name="openai-fake", family="openai", base_url=url)
    async with new_client(spec) as client:
        adapter = OpenAIAdapter(spec, Credential("sk-x"), client)
        with pytest.raises(ProviderConnectionError) as caught:
            await adapter.complete(REQUEST)

    assert caught.value.retryable


async def test_complete_times_out_when_fake_answers_slowly(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.response_delay = 1.0

    with pytest.raises(ProviderTimeout) as caught:
        await adapter.complete(replace(REQUEST, timeout=0.2))

    assert caught.value.retryable


async def test_stream_times_out_when_chunks_stop_coming(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.stream_pause = 1.0

    with pytest.raises(ProviderTimeout):
        await drain(adapter, replace(REQUEST, timeout=0.2))


async def test_stream_raises_connection_error_when_cut_midway(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.break_next(Fault.CUT_STREAM)

    with pytest.raises(ProviderConnectionError):
        await drain(adapter)


async def test_complete_raises_connection_error_when_body_is_cut(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.break_next(Fault.CUT_STREAM)

    with pytest.raises(ProviderConnectionError):
        await adapter.complete(REQUEST)


async def test_stream_raises_response_error_when_it_ends_before_finishing(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.break_next(Fault.END_EARLY)

    with pytest.raises(ProviderResponseError) as caught:
        await drain(adapter)

    assert caught.value.retryable


async def test_stream_raises_mapped_error_when_error_event_arrives_midway(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.break_next(Fault.ERROR_EVENT)
    seen: list[str] = []

    with pytest.raises(ProviderServerError) as caught:
        async for chunk in adapter.stream(REQUEST):
            seen.append(chunk.content)

    assert "".join(seen)  # some text came before the error
    assert "server had an error" in str(caught.value)


async def test_complete_raises_mapped_error_when_200_body_is_an_error(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.break_next(Fault.ERROR_EVENT)

    with pytest.raises(ProviderServerError):
        await adapter.complete(REQUEST)


async def test_complete_raises_response_error_when_body_is_not_json(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.break_next(Fault.MALFORMED_BODY)

    with pytest.raises(ProviderResponseError):
        await adapter.complete(REQUEST)


async def test_stream_raises_response_error_when_event_is_not_json(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    fake.break_next(Fault.MALFORMED_BODY)

    with pytest.raises(ProviderResponseError):
        await drain(adapter)


async def test_closing_stream_early_hangs_up_on_the_provider() -> None:
    # A fake of its own: slow streams of other tests end late on the shared one.
    reply = " ".join(f"word{i}" for i in range(200))
    with OpenAIFake(reply_text=reply, stream_pause=0.01) as fake:
        spec = fake.provider_spec()
        async with new_client(spec) as client:
            stream = OpenAIAdapter(spec, fake.credential(), client).stream(REQUEST)
            first = await anext(stream)
            await stream.aclose()
            for _ in range(300):  # the fake notices on its next write
                if fake.server.disconnects:
                    break
                await asyncio.sleep(0.01)

        assert first.content == "word0 "
        assert fake.server.disconnects == 1
