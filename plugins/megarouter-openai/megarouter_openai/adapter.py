"""The adapter for the OpenAI-compatible Chat Completions API.

OpenAI defined the protocol and many providers speak it (Groq, Together,
Fireworks, DeepInfra, Mistral, xAI, DeepSeek) as do self-hosted servers
(vLLM, llama.cpp, LM Studio). A provider spec of family ``openai`` sets
``base_url`` to the API root including any ``/v1``; these ``options`` are
understood:

- ``max_tokens_param``: the name of the output limit field, ``max_tokens``
  by default; ``max_completion_tokens`` for OpenAI's reasoning models.
- ``organization`` and ``openai_project``: sent as ``OpenAI-Organization``
  and ``OpenAI-Project`` headers.
- ``api_version``: sent as the ``api-version`` query parameter, which
  Azure-hosted OpenAI-compatible endpoints require.
- any ``{name}`` placeholder in ``base_url`` (an Azure resource, a Cloudflare
  account) is filled from the option of that name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from megarouter.catalog.endpoints import resolve_base_url
from megarouter.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderTimeout,
)
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import (
    ErrorBody,
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
    FinishReason,
    ToolCallDelta,
    Usage,
)
from megarouter_openai import wire

logger = logging.getLogger(__name__)

# Error "type" values in stream error events, and the HTTP status each means.
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "requests": 429,
    "tokens": 429,
    "overloaded_error": 503,
}


class OpenAIAdapter(ProviderAdapter):
    """Speaks Chat Completions and Embeddings to one provider.

    Subclasses for dialects of the protocol override :meth:`chat_url`,
    :meth:`embeddings_url`, :meth:`query_params`, :meth:`error_for` or
    :meth:`finish_reason` and keep the translation.
    """

    family = "openai"

    # --- what dialects override --------------------------------------------

    @property
    def api_root(self) -> str:
        """``base_url`` with its placeholders filled, without a trailing slash.

        Raises:
            ConfigurationError: an option the URL needs is not set.
        """
        return resolve_base_url(self.spec).rstrip("/")

    def chat_url(self, request: ChatRequest) -> str:
        """The absolute URL chat requests are posted to."""
        return f"{self.api_root}/chat/completions"

    def embeddings_url(self, request: EmbeddingRequest) -> str:
        """The absolute URL embedding requests are posted to."""
        return f"{self.api_root}/embeddings"

    def query_params(self) -> dict[str, str]:
        """Query parameters sent with every request."""
        version = self.spec.options.get("api_version")
        return {"api-version": version} if version else {}

    def request_headers(self) -> dict[str, str]:
        """Auth plus the optional organization and project headers."""
        headers = self.auth_headers()
        if organization := self.spec.options.get("organization"):
            headers["openai-organization"] = organization
        if project := self.spec.options.get("openai_project"):
            headers["openai-project"] = project
        return headers

    def error_for(
        self, status: int, body: ErrorBody, retry_after: float | None
    ) -> ProviderError:
        """The MegaRouter error for an error status and body from upstream."""
        return error_for_status(self.spec.name, status, body, retry_after)

    def finish_reason(self, raw: str | None) -> FinishReason:
        """Our finish reason for upstream's; dialects may raise instead."""
        return wire.finish_reason(raw)

    # --- chat ---------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion and return the whole answer.

        Raises:
            ProviderError: a subclass saying what went wrong and whether
                another attempt may succeed.
        """
        body = wire.chat_body(request, self.spec.options, stream=False)
        data = await self._post_json(self.chat_url(request), body, request.timeout)
        response = wire.parse_completion(self.spec.name, data, self.finish_reason)
        logger.debug(
            "%s: %s answered, finish=%s",
            self.spec.name,
            request.model,
            response.finish_reason,
        )
        return response

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        """Stream one chat completion as text and tool-call deltas.

        The last chunk carries the finish reason and the usage, which the
        request asks for with ``stream_options.include_usage``.

        Raises:
            ProviderError: an HTTP error before the stream starts, an error
                event inside it, or a stream that ends before it finishes.
        """
        body = wire.chat_body(request, self.spec.options, stream=True)
        deadline = _deadline(request.timeout)
        with translate_transport_errors(self.spec.name):
            async with stream_json(
                self.client,
                self.chat_url(request),
                body,
                params=self.query_params(),
                headers=self.request_headers(),
                timeout=self._timeout(request.timeout),
            ) as response:
                await self._raise_for_status(response)
                if _is_whole_json(response):
                    # Some self-hosted servers ignore "stream": true and
                    # answer with one completion: pass it on as one delta.
                    await response.aread()
                    for chunk in self._whole_as_chunks(response.content):
                        yield chunk
                    return
                chunks = self._read_stream(response, deadline)
                async with contextlib.aclosing(chunks):
                    async for chunk in chunks:
                        yield chunk

    def _whole_as_chunks(self, content: bytes) -> list[ChatChunk]:
        """A whole completion sent for a stream request, as stream chunks."""
        data = self._answer_json(content)
        whole = wire.parse_completion(self.spec.name, data, self.finish_reason)
        calls = tuple(
            ToolCallDelta(i, call.id, call.name, call.arguments)
            for i, call in enumerate(whole.tool_calls)
        )
        last = ChatChunk(finish_reason=whole.finish_reason, usage=whole.usage)
        if not whole.content and not calls:
            return [last]
        return [ChatChunk(content=whole.content, tool_calls=calls), last]

    async def _read_stream(
        self, response: httpx.Response, deadline: float | None
    ) -> AsyncGenerator[ChatChunk, None]:
        """Chunks from an SSE body, ending with the finish and usage chunk."""
        done = False
        finish: FinishReason | None = None
        usage: Usage | None = None
        async for event in iter_sse(response):
            if event.data.strip() == "[DONE]":
                done = True
                break
            data = parse_json(self.spec.name, event.data.encode())
            if isinstance(data, dict) and data.get("error"):
                raise self._inband_error(data)

            delta = wire.parse_chunk(self.spec.name, data)
            usage = delta.usage or usage
            if delta.finish_reason:
                finish = self.finish_reason(delta.finish_reason)
            if delta.content or delta.tool_calls:
                yield ChatChunk(content=delta.content, tool_calls=delta.tool_calls)
            _check_deadline(self.spec.name, deadline)

        if not done and finish is None:
            raise ProviderResponseError(
                f"{self.spec.name}: stream ended before the answer finished",
                provider=self.spec.name,
            )
        yield ChatChunk(finish_reason=finish or FinishReason.UNKNOWN, usage=usage)

    def _inband_error(self, data: dict[str, Any]) -> ProviderError:
        """The error an ``{"error": ...}`` document inside a body stands for."""
        body = read_error_body(json.dumps(data).encode())
        status = _inband_error_status(data, body)
        return self.error_for(status, body, None)

    # --- embeddings ---------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed every input, returning the vectors in input order.

        Raises:
            ProviderError: a subclass saying what went wrong.
        """
        body = wire.embeddings_body(request)
        url = self.embeddings_url(request)
        data = await self._post_json(url, body, request.timeout)
        return wire.parse_embeddings(self.spec.name, data, len(request.inputs))

    # --- HTTP ---------------------------------------------------------------

    async def _post_json(
        self, url: str, body: dict[str, Any], time_limit: float | None
    ) -> Any:
        """POST ``body``, raise the mapped error on failure, return the JSON."""
        try:
            async with asyncio.timeout(time_limit):
                with translate_transport_errors(self.spec.name):
                    response = await post_json(
                        self.client,
                        url,
                        body,
                        params=self.query_params(),
                        headers=self.request_headers(),
                        timeout=self._timeout(time_limit),
                    )
                    await self._raise_for_status(response)
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"{self.spec.name}: no answer within {time_limit}s",
                provider=self.spec.name,
            ) from exc

        return self._answer_json(response.content)

    def _answer_json(self, content: bytes) -> Any:
        """A 2xx body's JSON, or the error it carries (some send errors as 200)."""
        data = parse_json(self.spec.name, content)
        if isinstance(data, dict) and data.get("error") and "choices" not in data:
            raise self._inband_error(data)
        return data

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        """The request's own timeout, or the client's when it sets none."""
        if seconds is None:
            return self.client.timeout
        return httpx.Timeout(seconds)

    async def _raise_for_status(self, response: httpx.Response) -> None:
        """Raise :meth:`error_for`'s error for a non-2xx response."""
        if response.is_success:
            return
        payload = await response.aread()
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        logger.debug("%s: HTTP %s", self.spec.name, response.status_code)
        raise self.error_for(
            response.status_code, read_error_body(payload), retry_after
        )


def _inband_error_status(data: dict[str, Any], body: ErrorBody) -> int:
    """The HTTP status an in-band error stands for (500 when unsaid)."""
    error = data.get("error")
    declared = (
        str(error.get("status") or error.get("code") or "")
        if isinstance(error, dict)
        else ""
    )
    if declared.isdigit():
        return int(declared)
    if body.code == "rate_limit_exceeded":
        return 429
    return _STREAM_ERROR_STATUS.get(body.type, 500)


def _is_whole_json(response: httpx.Response) -> bool:
    """Whether a stream request was answered with one JSON document."""
    kind: str = response.headers.get("content-type", "")
    return kind.split(";")[0].strip().lower() == "application/json"


def _deadline(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    return asyncio.get_running_loop().time() + timeout


def _check_deadline(provider: str, deadline: float | None) -> None:
    """Raise ProviderTimeout once a stream has run past its deadline."""
    if deadline is not None and asyncio.get_running_loop().time() > deadline:
        raise ProviderTimeout(
            f"{provider}: stream ran past its deadline", provider=provider
        )
