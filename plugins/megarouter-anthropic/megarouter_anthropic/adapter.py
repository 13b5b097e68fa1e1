"""The Anthropic Messages API family."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import httpx

from megarouter.errors import ProviderResponseError
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import (
    iter_sse,
    parse_json,
    post_json,
    raise_for_status,
    stream_json,
    translate_transport_errors,
)
from megarouter.providers.types import ChatChunk, ChatRequest, ChatResponse
from megarouter_anthropic.events import MessageStream
from megarouter_anthropic.wire import build_messages_call, parse_message

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/v1/messages"
DEFAULT_API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096


class AnthropicAdapter(ProviderAdapter):
    """Speaks the Anthropic Messages API (``POST /v1/messages``).

    The credential goes where the spec's auth scheme says (``x-api-key``
    for Anthropic itself; some compatible providers take a Bearer token) and
    the API version in ``anthropic-version`` (the spec's
    ``anthropic_version`` option, else 2023-06-01). Embeddings are not
    offered.
    """

    family = "anthropic"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion and return the whole answer."""
        call = build_messages_call(
            self.spec.name, request, self._max_tokens(request), stream=False
        )

        with translate_transport_errors(self.spec.name):
            response = await post_json(
                self.client,
                MESSAGES_PATH,
                call.body,
                headers=self._headers(),
                timeout=self._timeout(request),
            )
            await raise_for_status(self.spec.name, response)

        payload = parse_json(self.spec.name, response.content)
        answer = parse_message(self.spec.name, payload, call.json_tool)
        logger.debug(
            "%s answered %s with %s",
            self.spec.name,
            request.model,
            answer.finish_reason,
        )
        return answer

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        """Stream one chat completion as server-sent events."""
        call = build_messages_call(
            self.spec.name, request, self._max_tokens(request), stream=True
        )
        events = MessageStream(self.spec.name, call.json_tool)

        with translate_transport_errors(self.spec.name):
            async with stream_json(
                self.client,
                MESSAGES_PATH,
                call.body,
                headers=self._headers(),
                timeout=self._timeout(request),
            ) as response:
                await raise_for_status(self.spec.name, response)
                async for event in iter_sse(response):
                    chunk = events.feed(event)
                    if chunk is not None:
                        yield chunk
                    if events.done:
                        return

        raise ProviderResponseError(
            f"{self.spec.name}: stream ended before message_stop",
            provider=self.spec.name,
        )

    def _headers(self) -> dict[str, str]:
        version = self.spec.options.get("anthropic_version", DEFAULT_API_VERSION)
        return {"anthropic-version": version, **self.auth_headers()}

    def _timeout(self, request: ChatRequest) -> httpx.Timeout:
        """The request's own timeout, else the client's."""
        if request.timeout is None:
            return self.client.timeout
        return httpx.Timeout(request.timeout)

    def _max_tokens(self, request: ChatRequest) -> int:
        """The request's limit, else the model's, else 4096 (the API needs one)."""
        if request.max_tokens:
            return request.max_tokens
        for model in self.spec.models:
            if request.model == model.id or request.model in model.aliases:
                return model.max_output_tokens or DEFAULT_MAX_TOKENS
        return DEFAULT_MAX_TOKENS
