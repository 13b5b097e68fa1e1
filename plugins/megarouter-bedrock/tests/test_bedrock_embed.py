"""Titan text embeddings through InvokeModel on the fake Bedrock."""

from __future__ import annotations

import json

import pytest
from megarouter_bedrock.adapter import BedrockAdapter
from megarouter_bedrock.fake import FakeBedrock, embedding_of

from megarouter.errors import ProviderBadRequest
from megarouter.providers.types import EmbeddingRequest, Usage


async def test_embed_invokes_titan_once_per_input_and_sums_tokens(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    before = len(fake.server.requests)
    inputs = ["red apple", "green leaf tea", "blue"]

    response = await adapter.embed(
        EmbeddingRequest(model=fake.embedding_model, inputs=inputs, dimensions=256)
    )

    assert response.vectors == tuple(tuple(embedding_of(t, 256)) for t in inputs)
    assert response.usage == Usage(input_tokens=6)
    sent = fake.server.requests[before:]
    assert sorted(json.loads(r.body)["inputText"] for r in sent) == sorted(inputs)
    assert {r.path for r in sent} == {"/model/amazon.titan-embed-text-v2%3A0/invoke"}
    assert json.loads(sent[0].body)["dimensions"] == 256


async def test_embed_with_unsupported_dimensions_is_a_bad_request(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    with pytest.raises(ProviderBadRequest) as caught:
        await adapter.embed(
            EmbeddingRequest(model=fake.embedding_model, inputs=["x"], dimensions=300)
        )

    assert "300 is not a valid enum value" in caught.value.message


async def test_embed_of_nothing_calls_nobody(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    before = len(fake.server.requests)

    response = await adapter.embed(EmbeddingRequest(fake.embedding_model, []))

    assert response.vectors == ()
    assert len(fake.server.requests) == before
