"""Bodies transcribed from Ollama's API docs, served over loopback.

Vectors are abridged; the shapes are as documented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from megarouter_ollama.adapter import OllamaAdapter

from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    FinishReason,
    Message,
    Role,
    ToolCall,
    Usage,
)
from megarouter.testing.fake_http import FakeHTTPServer, FakeRequest, FakeResponse

Collect = Callable[[AsyncIterator[ChatChunk]], Awaitable[Any]]
DOCUMENTED = Path(__file__).parent / "documented"
REQUEST = ChatRequest("llama3.2", [Message.text(Role.USER, "why is the sky blue?")])


def serve(server: FakeHTTPServer, path: str, response: FakeResponse) -> None:
    def answer(request: FakeRequest) -> FakeResponse:
        return response

    server.route("POST", path, answer)


def documented(name: str) -> bytes:
    return (DOCUMENTED / name).read_bytes()


async def test_documented_chat_response_parses(
    adapter: OllamaAdapter, http_server: FakeHTTPServer
) -> None:
    serve(http_server, "/api/chat", FakeResponse(200, documented("chat.json")))

    answer = await adapter.complete(REQUEST)

    assert answer.content == "Hello! How are you today?"
    assert answer.finish_reason is FinishReason.STOP  # no done_reason: stop
    assert answer.usage == Usage(26, 298)
    assert answer.model == "llama3.2"


async def test_documented_tool_call_response_parses(
    adapter: OllamaAdapter, http_server: FakeHTTPServer
) -> None:
    body = documented("chat_tool_call.json")
    serve(http_server, "/api/chat", FakeResponse(200, body))

    answer = await adapter.complete(REQUEST)

    assert answer.tool_calls == (
        ToolCall(
            "call_0",
            "get_current_weather",
            '{"format": "celsius", "location": "Paris, FR"}',
        ),
    )
    assert answer.finish_reason is FinishReason.TOOL_CALLS
    assert answer.usage == Usage(122, 33)


async def test_documented_chat_stream_parses(
    adapter: OllamaAdapter, http_server: FakeHTTPServer, collect: Collect
) -> None:
    lines = documented("chat_stream.ndjson").splitlines(keepends=True)
    response = FakeResponse(200, chunks=lines, content_type="application/x-ndjson")
    serve(http_server, "/api/chat", response)

    transcript = await collect(adapter.stream(REQUEST))

    assert transcript.text == "The sky is blue."
    assert transcript.finish_reason is FinishReason.STOP
    assert transcript.usage == Usage(26, 282)


async def test_documented_embed_response_parses(
    adapter: OllamaAdapter, http_server: FakeHTTPServer
) -> None:
    serve(http_server, "/api/embed", FakeResponse(200, documented("embed.json")))

    answer = await adapter.embed(EmbeddingRequest("all-minilm", ["a", "b"]))

    assert answer.vectors[1] == (-0.0098027075, 0.06042469, 0.025257962, -0.006364387)
    assert answer.usage == Usage(8, 0)
    assert answer.model == "all-minilm"
