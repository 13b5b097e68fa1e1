"""The Bedrock protocol family: Amazon Bedrock's Converse API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from megarouter.errors import ProviderAuthError, ProviderResponseError, ProviderTimeout
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import parse_json, translate_transport_errors
from megarouter.providers.spec import Credential, ProviderSpec
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
)
from megarouter_bedrock import wire
from megarouter_bedrock.converse_stream import ConverseStreamReader
from megarouter_bedrock.errors import raise_for_aws_status
from megarouter_bedrock.signing import BedrockSigner

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bedrock-runtime.{region}.amazonaws.com"
EVENT_STREAM = "application/vnd.amazon.eventstream"
EMBED_CONCURRENCY = 8  # InvokeModel embeds one text per call


class BedrockAdapter(ProviderAdapter):
    """Speaks Bedrock's Converse and ConverseStream, and Titan embeddings.

    Requests are signed with SigV4 (service ``bedrock``) or carry a Bedrock
    API key; see :class:`~megarouter_bedrock.signing.BedrockSigner` for
    where the keys and region come from. ``spec.base_url`` may contain
    ``{region}``, for example ``https://bedrock-runtime.{region}.amazonaws.com``.

    Without a region where one is needed, every call fails with a final
    :class:`~megarouter.errors.ProviderAuthError` saying so.
    """

    family = "bedrock"

    def __init__(
        self,
        spec: ProviderSpec,
        credential: Credential | None,
        client: httpx.AsyncClient,
    ) -> None:
        super().__init__(spec, credential, client)
        self._signer = BedrockSigner(spec, credential)
        root = spec.base_url or DEFAULT_BASE_URL
        self._needs_region = "{region}" in root
        self._root = root.replace("{region}", self._signer.region).rstrip("/")

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one Converse call."""
        call = wire.converse_call(self.spec.name, request)
        data = await self._post_json(
            self._model_url(request.model, "converse"), call.body, request.timeout
        )
        response = wire.chat_response(self.spec.name, data, call.json_tool)
        logger.info(
            "bedrock call provider=%s model=%s finish=%s",
            self.spec.name,
            request.model,
            response.finish_reason,
        )
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream one ConverseStream call, decoding its event-stream frames."""
        provider = self.spec.name
        call = wire.converse_call(provider, request)
        url = self._model_url(request.model, "converse-stream")
        payload = json.dumps(call.body).encode()
        headers = self._signer.headers(
            "POST",
            url,
            payload,
            {"content-type": "application/json", "accept": EVENT_STREAM},
        )
        reader = ConverseStreamReader(provider, call.json_tool)

        with translate_transport_errors(provider):
            async with self.client.stream(
                "POST",
                url,
                content=payload,
                headers=headers,
                timeout=self._timeout(request.timeout),
            ) as response:
                await raise_for_aws_status(provider, response)
                async for data in response.aiter_bytes():
                    for chunk in reader.feed(data):
                        yield chunk

        final = reader.finish()
        logger.info(
            "bedrock stream provider=%s model=%s finish=%s",
            provider,
            request.model,
            final.finish_reason,
        )
        yield final

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed with InvokeModel on a Titan text embeddings model.

        Titan takes one text per call, so the calls run concurrently (at most
        ``EMBED_CONCURRENCY`` at once); usage is the sum of their token counts.
        """
        url = self._model_url(request.model, "invoke")
        gate = asyncio.Semaphore(EMBED_CONCURRENCY)

        async def embed_one(text: str) -> tuple[tuple[float, ...], int]:
            body: dict[str, Any] = {"inputText": text}
            if request.dimensions is not None:
                body["dimensions"] = request.dimensions
            async with gate:
                data = await self._post_json(url, body, request.timeout)
            return self._titan_vector(data)

        results = await asyncio.gather(*(embed_one(text) for text in request.inputs))
        usage = Usage(input_tokens=sum(tokens for _, tokens in results))
        return EmbeddingResponse(
            vectors=tuple(vector for vector, _ in results),
            usage=usage,
            model=request.model,
        )

    def _model_url(self, model: str, operation: str) -> str:
        """The URL of ``operation`` on ``model``, its id percent-encoded."""
        if self._needs_region and not self._signer.region:
            raise ProviderAuthError(
                f"{self.spec.name}: the base URL needs a region (credential extra "
                "'region' or provider option 'region')",
                provider=self.spec.name,
            )
        # Model ids and ARNs carry ':' and '/', which must not split the path.
        return f"{self._root}/model/{quote(model, safe='')}/{operation}"

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        """A per-call httpx timeout, or the client's own when none is given."""
        return self.client.timeout if seconds is None else httpx.Timeout(seconds)

    async def _post_json(
        self, url: str, body: Mapping[str, Any], seconds: float | None
    ) -> Any:
        """POST a signed JSON body and return the decoded JSON answer."""
        provider = self.spec.name
        payload = json.dumps(body).encode()
        headers = self._signer.headers(
            "POST",
            url,
            payload,
            {"content-type": "application/json", "accept": "application/json"},
        )
        try:
            async with asyncio.timeout(seconds):
                with translate_transport_errors(provider):
                    response = await self.client.post(
                        url,
                        content=payload,
                        headers=headers,
                        timeout=self._timeout(seconds),
                    )
                    await raise_for_aws_status(provider, response)
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"{provider}: no answer within {seconds}s", provider=provider
            ) from exc
        return parse_json(provider, response.content)

    def _titan_vector(self, data: Any) -> tuple[tuple[float, ...], int]:
        """The vector and token count in a Titan embeddings answer."""
        try:
            vector = tuple(float(x) for x in data["embedding"])
            tokens = int(data.get("inputTextTokenCount", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderResponseError(
                f"{self.spec.name}: InvokeModel answer has no embedding",
                provider=self.spec.name,
            ) from exc
        return vector, tokens
