"""Anthropic's streamed Messages events, folded into MegaRouter chunks."""

from __future__ import annotations

import json
from typing import Any

from megarouter.errors import ProviderError, ProviderResponseError
from megarouter.providers.http import ErrorBody, SSEEvent, error_for_status, parse_json
from megarouter.providers.types import ChatChunk, FinishReason, ToolCallDelta, Usage
from megarouter_anthropic.wire import STOP_REASONS, parse_usage

# The HTTP status each error type stands for, so that an error event sent
# mid-stream is classified exactly like the same error sent as a response.
ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class MessageStream:
    """Turns one stream's events into chunks; ``done`` after message_stop.

    Args:
        provider: the provider's name, for error messages.
        json_tool: the JSON tool the request forced; its input is streamed
            as text.
    """

    def __init__(self, provider: str, json_tool: str = "") -> None:
        self.provider = provider
        self.json_tool = json_tool
        self.done = False
        self._input_tokens = 0
        self._output_tokens = 0
        self._saw_usage = False
        self._stop_reason = ""
        self._text_blocks: set[int] = set()  # text, or the JSON tool's input
        self._tool_indexes: dict[int, int] = {}  # content index -> tool index

    def feed(self, event: SSEEvent) -> ChatChunk | None:
        """The chunk this event yields, if any.

        Raises:
            ProviderError: the event is an error, or is not valid JSON.
        """
        data: Any = parse_json(self.provider, event.data.encode())
        if not isinstance(data, dict):
            raise ProviderResponseError(
                f"{self.provider}: stream event is not an object",
                provider=self.provider,
            )
        kind = str(data.get("type") or event.event)
        try:
            return self._handle(kind, data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProviderResponseError(
                f"{self.provider}: unexpected {kind} event: {exc!r}",
                provider=self.provider,
            ) from exc

    def _handle(self, kind: str, data: dict[str, Any]) -> ChatChunk | None:
        if kind == "message_start":
            self._note_usage(data["message"].get("usage"))
        elif kind == "content_block_start":
            return self._start_block(data["index"], data["content_block"])
        elif kind == "content_block_delta":
            return self._delta(data["index"], data["delta"])
        elif kind == "message_delta":
            self._stop_reason = data["delta"].get("stop_reason") or self._stop_reason
            self._note_usage(data.get("usage"))
        elif kind == "message_stop":
            self.done = True
            return self._final_chunk()
        elif kind == "error":
            raise self._error(data.get("error") or {})
        return None  # ping, content_block_stop, and event types added later

    def _start_block(self, index: int, block: dict[str, Any]) -> ChatChunk | None:
        if block["type"] == "text":
            self._text_blocks.add(index)
            return ChatChunk(content=block["text"]) if block.get("text") else None
        if block["type"] == "tool_use" and block["name"] == self.json_tool:
            self._text_blocks.add(index)
            return None
        if block["type"] != "tool_use":
            return None  # thinking and server-tool blocks are not relayed
        tool_index = len(self._tool_indexes)
        self._tool_indexes[index] = tool_index
        preset = json.dumps(block["input"]) if block.get("input") else ""
        delta = ToolCallDelta(tool_index, block["id"], block["name"], preset)
        return ChatChunk(tool_calls=(delta,))

    def _delta(self, index: int, delta: dict[str, Any]) -> ChatChunk | None:
        if delta["type"] == "text_delta":
            return ChatChunk(content=delta["text"])
        if delta["type"] != "input_json_delta" or not delta["partial_json"]:
            return None
        if index in self._text_blocks:
            return ChatChunk(content=delta["partial_json"])
        tool_delta = ToolCallDelta(
            self._tool_indexes[index], arguments=delta["partial_json"]
        )
        return ChatChunk(tool_calls=(tool_delta,))

    def _note_usage(self, usage: Any) -> None:
        parsed = parse_usage(usage)
        if parsed is None:
            return
        self._saw_usage = True
        if parsed.input_tokens:
            self._input_tokens = parsed.input_tokens
        self._output_tokens = parsed.output_tokens  # message_delta is cumulative

    def _final_chunk(self) -> ChatChunk:
        finish = STOP_REASONS.get(self._stop_reason, FinishReason.UNKNOWN)
        if finish is FinishReason.TOOL_CALLS and not self._tool_indexes:
            finish = FinishReason.STOP  # only the JSON tool was called
        usage = (
            Usage(self._input_tokens, self._output_tokens) if self._saw_usage else None
        )
        return ChatChunk(finish_reason=finish, usage=usage)

    def _error(self, error: dict[str, Any]) -> ProviderError:
        kind = str(error.get("type", ""))
        body = ErrorBody(str(error.get("message", "stream error")), kind)
        return error_for_status(self.provider, ERROR_STATUSES.get(kind, 500), body)
