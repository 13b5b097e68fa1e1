"""ConverseStream against the fake Bedrock: frames, deltas, tool calls, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import pytest
from megarouter_bedrock.adapter import EVENT_STREAM, BedrockAdapter
from megarouter_bedrock.fake import FakeBedrock, encode_event, encode_exception

from megarouter.errors import (
    ContextTooLong,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderServerError,
)
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    FinishReason,
    Message,
    ResponseFormat,
    ResponseFormatType,
    Tool,
    ToolChoice,
    ToolChoiceMode,
    Usage,
)
from megarouter.testing.fake_http import FakeResponse


def chat(fake: FakeBedrock, text: str, **options: object) -> ChatRequest:
    return ChatRequest(
        model=fake.chat_model,
        messages=[Message.text("user", text)],
        **options,  # type: ignore[arg-type]
    )


async def collect(adapter: BedrockAdapter, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in adapter.stream(request)]


async def test_stream_yields_text_deltas_then_finish_with_usage(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.reply_text = "one two three four five"

    chunks = await collect(adapter, chat(fake, "Count to five"))

    assert [c.content for c in chunks[:-1]] == ["one two ", "three four ", "five"]
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage == Usage(input_tokens=3, output_tokens=5)
    request = fake.server.requests[-1]
    assert request.path.endswith("/converse-stream")
    assert request.headers["accept"] == EVENT_STREAM


async def test_stream_assembles_tool_use_from_start_and_input_deltas(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    tool = Tool("lookup", "Look a word up.", {"type": "object"})
    fake.tool_arguments = {"word": "bedrock", "language": "en"}

    chunks = await collect(
        adapter,
        chat(
            fake,
            "Define bedrock",
            tools=(tool,),
            tool_choice=ToolChoice(ToolChoiceMode.REQUIRED),
        ),
    )

    deltas = [d for c in chunks for d in c.tool_calls]
    assert {d.index for d in deltas} == {0}
    assert deltas[0].name == "lookup"
    assert deltas[0].id.startswith("tooluse_")
    assert len(deltas) == 3  # the start, then the input in two pieces
    arguments = "".join(d.arguments for d in deltas)
    assert json.loads(arguments) == {"word": "bedrock", "language": "en"}
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_stream_in_json_mode_streams_tool_input_as_text(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    request = chat(
        fake,
        "A number",
        response_format=ResponseFormat(ResponseFormatType.JSON_SCHEMA, schema),
    )

    chunks = await collect(adapter, request)

    assert json.loads("".join(c.content for c in chunks)) == {"n": 1}
    assert all(not c.tool_calls for c in chunks)
    assert chunks[-1].finish_reason is FinishReason.STOP


@pytest.mark.parametrize(
    ("exception_type", "expected", "retryable"),
    [
        ("throttlingException", ProviderRateLimited, True),
        ("modelStreamErrorException", ProviderServerError, True),
        ("internalServerException", ProviderServerError, True),
        ("validationException", ContextTooLong, False),
    ],
)
async def test_stream_raises_mapped_error_for_exception_event(
    fake: FakeBedrock,
    adapter: BedrockAdapter,
    exception_type: str,
    expected: type[ProviderError],
    retryable: bool,
) -> None:
    fake.reply_text = "one two three four"
    fake.stream_error = exception_type
    received: list[str] = []

    with pytest.raises(expected) as caught:
        async for chunk in adapter.stream(chat(fake, "Go")):
            received.append(chunk.content)

    assert received == ["one two "]
    assert caught.value.retryable is retryable


def one_write(*frames: bytes) -> FakeResponse:
    """A ConverseStream answer whose frames all go out in one write."""
    return FakeResponse(200, chunks=[b"".join(frames)], content_type=EVENT_STREAM)


def text_delta(text: str) -> bytes:
    return encode_event(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}
    )


@pytest.mark.parametrize(
    ("exception_type", "expected"),
    [
        ("throttlingException", ProviderRateLimited),
        ("modelStreamErrorException", ProviderServerError),
    ],
)
async def test_stream_yields_deltas_sent_with_exception_event_in_one_write(
    fake: FakeBedrock,
    adapter: BedrockAdapter,
    exception_type: str,
    expected: type[ProviderError],
) -> None:
    fake.fail_next_with(
        one_write(
            encode_event("messageStart", {"role": "assistant"}),
            text_delta("one "),
            text_delta("two "),
            encode_exception(exception_type, "The request failed."),
        )
    )
    received: list[str] = []

    with pytest.raises(expected) as caught:
        async for chunk in adapter.stream(chat(fake, "Go")):
            received.append(chunk.content)

    assert received == ["one ", "two "]
    assert caught.value.retryable


async def test_stream_yields_tool_deltas_sent_with_exception_event_in_one_write(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    start = {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup"}}
    fake.fail_next_with(
        one_write(
            encode_event("contentBlockStart", {"contentBlockIndex": 0, "start": start}),
            encode_event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{}"}}},
            ),
            encode_exception("throttlingException", "Too many tokens."),
        )
    )
    received: list[ChatChunk] = []

    with pytest.raises(ProviderRateLimited):
        async for chunk in adapter.stream(chat(fake, "Go")):
            received.append(chunk)

    assert [d.name for c in received for d in c.tool_calls] == ["lookup", ""]
    assert "".join(d.arguments for c in received for d in c.tool_calls) == "{}"


async def test_stream_yields_deltas_sent_with_exception_after_metadata(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
    fake.fail_next_with(
        one_write(
            text_delta("Hi"),
            encode_event("messageStop", {"stopReason": "end_turn"}),
            encode_event("metadata", {"usage": usage}),
            encode_exception("internalServerException", "Broke late."),
        )
    )
    received: list[str] = []

    with pytest.raises(ProviderServerError):
        async for chunk in adapter.stream(chat(fake, "Go")):
            received.append(chunk.content)

    assert received == ["Hi"]


async def test_stream_yields_deltas_sent_with_corrupt_frame_in_one_write(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    broken = bytearray(text_delta("lost"))
    broken[-1] ^= 0xFF  # break the message CRC
    fake.fail_next_with(one_write(text_delta("kept "), bytes(broken)))
    received: list[str] = []

    with pytest.raises(ProviderResponseError):
        async for chunk in adapter.stream(chat(fake, "Go")):
            received.append(chunk.content)

    assert received == ["kept "]


async def test_stream_raises_connection_error_when_cut_midway(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.reply_text = "a b c d e f"
    fake.cut_after = 3  # messageStart and two deltas
    received: list[str] = []

    with pytest.raises(ProviderConnectionError):
        async for chunk in adapter.stream(chat(fake, "Go")):
            received.append(chunk.content)

    assert received == ["a b ", "c d "]


async def test_stream_raises_response_error_on_corrupt_frame(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    frame = bytearray(encode_event("contentBlockDelta", {"delta": {"text": "Hi"}}))
    frame[-1] ^= 0xFF  # break the message CRC
    fake.fail_next_with(
        FakeResponse(200, chunks=[bytes(frame)], content_type=EVENT_STREAM)
    )

    with pytest.raises(ProviderResponseError):
        await collect(adapter, chat(fake, "Hi"))


async def test_stream_raises_response_error_when_it_ends_mid_frame(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    start = encode_event("messageStart", {"role": "assistant"})
    stop = encode_event("messageStop", {"stopReason": "end_turn"})
    fake.fail_next_with(
        FakeResponse(200, chunks=[start, stop[:10]], content_type=EVENT_STREAM)
    )

    with pytest.raises(ProviderResponseError):
        await collect(adapter, chat(fake, "Hi"))


async def test_stream_raises_response_error_without_message_stop(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    frames = [
        encode_event("messageStart", {"role": "assistant"}),
        encode_event(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
        ),
    ]
    fake.fail_next_with(FakeResponse(200, chunks=frames, content_type=EVENT_STREAM))

    with pytest.raises(ProviderResponseError):
        await collect(adapter, chat(fake, "Hi"))


async def test_stream_closed_early_closes_the_upstream_connection(
    fake: FakeBedrock, adapter: BedrockAdapter
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
