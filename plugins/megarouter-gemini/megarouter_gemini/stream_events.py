"""streamGenerateContent's events, read into chunks.

With ``alt=sse`` every server-sent event carries one
``GenerateContentResponse`` holding the newest piece of the answer. The
finish reason arrives on the last candidate, and ``usageMetadata`` grows
with each event, so the last one seen is the total. An event may instead
carry a Google error body when the call fails after the stream started.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from megarouter.errors import ProviderResponseError
from megarouter.providers.types import ChatChunk, ToolCallDelta, Usage
from megarouter_gemini import wire
from megarouter_gemini.errors import google_error


class GeminiStreamReader:
    """Turns decoded stream events into :class:`ChatChunk` s.

    Args:
        provider: the provider's name, for errors.
        signatures: where to remember the function calls' thought signatures.
    """

    def __init__(self, provider: str, signatures: MutableMapping[str, str]) -> None:
        self._provider = provider
        self._signatures = signatures
        self._reason: str | None = None
        self._usage: Usage | None = None
        self._calls = 0

    def read(self, data: Any) -> list[ChatChunk]:
        """The chunks in one event.

        Raises:
            ProviderError: the event is an error, a blocked prompt, or not a
                response at all.
        """
        provider = self._provider
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            status = int(data["error"].get("code") or 500)
            raise google_error(provider, status, json.dumps(data).encode())

        with wire.malformed_response(provider):
            candidate = wire.first_candidate(provider, data)
            self._usage = wire.read_usage(data.get("usageMetadata")) or self._usage
            if candidate is None:
                return []
            text, calls = wire.read_parts(candidate, self._signatures)
            self._reason = candidate.get("finishReason") or self._reason

        chunks = [ChatChunk(content=text)] if text else []
        for call in calls:
            delta = ToolCallDelta(self._calls, call.id, call.name, call.arguments)
            chunks.append(ChatChunk(tool_calls=(delta,)))
            self._calls += 1
        return chunks

    def finish(self) -> ChatChunk:
        """The closing chunk, once the stream has ended.

        Raises:
            ProviderResponseError: no event carried a finish reason.
        """
        if self._reason is None:
            raise ProviderResponseError(
                f"{self._provider}: stream ended without a finish reason",
                provider=self._provider,
            )
        return ChatChunk(
            finish_reason=wire.finish_reason(self._reason, self._calls > 0),
            usage=self._usage,
        )
