"""A fake Gemini API on loopback, for tests of this and other packages.

It answers ``generateContent``, ``streamGenerateContent`` (with
``alt=sse``) and ``batchEmbedContents`` the way Google documents them,
checks the API key (or, for Vertex, the bearer token) and the request's
shape, and answers errors with Google's status codes and error bodies.

Example::

    with FakeGemini() as fake:
        client = new_client(fake.provider_spec())
        adapter = GeminiAdapter(fake.provider_spec(), fake.credential(), client)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    Credential,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.testing.fake_http import CUT, FakeHTTPServer, FakeRequest, FakeResponse
from megarouter.testing.fakes import FailureKind
from megarouter_gemini.adapter import GeminiAdapter
from megarouter_gemini.fake_checks import (
    GeminiRefusal,
    bad_request,
    example_for,
    google_error,
    json_body,
    token_limit,
    validated_request,
)

__all__ = ["FakeGemini", "embedding_of", "example_for", "google_error"]

JSON = dict[str, Any]


class FakeGemini:
    """A running fake of the Gemini API (a :class:`FakeProvider`).

    Args:
        auth: ``HEADER`` for the Gemini API's ``x-goog-api-key``, ``BEARER``
            for Vertex AI's OAuth token.
        path_prefix: the API root; Vertex's project path when set.

    Attributes:
        context_window: prompts with more tokens (words, here) than this are
            refused with Google's token-count error.
        cut_after: when set, streams are cut after this many events.
        delay: seconds to wait before answering (for timeout tests).
        tool_arguments: arguments of the function calls the fake makes.
        require_thought_signatures: refuse function calls sent back without
            the thought signature the fake gave them, as Gemini 3 models do.
    """

    adapter_class = GeminiAdapter

    def __init__(
        self,
        *,
        auth: AuthScheme = AuthScheme.HEADER,
        path_prefix: str = "",
        api_key: str = "fake-gemini-key",
        chat_model: str = "gemini-2.5-flash",
        embedding_model: str = "gemini-embedding-001",
        reply_text: str = "Hello from the fake Gemini model, streamed in pieces.",
        stream_pause: float = 0.0,
    ) -> None:
        self.server = FakeHTTPServer()
        self.auth = auth
        self.path_prefix = path_prefix
        self.api_key = api_key
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self.reply_text = reply_text
        self.stream_pause = stream_pause
        self._defaults = (reply_text, stream_pause)
        self._failures: deque[FakeResponse] = deque()
        self._signatures: set[str] = set()
        self._lock = threading.Lock()
        self.reset()

        root = (path_prefix or "/v1beta").rstrip("/")
        for method, handler in (
            ("generateContent", self._generate),
            ("streamGenerateContent", self._stream),
            ("batchEmbedContents", self._embed),
        ):
            self.server.route(
                "POST",
                f"{root}/models/(?P<model>[^/:]+):{method}",
                self._guarded(handler),
            )

    # --- FakeProvider ------------------------------------------------------

    def provider_spec(self) -> ProviderSpec:
        """A spec pointing at this fake, listing its two models."""
        options = {"path_prefix": self.path_prefix} if self.path_prefix else {}
        return ProviderSpec(
            name="fake-gemini",
            family="gemini",
            base_url=self.server.url,
            auth=self.auth,
            auth_header="x-goog-api-key" if self.auth is AuthScheme.HEADER else "",
            options=options,
            models=(
                ModelSpec(
                    id=self.chat_model,
                    context_window=self.context_window,
                    price=Price(300_000, 2_500_000),
                    capabilities=Capabilities(tools=True, vision=True, json_mode=True),
                ),
                ModelSpec(
                    id=self.embedding_model,
                    mode=ModelMode.EMBEDDING,
                    price=Price(150_000),
                    capabilities=Capabilities(streaming=False, embeddings=True),
                ),
            ),
        )

    def credential(self) -> Credential:
        """The key (or token) the fake accepts."""
        return Credential(api_key=self.api_key)

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        """Answer the next request with Google's error for ``kind``."""
        self.fail_next_with(self._failure(kind, retry_after))

    def fail_next_with(self, response: FakeResponse) -> None:
        """Answer the next request with ``response``, whatever it was."""
        with self._lock:
            self._failures.append(response)

    def reset(self) -> None:
        """Forget queued failures and restore every knob to its default."""
        self.reply_text, self.stream_pause = self._defaults
        self.context_window = 1_048_576
        self.cut_after: int | None = None
        self.delay = 0.0
        self.tool_arguments: JSON = {"location": "Paris"}
        self.require_thought_signatures = False
        with self._lock:
            self._failures.clear()

    def start(self) -> FakeGemini:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _failure(self, kind: FailureKind, retry_after: float | None) -> FakeResponse:
        """Google's error answer for a kind of failure."""
        if kind is FailureKind.RATE_LIMITED:
            details: list[JSON] = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                            "quotaDimensions": {
                                "location": "global",
                                "model": self.chat_model,
                            },
                            "quotaValue": "10",
                        }
                    ],
                },
            ]
            if retry_after is not None:
                details.append(
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{retry_after:g}s",
                    }
                )
            return google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and "
                "billing details.",
                details,
            )
        if kind is FailureKind.SERVER_ERROR:
            return google_error(
                500, "INTERNAL", "An internal error has occurred. Please retry."
            )
        if kind is FailureKind.OVERLOADED:
            return google_error(
                503, "UNAVAILABLE", "The model is overloaded. Please try again later."
            )
        if kind is FailureKind.AUTH:
            return self._bad_credential().response
        if kind is FailureKind.CONTEXT_TOO_LONG:
            return token_limit(2_000_000, self.context_window).response
        return bad_request(
            'Invalid JSON payload received. Unknown name "bogus": Cannot find field.'
        ).response

    # --- request handling --------------------------------------------------

    def _guarded(self, handler: Any) -> Any:
        """Wrap a handler with failure injection, delay, auth and model checks."""

        def handle(request: FakeRequest) -> FakeResponse:
            with self._lock:
                failure = self._failures.popleft() if self._failures else None
            if failure is not None:
                return failure
            if self.delay:
                time.sleep(self.delay)
            try:
                self._check_auth(request)
                self._check_model(request)
                return handler(request)  # type: ignore[no-any-return]
            except GeminiRefusal as refusal:
                return refusal.response

        return handle

    def _check_auth(self, request: FakeRequest) -> None:
        """Refuse a request without the right key or bearer token."""
        if self.auth is AuthScheme.BEARER:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                raise self._bad_credential()
            return
        key = (
            request.headers.get("x-goog-api-key") or request.query.get("key", [None])[0]
        )
        if key is None:
            raise GeminiRefusal(
                google_error(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without "
                    "established identity). Please use API Key or other form of API "
                    "consumer identity to call this API.",
                )
            )
        if key != self.api_key:
            raise self._bad_credential()

    def _bad_credential(self) -> GeminiRefusal:
        """Google's answer to a wrong key or token."""
        if self.auth is AuthScheme.BEARER:
            return GeminiRefusal(
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth "
                    "2 access token, login cookie or other valid authentication "
                    "credential.",
                )
            )
        return GeminiRefusal(
            google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )
        )

    def _check_model(self, request: FakeRequest) -> None:
        """Refuse a model the fake does not serve for this method."""
        assert request.match is not None
        model = request.match["model"]
        method = request.path.rpartition(":")[2]
        known = (
            self.embedding_model if method == "batchEmbedContents" else self.chat_model
        )
        if model != known:
            raise GeminiRefusal(
                google_error(
                    404,
                    "NOT_FOUND",
                    f"models/{model} is not found for API version v1beta, or is not "
                    f"supported for {method}. Call ListModels to see the list of "
                    "available models and their supported methods.",
                )
            )

    def _generate(self, request: FakeRequest) -> FakeResponse:
        body = validated_request(request)
        self._check_signatures(body)
        prompt_tokens = self._prompt_tokens(body)
        return FakeResponse(200, self._answer(body, prompt_tokens, final=True))

    def _stream(self, request: FakeRequest) -> FakeResponse:
        body = validated_request(request)
        self._check_signatures(body)
        prompt_tokens = self._prompt_tokens(body)
        events = list(self._stream_events(body, prompt_tokens))
        if request.query.get("alt") != ["sse"]:  # without SSE: one JSON array
            return FakeResponse(200, events)
        return FakeResponse(200, chunks=self._sse_chunks(events))

    def _sse_chunks(self, events: list[JSON]) -> Iterator[bytes | str | float]:
        for index, event in enumerate(events):
            if self.cut_after is not None and index >= self.cut_after:
                yield CUT
                return
            if index and self.stream_pause:
                yield self.stream_pause
            yield f"data: {json.dumps(event)}\r\n\r\n"

    def _stream_events(self, body: JSON, prompt_tokens: int) -> Iterator[JSON]:
        """The answer as stream events, two words per event."""
        final = self._answer(body, prompt_tokens, final=True)
        candidate = final["candidates"][0]
        parts = candidate["content"]["parts"]
        if "text" in parts[0]:
            words = parts[0]["text"].split(" ")
            pieces = [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]
            pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]
        else:
            pieces = []
        for piece in pieces[:-1]:
            yield {
                "candidates": [
                    {
                        "content": {"parts": [{"text": piece}], "role": "model"},
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "totalTokenCount": prompt_tokens,
                },
                "modelVersion": self.chat_model,
                "responseId": final["responseId"],
            }
        if pieces:
            candidate["content"]["parts"] = [{"text": pieces[-1]}]
        yield final

    def _answer(self, body: JSON, prompt_tokens: int, *, final: bool) -> JSON:
        """The GenerateContentResponse a model would give."""
        call = self._function_to_call(body)
        config = body.get("generationConfig", {})
        if call is not None:
            parts: list[JSON] = [
                {
                    "functionCall": {"name": call, "args": self.tool_arguments},
                    "thoughtSignature": self._new_signature(),
                }
            ]
        elif config.get("responseMimeType") == "application/json":
            schema = config.get("responseJsonSchema") or config.get("responseSchema")
            example = example_for(schema) if schema else {"reply": self.reply_text}
            parts = [{"text": json.dumps(example)}]
        else:
            parts = [{"text": self.reply_text}]
        output_tokens = len(
            parts[0].get("text", json.dumps(self.tool_arguments)).split()
        )
        finish = "STOP"
        limit = config.get("maxOutputTokens")
        if call is None and limit is not None and limit < output_tokens:
            parts = [{"text": " ".join(parts[0]["text"].split()[:limit])}]
            output_tokens, finish = limit, "MAX_TOKENS"
        return {
            "candidates": [
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
            "modelVersion": self.chat_model,
            "responseId": hashlib.sha1(json.dumps(body).encode()).hexdigest()[:22],
        }

    def _new_signature(self) -> str:
        signature = base64.b64encode(os.urandom(24)).decode()
        with self._lock:
            self._signatures.add(signature)
        return signature

    def _check_signatures(self, body: JSON) -> None:
        """Thinking models refuse their own function calls returned unsigned."""
        if not self.require_thought_signatures:
            return
        for index, content in enumerate(body["contents"]):
            for part in content["parts"]:
                if "functionCall" not in part:
                    continue
                with self._lock:
                    known = part.get("thoughtSignature") in self._signatures
                if not known:
                    raise bad_request(
                        "Function call is missing a thought_signature in functionCall "
                        f"parts (function call {part['functionCall']['name']}, "
                        f"position {index}). See the thought signatures guide."
                    )

    def _function_to_call(self, body: JSON) -> str | None:
        """The function a model would call: the first allowed, until answered."""
        declarations = [
            d
            for tool in body.get("tools", [])
            for d in tool.get("functionDeclarations", [])
        ]
        config = body.get("toolConfig", {}).get("functionCallingConfig", {})
        mode = config.get("mode", "AUTO")
        if not declarations or mode == "NONE":
            return None
        last_parts = body["contents"][-1]["parts"]
        answered = any("functionResponse" in part for part in last_parts)
        if answered and mode != "ANY":
            return None
        allowed = config.get("allowedFunctionNames") or [
            d["name"] for d in declarations
        ]
        return str(allowed[0])

    def _prompt_tokens(self, body: JSON) -> int:
        """Words of text in the prompt: the fake's stand-in for tokens."""
        texts = [
            part.get("text", "")
            for content in [*body["contents"], body.get("systemInstruction", {})]
            for part in content.get("parts", [])
        ]
        tokens = sum(len(text.split()) for text in texts)
        if tokens > self.context_window:
            raise token_limit(tokens, self.context_window)
        return tokens

    def _embed(self, request: FakeRequest) -> FakeResponse:
        """The batchEmbedContents answer."""
        body = json_body(request)
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise bad_request("* BatchEmbedContentsRequest.requests: must not be empty")
        if len(items) > 100:
            raise bad_request(
                "* BatchEmbedContentsRequest.requests: at most 100 requests can be "
                "in one batch"
            )
        vectors = []
        for item in items:
            if item.get("model") != f"models/{self.embedding_model}":
                raise bad_request(
                    "Model names should start with `models/` and match the URL."
                )
            text = "".join(p.get("text", "") for p in item["content"]["parts"])
            size = int(item.get("outputDimensionality", 3072))
            vectors.append({"values": embedding_of(text, size)})
        return FakeResponse(200, {"embeddings": vectors})


def embedding_of(text: str, size: int) -> list[float]:
    """A deterministic unit-ish vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 128) / 128, 6) for i in range(size)]
