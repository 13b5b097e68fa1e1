"""The adapter for Azure OpenAI: Chat Completions behind deployment URLs.

Azure serves the OpenAI wire format per deployment, not per model::

    POST {endpoint}/openai/deployments/{deployment}/chat/completions
         ?api-version=2024-10-21

``base_url`` is the resource endpoint, ``https://{resource}.openai.azure.com``
with ``{resource}`` filled from the option of that name, and the request's
model is the deployment name. The key goes in an ``api-key`` header
(``AuthScheme.HEADER``), or a Microsoft Entra ID token in
``Authorization: Bearer`` (``AuthScheme.BEARER``). ``options["api_version"]``
picks the API version. Azure's content filter refuses a prompt with a 400
whose code is ``content_filter``, or stops an answer with finish reason
``content_filter``; both become :class:`~megarouter.errors.ContentFiltered`.
"""

from __future__ import annotations

from urllib.parse import quote

from megarouter_openai.adapter import OpenAIAdapter

from megarouter.errors import ContentFiltered, ProviderError
from megarouter.providers.http import ErrorBody
from megarouter.providers.spec import AuthScheme
from megarouter.providers.types import ChatRequest, EmbeddingRequest, FinishReason

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version
_FILTER_CODES = ("content_filter", "ResponsibleAIPolicyViolation")


class AzureOpenAIAdapter(OpenAIAdapter):
    """Speaks Azure OpenAI's deployment-scoped Chat Completions and Embeddings."""

    family = "azure_openai"

    def chat_url(self, request: ChatRequest) -> str:
        return self._deployment_url(request.model, "chat/completions")

    def embeddings_url(self, request: EmbeddingRequest) -> str:
        return self._deployment_url(request.model, "embeddings")

    def query_params(self) -> dict[str, str]:
        version = self.spec.options.get("api_version") or DEFAULT_API_VERSION
        return {"api-version": version}

    def auth_headers(self) -> dict[str, str]:
        """``api-key: <key>`` by default, or the Entra ID bearer token."""
        if self.spec.auth is AuthScheme.HEADER and self.credential is not None:
            return {self.spec.auth_header or "api-key": self.credential.api_key}
        return super().auth_headers()

    def error_for(
        self, status: int, body: ErrorBody, retry_after: float | None
    ) -> ProviderError:
        if body.code in _FILTER_CODES:
            return ContentFiltered(
                f"{self.spec.name}: HTTP {status}: {body.message}",
                provider=self.spec.name,
                status=status,
                details={"type": body.type, "code": body.code},
            )
        return super().error_for(status, body, retry_after)

    def finish_reason(self, raw: str | None) -> FinishReason:
        """Upstream's finish reason; a filtered answer raises instead."""
        if raw == "content_filter":
            raise ContentFiltered(
                f"{self.spec.name}: the answer was stopped by Azure's content filter",
                provider=self.spec.name,
                details={"code": "content_filter"},
            )
        return super().finish_reason(raw)

    def _deployment_url(self, deployment: str, operation: str) -> str:
        """``{endpoint}/openai/deployments/{deployment}/{operation}``."""
        endpoint = self.api_root.removesuffix("/openai")
        name = quote(deployment, safe="")
        return f"{endpoint}/openai/deployments/{name}/{operation}"
