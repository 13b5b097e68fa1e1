"""Cohere v2's streamed chat events, folded into MegaRouter chunks."""

from __future__ import annotations

from typing import Any

from megarouter.errors import ProviderResponseError
from megarouter.providers.http import SSEEvent, parse_json
from megarouter.providers.types import ChatChunk, FinishReason, ToolCallDelta
from megarouter_cohere.wire import FINISH_REASONS, parse_usage


class ChatStream:
    """Turns one stream's events into chunks; ``done`` after message-end.

    Args:
        provider: the provider's name, for error messages.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False

    def feed(self, event: SSEEvent) -> ChatChunk | None:
        """The chunk this event yields, if any.

        Raises:
            ProviderResponseError: the event is not valid JSON or is malformed.
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
        if kind == "content-delta":
            text = data["delta"]["message"]["content"].get("text") or ""
            return ChatChunk(content=text) if text else None
        if kind == "tool-plan-delta":
            plan = data["delta"]["message"].get("tool_plan") or ""
            return ChatChunk(content=plan) if plan else None
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._tool_call(data)
        if kind == "message-end":
            self.done = True
            delta = data.get("delta") or {}
            finish = FINISH_REASONS.get(
                delta.get("finish_reason") or "", FinishReason.UNKNOWN
            )
            return ChatChunk(
                finish_reason=finish, usage=parse_usage(delta.get("usage"))
            )
        return None  # message-start, content-start/end, tool-call-end, citations

    def _tool_call(self, data: dict[str, Any]) -> ChatChunk | None:
        call = data["delta"]["message"]["tool_calls"]
        function = call.get("function") or {}
        delta = ToolCallDelta(
            int(data["index"]),
            call.get("id") or "",
            function.get("name") or "",
            function.get("arguments") or "",
        )
        return ChatChunk(tool_calls=(delta,))
