"""Bodies transcribed from OpenAI's public API reference, served verbatim.

The fake writes its own bodies; these tests make sure the adapter also reads
the documents exactly as OpenAI documents them (and as compatible servers
vary them), served over a real socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from megarouter_openai.adapter import OpenAIAdapter

from megarouter.errors import ProviderResponseError
from megarouter.providers.http import new_client
from megarouter.providers.spec import Credential, ProviderSpec
from megarouter.providers.types import (
    ChatRequest,
    EmbeddingRequest,
    FinishReason,
    Message,
    ToolCall,
    Usage,
)
from megarouter.testing.fake_http import FakeHTTPServer, FakeResponse

# The chat completion object, from the reference for POST /v1/chat/completions.
CHAT_COMPLETION = """{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Hello! How can I assist you today?",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default"
}"""

# The function-calling example response from the same reference.
TOOL_CALL_COMPLETION = """{
  "id": "chatcmpl-abc123",
  "object": "chat.completion",
  "created": 1699896916,
  "model": "gpt-4o-mini",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": null,
        "tool_calls": [
          {
            "id": "call_abc123",
            "type": "function",
            "function": {
              "name": "get_current_weather",
              "arguments": "{\\n\\"location\\": \\"Boston, MA\\"\\n}"
            }
          }
        ]
      },
      "logprobs": null,
      "finish_reason": "tool_calls"
    }
  ],
  "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}
}"""

# The streaming example: chunk objects as the reference lists them.
STREAM_CHUNKS = [
    '{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,'
    '"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":'
    '[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
    '"finish_reason":null}]}',
    '{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,'
    '"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":'
    '[{"index":0,"delta":{"content":"Hello"},"logprobs":null,'
    '"finish_reason":null}]}',
    '{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,'
    '"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":'
    '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}',
]

# The final chunk when stream_options.include_usage is set: choices is empty.
USAGE_CHUNK = (
    '{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,'
    '"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[],'
    '"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}'
)

# The embeddings response from the reference for POST /v1/embeddings
# (the reference elides most of the vector; three values stand for it).
EMBEDDINGS = """{
  "object": "list",
  "data": [
    {
      "object": "embedding",
      "embedding": [0.0023064255, -0.009327292, -0.0028842222],
      "index": 0
    }
  ],
  "model": "text-embedding-ada-002",
  "usage": {"prompt_tokens": 8, "total_tokens": 8}
}"""

REQUEST = ChatRequest(model="gpt-4o-mini", messages=[Message.text("user", "Hello!")])


@pytest.fixture(scope="module")
def server() -> Iterator[FakeHTTPServer]:
    with FakeHTTPServer() as running:
        yield running


@pytest.fixture
async def adapter(server: FakeHTTPServer) -> AsyncIterator[OpenAIAdapter]:
    spec = ProviderSpec(name="openai", family="openai", base_url=f"{server.url}/v1")
    async with new_client(spec) as client:
        yield OpenAIAdapter(spec, Credential("sk-test"), client)


def serve(server: FakeHTTPServer, path: str, response: FakeResponse) -> None:
    server.route("POST", path, lambda request: response)


def events(*documents: str) -> list[str]:
    return [f"data: {document}\n\n" for document in documents]


async def test_reference_chat_completion_parses(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    serve(server, "/v1/chat/completions", FakeResponse(200, CHAT_COMPLETION))

    response = await adapter.complete(REQUEST)

    assert response.content == "Hello! How can I assist you today?"
    assert response.finish_reason is FinishReason.STOP
    assert response.usage == Usage(input_tokens=19, output_tokens=10)
    assert response.model == "gpt-4.1-2025-04-14"


async def test_reference_tool_call_completion_parses(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    serve(server, "/v1/chat/completions", FakeResponse(200, TOOL_CALL_COMPLETION))

    response = await adapter.complete(REQUEST)

    assert response.content == ""
    assert response.tool_calls == (
        ToolCall(
            "call_abc123", "get_current_weather", '{\n"location": "Boston, MA"\n}'
        ),
    )
    assert response.finish_reason is FinishReason.TOOL_CALLS


async def test_reference_chunk_sequence_streams_with_final_usage(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    body = [*events(*STREAM_CHUNKS, USAGE_CHUNK), "data: [DONE]\n\n"]
    serve(server, "/v1/chat/completions", FakeResponse(200, chunks=body))

    chunks = [chunk async for chunk in adapter.stream(REQUEST)]

    assert [c.content for c in chunks if c.content] == ["Hello"]
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage == Usage(input_tokens=9, output_tokens=1)


async def test_reference_chunk_sequence_without_usage_still_finishes(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    body = [*events(*STREAM_CHUNKS), "data: [DONE]\n\n"]
    serve(server, "/v1/chat/completions", FakeResponse(200, chunks=body))

    chunks = [chunk async for chunk in adapter.stream(REQUEST)]

    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage is None


async def test_usage_chunk_with_null_choices_is_read(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    usage_only = USAGE_CHUNK.replace('"choices":[]', '"choices":null')
    body = [*events(*STREAM_CHUNKS, usage_only), "data: [DONE]\n\n"]
    serve(server, "/v1/chat/completions", FakeResponse(200, chunks=body))

    chunks = [chunk async for chunk in adapter.stream(REQUEST)]

    assert chunks[-1].usage == Usage(input_tokens=9, output_tokens=1)


async def test_reference_embeddings_response_parses(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    serve(server, "/v1/embeddings", FakeResponse(200, EMBEDDINGS))

    response = await adapter.embed(EmbeddingRequest("text-embedding-ada-002", ["x"]))

    assert response.vectors == ((0.0023064255, -0.009327292, -0.0028842222),)
    assert response.usage == Usage(input_tokens=8)
    assert response.model == "text-embedding-ada-002"


async def test_embeddings_are_returned_in_input_order_whatever_the_body_order(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": [2.0], "index": 1},
            {"object": "embedding", "embedding": [1.0], "index": 0},
        ],
        "model": "m",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    serve(server, "/v1/embeddings", FakeResponse(200, body))

    response = await adapter.embed(EmbeddingRequest("m", ["first", "second"]))

    assert response.vectors == ((1.0,), (2.0,))


async def test_completion_without_choices_is_a_response_error(
    server: FakeHTTPServer, adapter: OpenAIAdapter
) -> None:
    serve(server, "/v1/chat/completions", FakeResponse(200, {"id": "x", "choices": []}))

    with pytest.raises(ProviderResponseError) as caught:
        await adapter.complete(REQUEST)

    assert caught.value.retryable
