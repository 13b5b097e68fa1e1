"""The Ollama family: Ollama's native chat and embed API."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator

import httpx

from megarouter.errors import ProviderResponseError
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import (
    ErrorBody,
    error_for_status,
    iter_ndjson,
    parse_json,
    post_json,
    raise_for_status,
    stream_json,
    translate_transport_errors,
)
from megarouter.providers.spec import AuthScheme
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from megarouter_ollama.wire import (
    ChatStream,
    build_chat_body,
    build_embed_body,
    parse_chat,
    parse_embed,
)

logger = logging.getLogger(__name__)

CHAT_PATH = "/api/chat"
EMBED_PATH = "/api/embed"


class OllamaAdapter(ProviderAdapter):
    """Speaks Ollama's native API (``/api/chat``, ``/api/embed``).

    Ollama itself has no auth; when a credential is set anyway (a proxy in
    front of it), it is sent as a Bearer token.
    """

    family = "ollama"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion and return the whole answer."""
        body = build_chat_body(self.spec.name, request, stream=False)

        with translate_transport_errors(self.spec.name):
            response = await post_json(
                self.client,
                CHAT_PATH,
                body,
                headers=self.auth_headers(),
                timeout=self._timeout(request.timeout),
            )
            await raise_for_status(self.spec.name, response)

        payload = parse_json(self.spec.name, response.content)
        answer = parse_chat(self.spec.name, payload)
        logger.debug(
            "%s answered %s: %s", self.spec.name, request.model, answer.finish_reason
        )
        return answer

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        """Stream one chat completion as newline-delimited JSON."""
        body = build_chat_body(self.spec.name, request, stream=True)
        objects = ChatStream(self.spec.name)

        with translate_transport_errors(self.spec.name):
            async with stream_json(
                self.client,
                CHAT_PATH,
                body,
                headers=self.auth_headers(),
                timeout=self._timeout(request.timeout),
            ) as response:
                await raise_for_status(self.spec.name, response)
                async for payload in self._objects(response):
                    chunk = objects.feed(payload)
                    if chunk is not None:
                        yield chunk
                    if objects.done:
                        return

        raise ProviderResponseError(
            f"{self.spec.name}: stream ended before its done object",
            provider=self.spec.name,
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed each input in one call."""
        with translate_transport_errors(self.spec.name):
            response = await post_json(
                self.client,
                EMBED_PATH,
                build_embed_body(request),
                headers=self.auth_headers(),
                timeout=self._timeout(request.timeout),
            )
            await raise_for_status(self.spec.name, response)

        payload = parse_json(self.spec.name, response.content)
        return parse_embed(self.spec.name, payload, request.model)

    def auth_headers(self) -> dict[str, str]:
        """Bearer auth when a credential is set, even for a server without auth."""
        key = self.credential.api_key if self.credential else ""
        if self.spec.auth is AuthScheme.NONE and key:
            return {"authorization": f"Bearer {key}"}
        return super().auth_headers()

    async def _objects(
        self, response: httpx.Response
    ) -> AsyncIterator[dict[str, object]]:
        """The stream's JSON objects; an ``error`` object mid-stream raises."""
        lines = iter_ndjson(response)
        while True:
            try:
                payload = await anext(lines)
            except StopAsyncIteration:
                return
            except ValueError as exc:
                raise ProviderResponseError(
                    f"{self.spec.name}: stream line is not JSON: {exc}",
                    provider=self.spec.name,
                ) from exc
            if not isinstance(payload, dict):
                raise ProviderResponseError(
                    f"{self.spec.name}: stream line is not an object",
                    provider=self.spec.name,
                )
            if "error" in payload:  # the status was already sent as 200
                body = ErrorBody(str(payload["error"]))
                raise error_for_status(self.spec.name, 500, body)
            yield payload

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        """The request's own timeout, else the client's."""
        return self.client.timeout if seconds is None else httpx.Timeout(seconds)
