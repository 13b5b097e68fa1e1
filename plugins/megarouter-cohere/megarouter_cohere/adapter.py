"""The Cohere v2 family: chat and embeddings."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import httpx

from megarouter.errors import ProviderAuthError, ProviderResponseError
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import (
    error_for_status,
    iter_sse,
    parse_json,
    parse_retry_after,
    post_json,
    read_error_body,
    stream_json,
    translate_transport_errors,
)
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from megarouter_cohere.events import ChatStream
from megarouter_cohere.wire import (
    build_chat_body,
    build_embed_body,
    parse_chat,
    parse_embed,
)

logger = logging.getLogger(__name__)

CHAT_PATH = "/v2/chat"
EMBED_PATH = "/v2/embed"


class CohereAdapter(ProviderAdapter):
    """Speaks Cohere's v2 API (``/v2/chat``, ``/v2/embed``) with a Bearer key.

    Cohere's errors are ``{"message": ...}`` bodies (sometimes with an
    ``id``); a 402 (billing) is final, like a refused key.
    """

    family = "cohere"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion and return the whole answer."""
        body = build_chat_body(request, stream=False)

        with translate_transport_errors(self.spec.name):
            response = await post_json(
                self.client,
                CHAT_PATH,
                body,
                headers=self.auth_headers(),
                timeout=self._timeout(request.timeout),
            )
            await self._raise_for_status(response)

        payload = parse_json(self.spec.name, response.content)
        answer = parse_chat(self.spec.name, payload)
        logger.debug(
            "%s answered %s: %s", self.spec.name, request.model, answer.finish_reason
        )
        return answer

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        """Stream one chat completion as server-sent events."""
        body = build_chat_body(request, stream=True)
        events = ChatStream(self.spec.name)

        with translate_transport_errors(self.spec.name):
            async with stream_json(
                self.client,
                CHAT_PATH,
                body,
                headers=self.auth_headers(),
                timeout=self._timeout(request.timeout),
            ) as response:
                await self._raise_for_status(response)
                async for event in iter_sse(response):
                    chunk = events.feed(event)
                    if chunk is not None:
                        yield chunk
                    if events.done:
                        return

        raise ProviderResponseError(
            f"{self.spec.name}: stream ended before message-end",
            provider=self.spec.name,
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed each input as a search document, as float vectors."""
        with translate_transport_errors(self.spec.name):
            response = await post_json(
                self.client,
                EMBED_PATH,
                build_embed_body(request),
                headers=self.auth_headers(),
                timeout=self._timeout(request.timeout),
            )
            await self._raise_for_status(response)

        payload = parse_json(self.spec.name, response.content)
        return parse_embed(self.spec.name, payload, request.model)

    async def _raise_for_status(self, response: httpx.Response) -> None:
        """Raise the MegaRouter error for a failed response; no-op on 2xx."""
        if response.is_success:
            return
        body = read_error_body(await response.aread())
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.status_code == 402:  # billing: an operator must act
            raise ProviderAuthError(
                f"{self.spec.name}: HTTP 402: {body.message}",
                provider=self.spec.name,
                status=402,
            )
        raise error_for_status(self.spec.name, response.status_code, body, retry_after)

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        """The request's own timeout, else the client's."""
        return self.client.timeout if seconds is None else httpx.Timeout(seconds)
