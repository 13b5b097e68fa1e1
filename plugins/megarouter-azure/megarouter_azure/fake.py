"""A fake Azure OpenAI resource on loopback, for tests.

:class:`AzureOpenAIFake` is the OpenAI fake behind Azure's deployment URLs
(``/openai/deployments/{deployment}/chat/completions`` and ``/embeddings``).
On top of the OpenAI fake's behaviour it requires a supported
``api-version`` query parameter (Azure answers 404 ``Resource not found``
without one), checks the ``api-key`` header or an Entra ID bearer token,
answers Azure's own error bodies, adds the content-filter annotations Azure
puts on answers and streams, and can be told to filter the next prompt or
answer. Deployment names stand for models: ``chat_model`` and
``embedding_model`` are the names of the two deployments it serves.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from megarouter_openai import fake_bodies as bodies
from megarouter_openai.fake import OpenAIFake

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import AuthScheme, Credential, ProviderSpec
from megarouter.testing.fake_http import FakeRequest, FakeResponse, sse
from megarouter.testing.fakes import FailureKind
from megarouter_azure.adapter import DEFAULT_API_VERSION, AzureOpenAIAdapter

DEFAULT_API_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
API_VERSIONS = frozenset(
    {"2024-06-01", "2024-10-21", "2024-12-01-preview", "2025-01-01-preview"}
)
_DEPLOYMENT = r"/openai/deployments/(?P<deployment>[^/]+)"

_KEY_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make "
    "sure to provide a valid key for an active subscription and use a correct "
    "regional API endpoint for your resource."
)

# Azure's verdict on every category when nothing was filtered.
_SAFE = {
    name: {"filtered": False, "severity": "safe"}
    for name in ("hate", "self_harm", "sexual", "violence")
}
_FLAGGED = {**_SAFE, "violence": {"filtered": True, "severity": "medium"}}


def azure_error(status: int, code: str, message: str) -> FakeResponse:
    """Azure's own error envelope: a code and a message, no type."""
    return FakeResponse(status, {"error": {"code": code, "message": message}})


