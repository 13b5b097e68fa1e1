"""Streaming against the fake Gemini API: deltas, tool calls, usage, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import pytest
from megarouter_gemini.adapter import GeminiAdapter
from megarouter_gemini.fake import FakeGemini

from megarouter.errors import (
    ProviderConnectionError,
    ProviderOverloaded,
    ProviderResponseError,
)
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    FinishReason,
    Message,
    Role,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from megarouter.testing.fake_http import FakeResponse


def chat(fake: FakeGemini, text: str, **options: object) -> ChatRequest:
    return ChatRequest(
        model=fake.chat_model,
        messages=[Message.text("user", text)],
        **options,  # type: ignore[arg-type]
    )


async def collect(adapter: GeminiAdapter, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in adapter.stream(request)]


async def test_stream_yields_text_deltas_then_finish_with_usage(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.reply_text = "one two three four five"

    chunks = await collect(adapter, chat(fake, "Count to five"))

    assert [c.content for c in chunks[:-1]] == ["one two ", "three four ", "five"]
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage == Usage(input_tokens=3, output_tokens=5)
    request = fake.server.requests[-1]
    assert request.path.endswith(":streamGenerateContent")
    assert request.query["alt"] == ["sse"]


async def test_stream_yields_function_call_as_one_tool_call_delta(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    tool = Tool("lookup", "Look a word up.", {"type": "object"})
    fake.tool_arguments = {"word": "gemini"}

    chunks = await collect(adapter, chat(fake, "Define gemini", tools=(tool,)))

    deltas = [d for c in chunks for d in c.tool_calls]
    assert len(deltas) == 1
    assert (deltas[0].index, deltas[0].name) == (0, "lookup")
    assert json.loads(deltas[0].arguments) == {"word": "gemini"}
    assert deltas[0].id
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_stream_raises_connection_error_when_cut_midway(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.reply_text = "a b c d e f g h"
    fake.cut_after = 2
    received: list[str] = []

    with pytest.raises(ProviderConnectionError):
        async for chunk in adapter.stream(chat(fake, "Go")):
            received.append(chunk.content)

    assert received == ["a b ", "c d "]


async def test_stream_raises_response_error_when_it_ends_without_finish(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    event = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}]}
    fake.fail_next_with(
        FakeResponse(200, chunks=[f"data: {json.dumps(event)}\r\n\r\n"])
    )

    with pytest.raises(ProviderResponseError):
        await collect(adapter, chat(fake, "Hi"))


async def test_stream_raises_response_error_on_malformed_event(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, chunks=["data: {not json\r\n\r\n"]))

    with pytest.raises(ProviderResponseError):
        await collect(adapter, chat(fake, "Hi"))


async def test_stream_closed_early_closes_the_upstream_connection(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.reply_text = " ".join(f"w{i}" for i in range(200))
    fake.stream_pause = 0.01
    before = fake.server.disconnects

    stream = adapter.stream(chat(fake, "Talk a lot"))
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    await stream.aclose()

    assert first.content == "w0 w1 "
    for _ in range(200):  # the fake notices on its next write
        if fake.server.disconnects > before:
            break
        await asyncio.sleep(0.01)
    assert fake.server.disconnects == before + 1


async def test_stream_raises_mapped_error_sent_as_an_event(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    first = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}]}
    error = {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }
    events = [f"data: {json.dumps(e)}\r\n\r\n" for e in (first, error)]
    fake.fail_next_with(FakeResponse(200, chunks=events))
    received: list[str] = []

    with pytest.raises(ProviderOverloaded) as caught:
        async for chunk in adapter.stream(chat(fake, "Hi")):
            received.append(chunk.content)

    assert received == ["Hi"]
    assert caught.value.status == 503


async def test_stream_keeps_thought_signature_for_the_next_turn(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    tool = Tool("lookup", "Look a word up.", {"type": "object"})
    fake.require_thought_signatures = True
    question = Message.text("user", "Define gemini")

    chunks = await collect(adapter, chat(fake, "Define gemini", tools=(tool,)))
    [delta] = [d for c in chunks for d in c.tool_calls]
    call = ToolCall(delta.id, delta.name, delta.arguments)
    answer = await adapter.complete(
        ChatRequest(
            model=fake.chat_model,
            messages=[
                question,
                Message(Role.ASSISTANT, tool_calls=(call,)),
                Message(Role.TOOL, (TextPart("twins"),), tool_call_id=call.id),
            ],
            tools=[tool],
        )
    )

    assert answer.content == fake.reply_text
