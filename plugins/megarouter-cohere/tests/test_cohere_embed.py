"""Cohere v2 embeddings against the fake, over loopback."""

from __future__ import annotations

import pytest
from megarouter_cohere.adapter import CohereAdapter
from megarouter_cohere.fake import FakeCohere

from megarouter.errors import ProviderRateLimited
from megarouter.providers.types import EmbeddingRequest, Usage
from megarouter.testing.fakes import FailureKind


async def test_embed_returns_one_float_vector_per_input_and_billed_tokens(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    request = EmbeddingRequest("embed-fake", ["hello world", "goodbye"])

    answer = await adapter.embed(request)

    assert len(answer.vectors) == 2
    assert all(len(v) == fake.dimensions for v in answer.vectors)
    assert answer.vectors[0] != answer.vectors[1]
    assert answer.usage == Usage(3, 0)
    assert answer.model == "embed-fake"
    assert fake.server.requests[-1].path == "/v2/embed"
    assert fake.last_body == {
        "model": "embed-fake",
        "texts": ["hello world", "goodbye"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }


async def test_embed_asks_for_the_requested_dimensions(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    answer = await adapter.embed(EmbeddingRequest("embed-fake", ["hi"], dimensions=8))

    assert fake.last_body["output_dimension"] == 8
    assert len(answer.vectors[0]) == 8


async def test_embed_rate_limit_is_retryable_with_retry_after(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fake.fail_next(FailureKind.RATE_LIMITED, retry_after=3)

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.embed(EmbeddingRequest("embed-fake", ["hi"]))

    assert caught.value.retryable
    assert caught.value.retry_after == 3.0
