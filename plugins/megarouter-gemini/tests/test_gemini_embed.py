"""Embeddings through batchEmbedContents on the fake Gemini API."""

from __future__ import annotations

import dataclasses

import pytest
from megarouter_gemini.adapter import GeminiAdapter
from megarouter_gemini.fake import FakeGemini, embedding_of

from megarouter.errors import ProviderBadRequest
from megarouter.providers.http import new_client
from megarouter.providers.spec import AuthScheme
from megarouter.providers.types import EmbeddingRequest


async def test_embed_returns_one_vector_per_input_in_order(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    request = EmbeddingRequest(
        model=fake.embedding_model, inputs=["red", "green"], dimensions=8
    )

    response = await adapter.embed(request)

    assert response.vectors == (
        tuple(embedding_of("red", 8)),
        tuple(embedding_of("green", 8)),
    )
    assert response.usage is None  # Gemini does not report it
    body = fake.server.requests[-1].json()
    assert body["requests"][0] == {
        "model": f"models/{fake.embedding_model}",
        "content": {"parts": [{"text": "red"}]},
        "outputDimensionality": 8,
    }


async def test_embed_splits_more_than_a_hundred_inputs_into_batches(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    inputs = [f"text {i}" for i in range(230)]
    before = len(fake.server.requests)

    response = await adapter.embed(
        EmbeddingRequest(model=fake.embedding_model, inputs=inputs, dimensions=4)
    )

    assert len(response.vectors) == 230
    assert response.vectors[229] == tuple(embedding_of("text 229", 4))
    sizes = sorted(len(r.json()["requests"]) for r in fake.server.requests[before:])
    assert sizes == [30, 100, 100]


async def test_embed_of_nothing_calls_nobody(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    before = len(fake.server.requests)

    response = await adapter.embed(EmbeddingRequest(fake.embedding_model, []))

    assert response.vectors == ()
    assert len(fake.server.requests) == before


async def test_embed_on_vertex_is_refused_as_unsupported(fake: FakeGemini) -> None:
    spec = fake.provider_spec()
    spec = dataclasses.replace(
        spec,
        auth=AuthScheme.BEARER,
        options={"path_prefix": "/v1/projects/acme/locations/global/publishers/google"},
    )
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, fake.credential(), client)
        with pytest.raises(ProviderBadRequest):
            await adapter.embed(EmbeddingRequest(fake.embedding_model, ["hi"]))


async def test_embed_works_with_the_gemini_api_prefix_set_explicitly(
    fake: FakeGemini,
) -> None:
    spec = dataclasses.replace(fake.provider_spec(), options={"path_prefix": "/v1beta"})
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, fake.credential(), client)
        response = await adapter.embed(
            EmbeddingRequest(fake.embedding_model, ["hi"], 4)
        )

    assert response.vectors == (tuple(embedding_of("hi", 4)),)
