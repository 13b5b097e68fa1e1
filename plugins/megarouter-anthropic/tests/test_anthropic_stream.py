"""Streamed Messages calls against the fake, over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from megarouter_anthropic.adapter import AnthropicAdapter
from megarouter_anthropic.fake import FakeAnthropic

from megarouter.errors import ProviderConnectionError, ProviderOverloaded
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    FinishReason,
    Message,
    ResponseFormat,
    ResponseFormatType,
    Role,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)

Collect = Callable[[AsyncIterator[ChatChunk]], Awaitable[Any]]


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest("claude-fake-1", [Message.text(Role.USER, text)], **options)


async def test_stream_yields_text_deltas_then_finish_and_usage(
    adapter: AnthropicAdapter, fake: FakeAnthropic, collect: Collect
) -> None:
    transcript = await collect(adapter.stream(ask("Hi there")))

    assert transcript.text == fake.reply_text
    assert len([c for c in transcript.chunks if c.content]) == 8  # word by word
    assert transcript.finish_reason is FinishReason.STOP
    assert transcript.usage.output_tokens == 8
    assert transcript.usage.input_tokens > 0
    assert fake.last_body["stream"] is True


async def test_stream_assembles_tool_call_arguments_from_json_deltas(
    adapter: AnthropicAdapter, fake: FakeAnthropic, collect: Collect
) -> None:
    fake.tool_arguments = {"city": "San Francisco, CA", "unit": "celsius"}
    tool = Tool("get_weather", "", {"type": "object"})
    request = ask(
        "Weather?", tools=[tool], tool_choice=ToolChoice(ToolChoiceMode.REQUIRED)
    )

    transcript = await collect(adapter.stream(request))

    assert transcript.tool_calls == [
        ToolCall("toolu_fake01", "get_weather", json.dumps(fake.tool_arguments))
    ]
    assert sum(len(c.tool_calls) for c in transcript.chunks) > 3  # in pieces
    assert transcript.finish_reason is FinishReason.TOOL_CALLS


async def test_stream_of_json_output_streams_the_tool_input_as_text(
    adapter: AnthropicAdapter, fake: FakeAnthropic, collect: Collect
) -> None:
    fake.tool_arguments = {"answer": 42, "unit": "none"}
    fmt = ResponseFormat(ResponseFormatType.JSON_OBJECT)

    transcript = await collect(adapter.stream(ask("6 times 7?", response_format=fmt)))

    assert json.loads(transcript.text) == fake.tool_arguments
    assert transcript.tool_calls == []
    assert transcript.finish_reason is FinishReason.STOP


async def test_stream_error_event_midway_raises_overloaded(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.error_after = 3
    received = []

    with pytest.raises(ProviderOverloaded, match="Overloaded") as caught:
        async for chunk in adapter.stream(ask("Hi")):
            received.append(chunk.content)

    assert "".join(received) == "Hello! I am "
    assert caught.value.retryable


async def test_stream_cut_midway_raises_retryable_connection_error(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.cut_after = 2

    with pytest.raises(ProviderConnectionError) as caught:
        async for _ in adapter.stream(ask("Hi")):
            pass

    assert caught.value.retryable


async def test_stream_closed_early_closes_the_upstream_connection(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fake.reply_text = "word " * 400
    fake.stream_pause = 0.01
    stream = adapter.stream(ask("Talk a lot"))

    first = await anext(stream)
    await stream.aclose()

    assert first.content == "word "
    for _ in range(300):  # the fake notices once a write fails
        if fake.server.disconnects:
            break
        await asyncio.sleep(0.01)
    assert fake.server.disconnects == 1
