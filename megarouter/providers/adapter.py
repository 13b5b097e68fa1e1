"""The contract between MegaRouter and a protocol family."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

import httpx

from megarouter.errors import ProviderBadRequest
from megarouter.providers.spec import Credential, ProviderSpec
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)


class ProviderAdapter(abc.ABC):
    """Speaks one protocol family to one provider.

    MegaRouter builds one adapter per provider and keeps it for the life of
    the process. The adapter receives a pooled :class:`httpx.AsyncClient`
    already configured with the provider's base URL, timeouts and limits; it
    owns nothing else. Every method translates MegaRouter types into the
    provider's wire format and back, and raises only
    :class:`~megarouter.errors.ProviderError` subclasses, so that the caller
    can tell a retryable failure from a final one.

    Subclasses set ``family`` and implement :meth:`complete` and
    :meth:`stream`; those that support embeddings override :meth:`embed`.

    Args:
        spec: the provider this adapter speaks to.
        credential: the credential to send, or None for providers without
            auth.
        client: the pooled HTTP client for this provider.
    """

    family: str = ""

    def __init__(
        self,
        spec: ProviderSpec,
        credential: Credential | None,
        client: httpx.AsyncClient,
    ) -> None:
        self.spec = spec
        self.credential = credential
        self.client = client

    @abc.abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion and return the whole answer."""

    @abc.abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream one chat completion.

        Yields text and tool-call deltas; the last chunk has
        ``finish_reason`` set and, when the provider reports it, ``usage``.
        Closing the iterator early (``aclose()``) must close the upstream
        request.
        """

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed each input; only families with embedding models override."""
        raise ProviderBadRequest(
            f"provider {self.spec.name!r} does not offer embeddings",
            provider=self.spec.name,
        )

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request, from the spec's auth scheme."""
        from megarouter.providers.http import auth_headers

        return auth_headers(self.spec, self.credential)
