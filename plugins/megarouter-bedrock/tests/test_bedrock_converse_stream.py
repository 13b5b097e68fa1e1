"""ConverseStreamReader on its own: frames fed as bytes, chunks read back."""

from __future__ import annotations

import pytest
from megarouter_bedrock.converse_stream import ConverseStreamReader
from megarouter_bedrock.fake import encode_event, encode_exception, encode_frame

from megarouter.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderServerError,
)
from megarouter.providers.types import ChatChunk, ToolCallDelta


def text_delta(text: str, block: int = 0) -> bytes:
    return encode_event(
        "contentBlockDelta", {"contentBlockIndex": block, "delta": {"text": text}}
    )


def read_until_error(
    reader: ConverseStreamReader, data: bytes, error: type[ProviderError]
) -> list[ChatChunk]:
    """The chunks ``reader`` gives for ``data`` before it raises ``error``."""
    received: list[ChatChunk] = []
    with pytest.raises(error):
        for chunk in reader.feed(data):
            received.append(chunk)
    return received


def test_feed_of_several_frames_yields_their_deltas_in_order() -> None:
    reader = ConverseStreamReader("bedrock")
    data = b"".join(
        [
            encode_event("messageStart", {"role": "assistant"}),
            text_delta("one "),
            text_delta("two"),
            encode_event("contentBlockStop", {"contentBlockIndex": 0}),
            encode_event("messageStop", {"stopReason": "end_turn"}),
        ]
    )

    chunks = list(reader.feed(data))

    assert [c.content for c in chunks] == ["one ", "two"]
    assert reader.finish().finish_reason is not None


@pytest.mark.parametrize(
    ("exception_type", "expected"),
    [
        ("throttlingException", ProviderRateLimited),
        ("modelStreamErrorException", ProviderServerError),
    ],
)
def test_feed_yields_text_deltas_before_exception_in_the_same_data(
    exception_type: str, expected: type[ProviderError]
) -> None:
    reader = ConverseStreamReader("bedrock")
    data = b"".join(
        [
            encode_event("messageStart", {"role": "assistant"}),
            text_delta("one "),
            text_delta("two "),
            encode_exception(exception_type, "stop here"),
            text_delta("never"),
        ]
    )

    received = read_until_error(reader, data, expected)

    assert [c.content for c in received] == ["one ", "two "]


def test_feed_yields_tool_use_deltas_before_exception_in_the_same_data() -> None:
    reader = ConverseStreamReader("bedrock")
    start = {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup"}}
    data = b"".join(
        [
            encode_event("contentBlockStart", {"contentBlockIndex": 0, "start": start}),
            encode_event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"w'}}},
            ),
            encode_exception("throttlingException", "slow down"),
        ]
    )

    received = read_until_error(reader, data, ProviderRateLimited)

    assert [c.tool_calls for c in received] == [
        (ToolCallDelta(0, "tooluse_1", "lookup"),),
        (ToolCallDelta(0, arguments='{"w'),),
    ]


def test_feed_yields_deltas_before_exception_after_metadata() -> None:
    reader = ConverseStreamReader("bedrock")
    usage = {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}
    data = b"".join(
        [
            text_delta("Hi"),
            encode_event("messageStop", {"stopReason": "end_turn"}),
            encode_event("metadata", {"usage": usage}),
            encode_exception("internalServerException", "broke late"),
        ]
    )

    received = read_until_error(reader, data, ProviderServerError)

    assert [c.content for c in received] == ["Hi"]


def test_feed_yields_deltas_before_error_message_frame() -> None:
    reader = ConverseStreamReader("bedrock")
    error = encode_frame(
        {
            ":message-type": "error",
            ":error-code": "ThrottlingException",
            ":error-message": "slow down",
        },
        b"",
    )

    received = read_until_error(reader, text_delta("Hi") + error, ProviderRateLimited)

    assert [c.content for c in received] == ["Hi"]


def test_feed_yields_deltas_before_a_frame_with_a_bad_checksum() -> None:
    reader = ConverseStreamReader("bedrock")
    broken = bytearray(text_delta("lost"))
    broken[-1] ^= 0xFF  # break the message CRC

    received = read_until_error(
        reader, text_delta("kept ") + bytes(broken), ProviderResponseError
    )

    assert [c.content for c in received] == ["kept "]


def test_feed_yields_deltas_before_a_frame_whose_payload_is_not_json() -> None:
    reader = ConverseStreamReader("bedrock")
    headers = {":event-type": "contentBlockDelta", ":message-type": "event"}
    broken = encode_frame(headers, b"{not json")

    received = read_until_error(
        reader, text_delta("kept ") + broken, ProviderResponseError
    )

    assert [c.content for c in received] == ["kept "]