class AzureOpenAIFake(OpenAIFake):
    """A running fake Azure OpenAI resource.

    Args:
        entra_token: a Microsoft Entra ID token it accepts as a bearer
            token instead of the key, if any.
        **kwargs: as for :class:`~megarouter_openai.fake.OpenAIFake`.
    """

    adapter_class: type[ProviderAdapter] = AzureOpenAIAdapter
    provider_name = "azure-fake"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        entra_token: str = "",
        **kwargs: Any,
    ) -> None:
        self.entra_token = entra_token
        self._filter_lock = threading.Lock()
        self._filtered_answers: deque[bool] = deque()
        super().__init__(api_key=api_key, **kwargs)

    @property
    def base_url(self) -> str:
        """The resource endpoint (the deployment path is per request)."""
        return self.server.url

    def provider_spec(self) -> ProviderSpec:
        return ProviderSpec(
            name=self.provider_name,
            family=self.adapter_class.family,
            display_name="Azure OpenAI (fake)",
            base_url=self.base_url,
            auth=AuthScheme.HEADER,
            auth_header="api-key",
            options={"api_version": DEFAULT_API_VERSION},
            models=self.model_specs(),
        )

    def credential(self) -> Credential:
        return Credential(api_key=self.api_key)

    def filter_next_prompt(self) -> None:
        """Refuse the next request as Azure does when the prompt is filtered."""
        error = {
            "code": "content_filter",
            "message": "The response was filtered due to the prompt triggering "
            "Azure OpenAI's content management policy. Please modify your "
            "prompt and retry.",
            "param": "prompt",
            "type": None,
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": _FLAGGED,
            },
        }
        response = FakeResponse(400, {"error": error})
        self.respond_next(response)

    def filter_next_answer(self) -> None:
        """Stop the next answer halfway with finish reason ``content_filter``."""
        with self._filter_lock:
            self._filtered_answers.append(True)

    def reset(self) -> None:
        super().reset()
        with self._filter_lock:
            self._filtered_answers.clear()

    # --- the OpenAI fake's hooks ----------------------------------------------

    def install_routes(self) -> None:
        chat, embeddings = self.handle_chat, self.handle_embeddings
        self.server.route("POST", rf"{_DEPLOYMENT}/chat/completions", chat)
        self.server.route("POST", rf"{_DEPLOYMENT}/embeddings", embeddings)

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        """Azure's 404 for a missing or unknown api-version, or its 401."""
        version = (request.query.get("api-version") or [""])[0]
        if version not in API_VERSIONS:
            return azure_error(404, "404", "Resource not found")
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if request.headers.get("api-key") == self.api_key:
            return None
        if self.entra_token and bearer == self.entra_token:
            return None
        if bearer and "api-key" not in request.headers:
            return azure_error(
                401,
                "PermissionDenied",
                "Unauthorized. Access token is missing, invalid, audience is "
                "incorrect (https://cognitiveservices.azure.com), or have expired.",
            )
        return azure_error(401, "401", _KEY_DENIED)

    def failure_response(self, kind: FailureKind) -> FakeResponse:
        if kind is FailureKind.RATE_LIMITED:
            return azure_error(
                429,
                "429",
                "Requests to the ChatCompletions_Create Operation under Azure "
                f"OpenAI API version {DEFAULT_API_VERSION} have exceeded token "
                "rate limit of your current OpenAI S0 pricing tier. Please retry "
                "after 7 seconds.",
            )
        if kind is FailureKind.SERVER_ERROR:
            return azure_error(
                500,
                "InternalServerError",
                "The server had an error processing your request. Please retry.",
            )
        if kind is FailureKind.OVERLOADED:
            return azure_error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unable to "
                "process your request. Please try again later.",
            )
        if kind is FailureKind.AUTH:
            return azure_error(401, "401", _KEY_DENIED)
        return super().failure_response(kind)  # Azure passes OpenAI's 400s on

    def chat_model_of(
        self, request: FakeRequest, body: dict[str, Any]
    ) -> str | FakeResponse:
        return self._deployment(request, self.chat_model)

    def embedding_model_of(
        self, request: FakeRequest, body: dict[str, Any]
    ) -> str | FakeResponse:
        return self._deployment(request, self.embedding_model)

    def answer(self, body: dict[str, Any]) -> bodies.Answer:
        answer = super().answer(body)
        with self._filter_lock:
            filtered = (
                self._filtered_answers.popleft() if self._filtered_answers else False
            )
        if not filtered:
            return answer
        half = answer.pieces[: max(1, len(answer.pieces) // 2)]
        return bodies.Answer(half, "content_filter", answer.prompt_tokens)

    def completion_document(
        self, completion_id: str, created: int, model: str, answer: bodies.Answer
    ) -> dict[str, Any]:
        document = super().completion_document(completion_id, created, model, answer)
        document["prompt_filter_results"] = [
            {"prompt_index": 0, "content_filter_results": _SAFE}
        ]
        document["choices"][0]["content_filter_results"] = (
            _FLAGGED if answer.finish_reason == "content_filter" else _SAFE
        )
        return document

    def stream_prelude(self, model: str) -> list[str]:
        """Azure opens a stream with the prompt's filter results."""
        prelude = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [
                {"prompt_index": 0, "content_filter_results": _SAFE}
            ],
        }
        return [sse(prelude)]

    def _deployment(self, request: FakeRequest, served: str) -> str | FakeResponse:
        """The deployment the URL names, or Azure's DeploymentNotFound."""
        deployment = request.match["deployment"] if request.match else ""
        if deployment != served:
            return azure_error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you "
                "created the deployment within the last 5 minutes, please wait "
                "a moment and try again.",
            )
        return deployment
