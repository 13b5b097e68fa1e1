"""Bodies transcribed from Cohere's public API docs, served over loopback.

Long texts and vectors are abridged; the shapes are as documented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from megarouter_cohere.adapter import CohereAdapter

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
REQUEST = ChatRequest("command-fake", [Message.text(Role.USER, "What is an LLM?")])


def serve(server: FakeHTTPServer, path: str, response: FakeResponse) -> None:
    def answer(request: FakeRequest) -> FakeResponse:
        return response

    server.route("POST", path, answer)


def documented(name: str) -> bytes:
    return (DOCUMENTED / name).read_bytes()


async def test_documented_chat_response_parses(
    adapter: CohereAdapter, http_server: FakeHTTPServer
) -> None:
    serve(http_server, "/v2/chat", FakeResponse(200, documented("chat_text.json")))

    answer = await adapter.complete(REQUEST)

    assert answer.content.startswith("LLMs stand for Large Language Models,")
    assert answer.finish_reason is FinishReason.STOP
    assert answer.usage == Usage(17, 386)  # billed units


async def test_documented_tool_call_response_parses(
    adapter: CohereAdapter, http_server: FakeHTTPServer
) -> None:
    body = documented("chat_tool_call.json")
    serve(http_server, "/v2/chat", FakeResponse(200, body))

    answer = await adapter.complete(REQUEST)

    assert answer.tool_calls == (
        ToolCall("get_weather_1byjy32y4hvq", "get_weather", '{"location":"Toronto"}'),
    )
    assert answer.content == "I will search for the weather in Toronto."
    assert answer.finish_reason is FinishReason.TOOL_CALLS


async def test_documented_chat_stream_parses(
    adapter: CohereAdapter, http_server: FakeHTTPServer, collect: Collect
) -> None:
    text = documented("chat_stream.sse")
    events = [p + b"\n\n" for p in text.split(b"\n\n") if p.strip()]
    serve(http_server, "/v2/chat", FakeResponse(200, chunks=events))

    transcript = await collect(adapter.stream(REQUEST))

    assert transcript.text == "A large language model"
    assert transcript.finish_reason is FinishReason.STOP
    assert transcript.usage == Usage(3, 4)


async def test_documented_embed_response_parses(
    adapter: CohereAdapter, http_server: FakeHTTPServer
) -> None:
    serve(http_server, "/v2/embed", FakeResponse(200, documented("embed.json")))

    answer = await adapter.embed(EmbeddingRequest("embed-v4.0", ["hello", "goodbye"]))

    assert answer.vectors[0] == (0.016296387, 0.008354187, 0.04294586, -0.01171875)
    assert len(answer.vectors) == 2
    assert answer.usage == Usage(2, 0)
