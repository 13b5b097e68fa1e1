"""The Gemini protocol family: Google's Gemini API and Vertex AI's Gemini."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from megarouter.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderResponseError,
    ProviderTimeout,
)
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import (
    iter_sse,
    parse_json,
    post_json,
    stream_json,
    translate_transport_errors,
)
from megarouter.providers.spec import AuthScheme, Credential, ProviderSpec
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from megarouter_gemini import wire
from megarouter_gemini.errors import raise_for_google_status
from megarouter_gemini.stream_events import GeminiStreamReader

logger = logging.getLogger(__name__)

DEFAULT_PATH_PREFIX = "/v1beta"
EMBED_BATCH_SIZE = 100  # the most requests batchEmbedContents accepts at once


class GeminiAdapter(ProviderAdapter):
    """Speaks Gemini's ``generateContent`` API.

    The Gemini API authenticates with an ``x-goog-api-key`` header
    (``AuthScheme.HEADER``). Vertex AI serves the same wire format under a
    project path and takes an OAuth access token (``AuthScheme.BEARER``);
    its spec sets ``options["path_prefix"]``, for example
    ``/v1/projects/{project}/locations/{location}/publishers/google``, whose
    placeholders are filled from the spec's options and the credential's
    extras.

    A placeholder nobody fills makes every call fail with a final
    :class:`~megarouter.errors.ProviderAuthError` naming it, since only an
    operator can fix it.

    ``options["schema_dialect"] = "openapi"`` sends tool and response
    schemas in Gemini's OpenAPI subset instead of full JSON Schema.
    """

    family = "gemini"

    def __init__(
        self,
        spec: ProviderSpec,
        credential: Credential | None,
        client: httpx.AsyncClient,
    ) -> None:
        super().__init__(spec, credential, client)
        self._prefix, self._prefix_problem = _path_prefix(spec, credential)
        self._json_schema = spec.options.get("schema_dialect", "") != "openapi"
        self._signatures = wire.ThoughtSignatures()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one ``generateContent`` call."""
        data = await self._post_json(
            self._model_path(request.model, "generateContent"),
            self._body(request),
            request.timeout,
        )
        response = wire.chat_response(self.spec.name, data, self._signatures)
        logger.info(
            "gemini call provider=%s model=%s finish=%s",
            self.spec.name,
            request.model,
            response.finish_reason,
        )
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream one ``streamGenerateContent`` call as server-sent events."""
        provider = self.spec.name
        body = self._body(request)
        path = self._model_path(request.model, "streamGenerateContent")
        reader = GeminiStreamReader(provider, self._signatures)

        with translate_transport_errors(provider):
            async with stream_json(
                self.client,
                path,
                body,
                params=self._params({"alt": "sse"}),
                headers=self.auth_headers(),
                timeout=self._timeout(request.timeout),
            ) as response:
                await raise_for_google_status(provider, response)
                async for event in iter_sse(response):
                    for chunk in reader.read(parse_json(provider, event.data.encode())):
                        yield chunk

        final = reader.finish()
        logger.info(
            "gemini stream provider=%s model=%s finish=%s",
            provider,
            request.model,
            final.finish_reason,
        )
        yield final

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed through ``batchEmbedContents``, 100 inputs per call at most."""
        if "/projects/" in self._prefix:
            raise ProviderBadRequest(
                f"{self.spec.name}: Vertex AI embeds through :predict, which this "
                "family does not speak",
                provider=self.spec.name,
            )
        if not request.inputs:
            return EmbeddingResponse(vectors=(), model=request.model)
        model = request.model.removeprefix("models/")
        path = self._model_path(model, "batchEmbedContents")
        batches = [
            request.inputs[start : start + EMBED_BATCH_SIZE]
            for start in range(0, len(request.inputs), EMBED_BATCH_SIZE)
        ]
        results = await asyncio.gather(
            *(
                self._post_json(
                    path, _embed_body(model, batch, request.dimensions), request.timeout
                )
                for batch in batches
            )
        )
        vectors = [
            vector
            for data, batch in zip(results, batches, strict=True)
            for vector in self._vectors(data, len(batch))
        ]
        # Gemini does not report token usage for embeddings.
        return EmbeddingResponse(vectors=tuple(vectors), usage=None, model=model)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        return wire.generate_content_body(
            self.spec.name,
            request,
            json_schema=self._json_schema,
            signatures=self._signatures,
        )

    def auth_headers(self) -> dict[str, str]:
        """``x-goog-api-key`` for the Gemini API, a bearer token for Vertex."""
        credential = self.credential
        if credential is None or not credential.api_key:
            return {}
        if self.spec.auth is AuthScheme.HEADER:
            return {self.spec.auth_header or "x-goog-api-key": credential.api_key}
        return super().auth_headers()

    def _params(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Query parameters: ``extra`` plus the key, for ``AuthScheme.QUERY``."""
        params = dict(extra or {})
        credential = self.credential
        if self.spec.auth is AuthScheme.QUERY and credential and credential.api_key:
            params[self.spec.auth_header or "key"] = credential.api_key
        return params

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        """A per-call httpx timeout, or the client's own when none is given."""
        return self.client.timeout if seconds is None else httpx.Timeout(seconds)

    def _model_path(self, model: str, method: str) -> str:
        """The path of ``method`` on ``model`` under the API root."""
        if self._prefix_problem:
            raise ProviderAuthError(self._prefix_problem, provider=self.spec.name)
        # Tuned models and full resource names already carry their collection.
        resource = model if "/" in model else f"models/{model}"
        return f"{self._prefix}/{resource}:{method}"

    async def _post_json(
        self, path: str, body: Mapping[str, Any], seconds: float | None
    ) -> Any:
        """POST a JSON body and return the decoded JSON answer."""
        provider = self.spec.name
        try:
            async with asyncio.timeout(seconds):
                with translate_transport_errors(provider):
                    response = await post_json(
                        self.client,
                        path,
                        body,
                        params=self._params(),
                        headers=self.auth_headers(),
                        timeout=self._timeout(seconds),
                    )
                    await raise_for_google_status(provider, response)
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"{provider}: no answer within {seconds}s", provider=provider
            ) from exc
        return parse_json(provider, response.content)

    def _vectors(self, data: Any, expected: int) -> list[tuple[float, ...]]:
        """The vectors in a batchEmbedContents answer, checked for count."""
        embeddings = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(embeddings, list) or len(embeddings) != expected:
            raise ProviderResponseError(
                f"{self.spec.name}: expected {expected} embeddings in the response",
                provider=self.spec.name,
            )
        return [tuple(float(x) for x in item["values"]) for item in embeddings]


def _path_prefix(spec: ProviderSpec, credential: Credential | None) -> tuple[str, str]:
    """The API root path, placeholders filled from options and credential.

    Returns:
        The path, and what is missing from it ("" when nothing is).
    """
    template = spec.options.get("path_prefix", DEFAULT_PATH_PREFIX)
    supplied = {**spec.options, **(credential.extra if credential else {})}
    values = {name: value for name, value in supplied.items() if value}
    try:
        prefix = template.format_map(values)
    except KeyError as exc:
        problem = (
            f"{spec.name}: path_prefix {template!r} needs {exc.args[0]!r} in the "
            "provider's options or the credential"
        )
        return template, problem
    return "/" + prefix.strip("/"), ""


def _embed_body(
    model: str, texts: Sequence[str], dimensions: int | None
) -> dict[str, Any]:
    """The batchEmbedContents body for ``texts``."""
    requests = []
    for text in texts:
        item: dict[str, Any] = {
            "model": f"models/{model}",
            "content": {"parts": [{"text": text}]},
        }
        if dimensions is not None:
            item["outputDimensionality"] = dimensions
        requests.append(item)
    return {"requests": requests}
