"""Bedrock's errors, signature failures and transport faults, classified."""

from __future__ import annotations

import dataclasses

import pytest
from megarouter_bedrock.adapter import DEFAULT_BASE_URL, BedrockAdapter
from megarouter_bedrock.fake import FakeBedrock, aws_error_response

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
from megarouter.providers.types import ChatRequest, Message
from megarouter.testing.fake_http import FakeResponse, free_port
from megarouter.testing.fakes import FailureKind


def chat(fake: FakeBedrock, text: str = "Hello") -> ChatRequest:
    return ChatRequest(model=fake.chat_model, messages=[Message.text("user", text)])


async def call(adapter: BedrockAdapter, request: ChatRequest, streaming: bool) -> None:
    if streaming:
        [chunk async for chunk in adapter.stream(request)]
    else:
        await adapter.complete(request)


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
    fake: FakeBedrock,
    adapter: BedrockAdapter,
    kind: FailureKind,
    expected: type[ProviderError],
    retryable: bool,
    streaming: bool,
) -> None:
    fake.fail_next(kind)

    with pytest.raises(expected) as caught:
        await call(adapter, chat(fake), streaming)

    assert caught.value.retryable is retryable
    assert caught.value.provider == "fake-bedrock"


@pytest.mark.parametrize(
    ("status", "error_type", "message", "expected"),
    [
        (
            429,
            "ModelNotReadyException",
            "Model is not ready for inference.",
            ProviderOverloaded,
        ),
        (
            408,
            "ModelTimeoutException",
            "Model has timed out in processing.",
            ProviderTimeout,
        ),
        (
            424,
            "ModelErrorException",
            "The model returned an error.",
            ProviderServerError,
        ),
        (
            400,
            "ServiceQuotaExceededException",
            "Daily token quota reached.",
            ProviderRateLimited,
        ),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model.",
            ProviderAuthError,
        ),
        (404, "ResourceNotFoundException", "Model not found.", ProviderNotFound),
        (
            403,
            "ExpiredTokenException",
            "The security token included in the request is expired",
            ProviderAuthError,
        ),
    ],
)
async def test_bedrock_error_type_decides_the_class(
    fake: FakeBedrock,
    adapter: BedrockAdapter,
    status: int,
    error_type: str,
    message: str,
    expected: type[ProviderError],
) -> None:
    fake.fail_next_with(aws_error_response(status, error_type, message))

    with pytest.raises(expected) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.status == status
    assert caught.value.details["type"] == error_type
    assert message in caught.value.message


async def test_throttling_carries_retry_after_header(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=12)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retry_after == 12.0
    assert caught.value.status == 429


async def test_error_named_only_in_body_type_is_classified(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    body = {
        "__type": "com.amazon.coral.service#UnrecognizedClientException",
        "Message": "The security token included in the request is invalid.",
    }
    fake.fail_next_with(FakeResponse(403, body))

    with pytest.raises(ProviderAuthError) as caught:
        await adapter.complete(chat(fake))

    assert "security token" in caught.value.message


async def test_prompt_longer_than_context_window_is_context_too_long(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.context_window = 3

    with pytest.raises(ContextTooLong) as caught:
        await adapter.complete(chat(fake, "far too many words for this"))

    assert "Input is too long" in caught.value.message


async def test_wrong_secret_fails_the_signature_check(fake: FakeBedrock) -> None:
    spec = fake.provider_spec()
    credential = Credential(
        api_key=fake.access_key, extra={"secret_access_key": "not-the-secret"}
    )
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, credential, client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert caught.value.details["type"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in caught.value.message


async def test_signature_scoped_to_another_region_is_refused(fake: FakeBedrock) -> None:
    spec = dataclasses.replace(fake.provider_spec(), options={"region": "eu-west-1"})
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert "scoped to a valid region" in caught.value.message


async def test_unknown_access_key_is_unrecognized_client(fake: FakeBedrock) -> None:
    spec = fake.provider_spec()
    credential = Credential(
        api_key="AKIAUNKNOWN", extra={"secret_access_key": fake.secret_key}
    )
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, credential, client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert caught.value.details["type"] == "UnrecognizedClientException"


async def test_missing_secret_fails_before_sending(fake: FakeBedrock) -> None:
    spec = fake.provider_spec()
    before = len(fake.server.requests)
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, Credential(api_key=fake.access_key), client)
        with pytest.raises(ProviderAuthError):
            await adapter.complete(chat(fake))

    assert len(fake.server.requests) == before


async def test_sigv4_without_region_fails_every_call_before_sending(
    fake: FakeBedrock,
) -> None:
    spec = dataclasses.replace(fake.provider_spec(), options={})
    before = len(fake.server.requests)
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert "needs a region" in caught.value.message
    assert not caught.value.retryable
    assert len(fake.server.requests) == before


async def test_regional_base_url_without_region_fails_before_sending(
    fake: FakeBedrock,
) -> None:
    spec = dataclasses.replace(
        fake.provider_spec(), base_url=DEFAULT_BASE_URL, options={}
    )
    credential = Credential(api_key=fake.api_key, extra={"auth": "bearer"})
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, credential, client)
        with pytest.raises(ProviderAuthError) as caught:
            await adapter.complete(chat(fake))

    assert "needs a region" in caught.value.message


async def test_unknown_model_id_is_a_final_bad_request(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    request = ChatRequest(model="acme.nope-v1:0", messages=[Message.text("user", "Hi")])

    with pytest.raises(ProviderBadRequest) as caught:
        await adapter.complete(request)

    assert "model identifier is invalid" in caught.value.message


async def test_malformed_body_is_a_retryable_response_error(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.fail_next_with(
        FakeResponse(200, b"<html>Service Unavailable</html>", content_type="text/html")
    )

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_refused_connection_is_a_connection_error(fake: FakeBedrock) -> None:
    spec = dataclasses.replace(
        fake.provider_spec(), base_url=f"http://127.0.0.1:{free_port()}"
    )
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderConnectionError) as caught:
            await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_slow_answer_is_a_timeout() -> None:
    # A server of its own: the slow answer outlives the test.
    with FakeBedrock() as fake:
        fake.delay = 1.0
        spec = fake.provider_spec()
        async with new_client(spec, read_timeout=0.1) as client:
            adapter = BedrockAdapter(spec, fake.credential(), client)
            with pytest.raises(ProviderTimeout) as caught:
                await adapter.complete(chat(fake))

    assert caught.value.retryable


async def test_request_timeout_bounds_a_slow_stream() -> None:
    with FakeBedrock(reply_text="slow words arrive", stream_pause=1.0) as fake:
        request = ChatRequest(
            model=fake.chat_model, messages=[Message.text("user", "Hi")], timeout=0.1
        )
        spec = fake.provider_spec()
        async with new_client(spec) as client:
            adapter = BedrockAdapter(spec, fake.credential(), client)
            with pytest.raises(ProviderTimeout):
                [chunk async for chunk in adapter.stream(request)]


async def test_answer_of_the_wrong_shape_is_a_response_error(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, {"output": {"message": {"content": 3}}}))

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(chat(fake))

    assert caught.value.retryable
