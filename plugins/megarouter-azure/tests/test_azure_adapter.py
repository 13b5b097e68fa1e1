"""What Azure OpenAI does differently: URLs, api-version, auth, content filter."""

from __future__ import annotations

from dataclasses import replace

import pytest
from megarouter_azure.adapter import DEFAULT_API_VERSION, AzureOpenAIAdapter
from megarouter_azure.fake import AzureOpenAIFake

from megarouter.errors import (
    ContentFiltered,
    ProviderAuthError,
    ProviderNotFound,
    ProviderRateLimited,
)
from megarouter.providers.http import new_client
from megarouter.providers.spec import AuthScheme, Credential, ProviderSpec
from megarouter.providers.types import (
    ChatRequest,
    EmbeddingRequest,
    FinishReason,
    Message,
    Usage,
)
from megarouter.testing.fakes import FailureKind

REQUEST = ChatRequest(model="gpt-4o-mini", messages=[Message.text("user", "Hi")])


async def call_with(
    spec: ProviderSpec, credential: Credential, request: ChatRequest = REQUEST
) -> str:
    async with new_client(spec) as client:
        adapter = AzureOpenAIAdapter(spec, credential, client)
        return (await adapter.complete(request)).content


async def test_complete_posts_to_the_deployment_with_api_version_and_api_key(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    response = await adapter.complete(REQUEST)

    sent = fake.server.requests[-1]
    assert sent.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert sent.query == {"api-version": [DEFAULT_API_VERSION]}
    assert sent.headers["api-key"] == fake.api_key
    assert "authorization" not in sent.headers
    assert response.content == fake.reply_text
    assert response.usage == Usage(input_tokens=4, output_tokens=9)


async def test_complete_sends_the_api_version_the_spec_names(
    fake: AzureOpenAIFake,
) -> None:
    spec = replace(fake.provider_spec(), options={"api_version": "2025-01-01-preview"})

    await call_with(spec, fake.credential())

    assert fake.server.requests[-1].query["api-version"] == ["2025-01-01-preview"]


async def test_complete_uses_the_ga_version_when_the_spec_names_none(
    fake: AzureOpenAIFake,
) -> None:
    spec = replace(fake.provider_spec(), options={})

    await call_with(spec, fake.credential())

    assert fake.server.requests[-1].query["api-version"] == ["2024-10-21"]


async def test_complete_raises_not_found_when_api_version_is_unknown(
    fake: AzureOpenAIFake,
) -> None:
    spec = replace(fake.provider_spec(), options={"api_version": "2019-01-01"})

    with pytest.raises(ProviderNotFound) as caught:
        await call_with(spec, fake.credential())

    assert "Resource not found" in str(caught.value)


async def test_base_url_ending_in_openai_is_not_doubled(fake: AzureOpenAIFake) -> None:
    spec = replace(fake.provider_spec(), base_url=f"{fake.server.url}/openai/")

    await call_with(spec, fake.credential())

    path = fake.server.requests[-1].path
    assert path == "/openai/deployments/gpt-4o-mini/chat/completions"


async def test_complete_accepts_an_entra_id_bearer_token(fake: AzureOpenAIFake) -> None:
    spec = replace(fake.provider_spec(), auth=AuthScheme.BEARER, auth_header="")

    content = await call_with(spec, Credential(api_key="entra-token-for-tests"))

    sent = fake.server.requests[-1]
    assert sent.headers["authorization"] == "Bearer entra-token-for-tests"
    assert "api-key" not in sent.headers
    assert content == fake.reply_text


async def test_complete_raises_auth_error_when_api_key_is_wrong(
    fake: AzureOpenAIFake,
) -> None:
    with pytest.raises(ProviderAuthError) as caught:
        await call_with(fake.provider_spec(), Credential(api_key="not-the-key"))

    assert caught.value.details["code"] == "401"
    assert not caught.value.retryable


async def test_complete_raises_auth_error_when_entra_token_is_wrong(
    fake: AzureOpenAIFake,
) -> None:
    spec = replace(fake.provider_spec(), auth=AuthScheme.BEARER, auth_header="")

    with pytest.raises(ProviderAuthError) as caught:
        await call_with(spec, Credential(api_key="stale-token"))

    assert caught.value.details["code"] == "PermissionDenied"


async def test_complete_raises_not_found_when_deployment_is_unknown(
    adapter: AzureOpenAIAdapter,
) -> None:
    with pytest.raises(ProviderNotFound) as caught:
        await adapter.complete(replace(REQUEST, model="gpt-5-nowhere"))

    assert caught.value.details["code"] == "DeploymentNotFound"


async def test_rate_limit_in_azure_body_carries_retry_after(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=7)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retry_after == 7.0
    assert caught.value.retryable


async def test_filtered_prompt_raises_content_filtered(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    fake.filter_next_prompt()

    with pytest.raises(ContentFiltered) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.status == 400
    assert caught.value.details["code"] == "content_filter"
    assert not caught.value.retryable


async def test_filtered_prompt_raises_content_filtered_before_a_stream(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    fake.filter_next_prompt()

    with pytest.raises(ContentFiltered):
        [chunk async for chunk in adapter.stream(REQUEST)]


async def test_filtered_answer_raises_content_filtered(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    fake.filter_next_answer()

    with pytest.raises(ContentFiltered) as caught:
        await adapter.complete(REQUEST)

    assert not caught.value.retryable


async def test_filtered_answer_raises_content_filtered_in_a_stream(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    fake.filter_next_answer()
    seen: list[str] = []

    with pytest.raises(ContentFiltered):
        async for chunk in adapter.stream(REQUEST):
            seen.append(chunk.content)

    assert "".join(seen) == "The quick brown fox "  # what passed the filter


async def test_stream_skips_azure_prompt_filter_prelude(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    chunks = [chunk async for chunk in adapter.stream(REQUEST)]

    assert "".join(c.content for c in chunks) == fake.reply_text
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage == Usage(input_tokens=4, output_tokens=9)
    assert fake.server.requests[-1].query == {"api-version": [DEFAULT_API_VERSION]}


async def test_embed_posts_to_the_embedding_deployment(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    request = EmbeddingRequest("text-embedding-3-small", ["a b", "c"], dimensions=4)

    response = await adapter.embed(request)

    sent = fake.server.requests[-1]
    assert sent.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert sent.query == {"api-version": [DEFAULT_API_VERSION]}
    assert [len(v) for v in response.vectors] == [4, 4]
    assert response.usage == Usage(input_tokens=3)


async def test_deployment_names_are_escaped_in_the_url(
    adapter: AzureOpenAIAdapter, fake: AzureOpenAIFake
) -> None:
    with pytest.raises(ProviderNotFound):
        await adapter.complete(replace(REQUEST, model="../../admin"))

    assert fake.server.requests[-1].path.endswith("/..%2F..%2Fadmin/chat/completions")


async def test_resource_placeholder_is_filled_from_options(
    fake: AzureOpenAIFake,
) -> None:
    options = {"resource": "127.0.0.1", "api_version": DEFAULT_API_VERSION}
    spec = replace(
        fake.provider_spec(),
        base_url=f"http://{{resource}}:{fake.server.port}",
        options=options,
    )

    content = await call_with(spec, fake.credential())

    assert content == fake.reply_text
    path = fake.server.requests[-1].path
    assert path == "/openai/deployments/gpt-4o-mini/chat/completions"
