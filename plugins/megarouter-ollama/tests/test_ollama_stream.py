"""Streamed Messages calls against the fake, over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from megarouter_ollama.adapter import OllamaAdapter
from megarouter_ollama.fake import FakeOllama

from megarouter.errors import ProviderConnectionError
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
)

Collect = Callable[[AsyncIterator[ChatChunk]], Awaitable[Any]]


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest("llama-fake:8b", [Message.text(Role.USER, text)], **options)


async def test_stream_yields_text_deltas_then_finish_and_usage(
    adapter: OllamaAdapter, fake: FakeOllama, collect: Collect
) -> None:
    transcript = await collect(adapter.stream(ask("Hi there")))

    assert transcript.text == fake.reply_text
    assert len([c for c in transcript.chunks if c.content]) == 8  # word by word
    assert transcript.finish_reason is FinishReason.STOP
    assert transcript.usage.output_tokens == 8
    assert transcript.usage.input_tokens > 0
    assert fake.last_body["stream"] is True


async def test_stream_yields_tool_calls_with_object_arguments_as_json(
    adapter: OllamaAdapter, fake: FakeOllama, collect: Collect
) -> None:
    fake.tool_arguments = {"city": "San Francisco, CA", "unit": "celsius"}
    fake.call_tools = True
    tool = Tool("get_weather", "", {"type": "object"})

    transcript = await collect(adapter.stream(ask("Weather?", tools=[tool])))

    assert transcript.tool_calls == [
        ToolCall("call_0", "get_weather", json.dumps(fake.tool_arguments))
    ]
    assert transcript.finish_reason is FinishReason.TOOL_CALLS
    assert transcript.usage.output_tokens > 0


async def test_stream_of_json_output_streams_json_text(
    adapter: OllamaAdapter, fake: FakeOllama, collect: Collect
) -> None:
    fmt = ResponseFormat(ResponseFormatType.JSON_OBJECT)

    transcript = await collect(adapter.stream(ask("6 times 7?", response_format=fmt)))

    assert json.loads(transcript.text) == fake.json_reply
    assert fake.last_body["format"] == "json"
    assert transcript.finish_reason is FinishReason.STOP


async def test_stream_cut_midway_raises_retryable_connection_error(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.cut_after = 2

    with pytest.raises(ProviderConnectionError) as caught:
        async for _ in adapter.stream(ask("Hi")):
            pass

    assert caught.value.retryable


async def test_stream_closed_early_closes_the_upstream_connection(
    adapter: OllamaAdapter, fake: FakeOllama
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
