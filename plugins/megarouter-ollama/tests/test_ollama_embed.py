"""Ollama embeddings against the fake, over loopback."""

from __future__ import annotations

import pytest
from megarouter_ollama.adapter import OllamaAdapter
from megarouter_ollama.fake import FakeOllama

from megarouter.errors import ProviderNotFound
from megarouter.providers.types import EmbeddingRequest, Usage


async def test_embed_returns_one_vector_per_input_and_prompt_tokens(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    answer = await adapter.embed(EmbeddingRequest("embed-fake", ["hello world", "bye"]))

    assert len(answer.vectors) == 2
    assert all(len(v) == fake.dimensions for v in answer.vectors)
    assert answer.vectors[0] != answer.vectors[1]
    assert answer.usage == Usage(3, 0)
    assert answer.model == "embed-fake"
    assert fake.server.requests[-1].path == "/api/embed"
    assert fake.last_body == {"model": "embed-fake", "input": ["hello world", "bye"]}


async def test_embed_asks_for_the_requested_dimensions(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    answer = await adapter.embed(EmbeddingRequest("embed-fake", ["hi"], dimensions=8))

    assert fake.last_body["dimensions"] == 8
    assert len(answer.vectors[0]) == 8


async def test_embed_with_a_model_not_pulled_is_not_found(
    adapter: OllamaAdapter,
) -> None:
    with pytest.raises(ProviderNotFound, match="not found"):
        await adapter.embed(EmbeddingRequest("all-minilm", ["hi"]))
