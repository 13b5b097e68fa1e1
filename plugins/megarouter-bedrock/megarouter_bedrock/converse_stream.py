"""ConverseStream's answer: AWS event-stream frames, read into chunks.

The body is ``application/vnd.amazon.eventstream``: binary frames, each
with a prelude, typed headers, a JSON payload and CRC32 checksums. The
``:event-type`` header names the event (``messageStart``,
``contentBlockStart``, ``contentBlockDelta``, ``contentBlockStop``,
``messageStop``, ``metadata``); ``:message-type`` is ``exception`` for an
error raised mid-stream. botocore's parser decodes and checks the frames.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from botocore.eventstream import (
    EventStreamBuffer,
    EventStreamMessage,
    MessagePrelude,
    ParserError,
)

from megarouter.errors import ProviderResponseError
from megarouter.providers.types import ChatChunk, ToolCallDelta, Usage
from megarouter_bedrock import wire
from megarouter_bedrock.errors import aws_error


class ConverseStreamReader:
    """Turns the bytes of a ConverseStream body into :class:`ChatChunk` s.

    Args:
        provider: the provider's name, for errors.
        json_tool: in JSON mode, the tool whose input is the answer text.
    """

    def __init__(self, provider: str, json_tool: str = "") -> None:
        self._provider = provider
        self._json_tool = json_tool
        self._buffer = EventStreamBuffer()
        self._unparsed = 0  # bytes received but not yet part of a whole frame
        self._tool_index: dict[int, int] = {}  # content block -> tool call index
        self._json_blocks: set[int] = set()
        self._stop_reason: str | None = None
        self._usage: Usage | None = None

    def feed(self, data: bytes) -> Iterator[ChatChunk]:
        """Yield the chunks in the frames that ``data`` completes, in order.

        Frames are decoded as the caller iterates, so the chunks of the frames
        before a bad one reach the caller before its error does.

        Raises:
            ProviderError: a frame is corrupt, or the stream carries an error.
        """
        self._buffer.add_data(data)
        self._unparsed += len(data)
        return self._frames()

    def _frames(self) -> Iterator[ChatChunk]:
        try:
            for message in self._buffer:
                self._unparsed -= _frame_length(message)
                yield from self._read(message)
        except ParserError as exc:
            raise ProviderResponseError(
                f"{self._provider}: corrupt event-stream frame ({exc})",
                provider=self._provider,
            ) from exc

    def finish(self) -> ChatChunk:
        """The closing chunk, once the body has ended.

        Raises:
            ProviderResponseError: the stream stopped before ``messageStop``.
        """
        if self._unparsed or self._stop_reason is None:
            raise ProviderResponseError(
                f"{self._provider}: event stream ended before messageStop",
                provider=self._provider,
            )
        return ChatChunk(
            finish_reason=wire.finish_reason(
                self._stop_reason, json_mode=bool(self._json_tool)
            ),
            usage=self._usage,
        )

    def _read(self, message: EventStreamMessage) -> list[ChatChunk]:
        """The chunks in one decoded frame, or the error it carries."""
        headers: dict[str, Any] = message.to_response_dict()["headers"]
        message_type = headers.get(":message-type", "event")
        if message_type == "exception":
            raise aws_error(
                self._provider,
                None,
                str(headers.get(":exception-type", "")),
                _message_of(message.payload),
            )
        if message_type == "error":
            raise aws_error(
                self._provider,
                None,
                str(headers.get(":error-code", "")),
                str(headers.get(":error-message", "")),
            )
        with wire.malformed_response(self._provider):
            event = json.loads(message.payload)
            return self._on_event(str(headers.get(":event-type", "")), event)

    def _on_event(self, kind: str, event: dict[str, Any]) -> list[ChatChunk]:
        """The chunks for one ConverseStream event; stop and usage are kept."""
        block = int(event.get("contentBlockIndex", 0))
        if kind == "contentBlockStart":
            tool_use = event.get("start", {}).get("toolUse")
            if tool_use is None:
                return []
            if self._json_tool and tool_use.get("name") == self._json_tool:
                self._json_blocks.add(block)
                return []
            index = self._tool_index.setdefault(block, len(self._tool_index))
            delta = ToolCallDelta(index, tool_use["toolUseId"], tool_use["name"])
            return [ChatChunk(tool_calls=(delta,))]
        if kind == "contentBlockDelta":
            return self._on_delta(block, event.get("delta", {}))
        if kind == "messageStop":
            self._stop_reason = str(event.get("stopReason", ""))
        elif kind == "metadata":
            self._usage = wire.read_usage(event.get("usage"))
        return []

    def _on_delta(self, block: int, delta: dict[str, Any]) -> list[ChatChunk]:
        """The chunk for one content block delta, if it is part of the answer."""
        if "text" in delta:
            return [ChatChunk(content=str(delta["text"]))]
        tool_use = delta.get("toolUse")
        if tool_use is None:  # reasoning, citations: not part of the answer
            return []
        arguments = str(tool_use.get("input", ""))
        if block in self._json_blocks:
            return [ChatChunk(content=arguments)]
        index = self._tool_index.setdefault(block, len(self._tool_index))
        return [ChatChunk(tool_calls=(ToolCallDelta(index, arguments=arguments),))]


def _frame_length(message: EventStreamMessage) -> int:
    # botocore-stubs types ``prelude`` as int; it is a MessagePrelude.
    return cast(MessagePrelude, message.prelude).total_length


def _message_of(payload: bytes) -> str:
    """The message of an exception frame's JSON payload."""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")[:500]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("Message") or data)
    return str(data)
