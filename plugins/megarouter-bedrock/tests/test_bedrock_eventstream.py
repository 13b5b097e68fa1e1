"""The fake's event-stream encoder, checked by botocore's decoder."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from megarouter_bedrock.fake import encode_event, encode_exception, encode_frame


def decode(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [
        (message.to_response_dict()["headers"], message.payload) for message in buffer
    ]


def test_encoded_event_decodes_with_its_headers_and_payload() -> None:
    frame = encode_event("contentBlockDelta", {"delta": {"text": "héllo"}})

    [(headers, payload)] = decode(frame)

    assert headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(payload) == {"delta": {"text": "héllo"}}


def test_encoded_exception_decodes_as_exception_message() -> None:
    [(headers, payload)] = decode(encode_exception("throttlingException", "slow down"))

    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "throttlingException"
    assert json.loads(payload) == {"message": "slow down"}


def test_frames_split_anywhere_decode_once_whole() -> None:
    frames = encode_frame({"a": "1"}, b"first") + encode_frame({"b": "2"}, b"second")
    buffer = EventStreamBuffer()
    payloads = []

    for start in range(0, len(frames), 7):
        buffer.add_data(frames[start : start + 7])
        payloads += [message.payload for message in buffer]

    assert payloads == [b"first", b"second"]


def test_corrupted_frame_fails_botocore_checksum() -> None:
    frame = bytearray(encode_frame({"a": "1"}, b"payload"))
    frame[-6] ^= 0x01

    with pytest.raises(ChecksumMismatch):
        decode(bytes(frame))
