"""Bodies transcribed from Anthropic's public API docs, served over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from megarouter_anthropic.adapter import AnthropicAdapter

from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    FinishReason,
    Message,
    Role,
    ToolCall,
    Usage,
)
from megarouter.testing.fake_http import FakeHTTPServer, FakeRequest, FakeResponse

Collect = Callable[[AsyncIterator[ChatChunk]], Awaitable[Any]]
DOCUMENTED = Path(__file__).parent / "documented"
REQUEST = ChatRequest("claude-fake-1", [Message.text(Role.USER, "Hello, Claude")])

# The Messages API reference's example response.
BASIC_MESSAGE = (DOCUMENTED / "message_basic.json").read_bytes()

# The tool use guide's example: a text block, then a tool_use block.
TOOL_USE_MESSAGE = (DOCUMENTED / "message_tool_use.json").read_bytes()

# The prompt caching guide's example usage: cache writes are input too.
CACHED_USAGE_MESSAGE = (DOCUMENTED / "message_cached_usage.json").read_bytes()

# The streaming guide's example of a streamed tool call (fewer text deltas).
TOOL_USE_STREAM = (DOCUMENTED / "stream_tool_use.sse").read_bytes()


def serve(server: FakeHTTPServer, response: FakeResponse) -> None:
    def answer(request: FakeRequest) -> FakeResponse:
        return response

    server.route("POST", "/v1/messages", answer)


async def test_documented_basic_message_parses(
    adapter: AnthropicAdapter, http_server: FakeHTTPServer
) -> None:
    serve(http_server, FakeResponse(200, BASIC_MESSAGE))

    answer = await adapter.complete(REQUEST)

    assert answer.content == "Hi! My name is Claude."
    assert answer.finish_reason is FinishReason.STOP
    assert answer.usage == Usage(2095, 503)
    assert answer.model == "claude-3-7-sonnet-20250219"


async def test_documented_tool_use_message_parses(
    adapter: AnthropicAdapter, http_server: FakeHTTPServer
) -> None:
    serve(http_server, FakeResponse(200, TOOL_USE_MESSAGE))

    answer = await adapter.complete(REQUEST)

    assert answer.content.startswith("<thinking>I need to use get_weather")
    assert answer.tool_calls == (
        ToolCall(
            "toolu_01A09q90qw90lq917835lq9",
            "get_weather",
            '{"location": "San Francisco, CA", "unit": "celsius"}',
        ),
    )
    assert answer.finish_reason is FinishReason.TOOL_CALLS
    assert answer.usage is None  # the example reports none


async def test_documented_cached_usage_counts_cache_tokens_as_input(
    adapter: AnthropicAdapter, http_server: FakeHTTPServer
) -> None:
    serve(http_server, FakeResponse(200, CACHED_USAGE_MESSAGE))

    answer = await adapter.complete(REQUEST)

    assert answer.usage == Usage(21 + 188086, 393)


async def test_documented_tool_use_stream_parses(
    adapter: AnthropicAdapter, http_server: FakeHTTPServer, collect: Collect
) -> None:
    events = [p + b"\n\n" for p in TOOL_USE_STREAM.split(b"\n\n") if p.strip()]
    serve(http_server, FakeResponse(200, chunks=events))

    transcript = await collect(adapter.stream(REQUEST))

    assert transcript.text == "Okay, let's check the weather."
    assert transcript.tool_calls == [
        ToolCall(
            "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "get_weather",
            '{"location": "San Francisco, CA", "unit": "fahrenheit"}',
        )
    ]
    assert transcript.finish_reason is FinishReason.TOOL_CALLS
    assert transcript.usage == Usage(472, 89)
