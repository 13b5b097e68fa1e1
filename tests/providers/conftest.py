"""A tiny OpenAI-style family and its fake, to test the plugin host and kit.

``TinyChatAdapter`` speaks the OpenAI Chat Completions wire format (JSON,
SSE streaming with ``stream_options.include_usage``, ``/embeddings``) and
``TinyChatFake`` answers it on loopback, with OpenAI's documented error
bodies. Neither depends on the first-party plugins.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import (
    iter_sse,
    parse_json,
    raise_for_status,
    translate_transport_errors,
)
from megarouter.providers.spec import (
    Capabilities,
    Credential,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FinishReason,
    Usage,
)
from megarouter.testing.fake_http import FakeHTTPServer, FakeRequest, FakeResponse, sse
from megarouter.testing.fakes import FailureKind

FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}


class TinyChatAdapter(ProviderAdapter):
    family = "tinychat"

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [
                {"role": m.role.value, "content": m.text_content}
                for m in request.messages
            ],
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return body

    async def complete(self, request: ChatRequest) -> ChatResponse:
        name = self.spec.name
        with translate_transport_errors(name):
            response = await self.client.post(
                "/chat/completions",
                json=self._body(request, stream=False),
                headers=self.auth_headers(),
            )
            await raise_for_status(name, response)
        data = parse_json(name, response.content)
        choice = data["choices"][0]
        usage = data["usage"]
        return ChatResponse(
            content=choice["message"]["content"] or "",
            finish_reason=FINISH.get(choice["finish_reason"], FinishReason.UNKNOWN),
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]),
            model=data.get("model", ""),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        finish: FinishReason | None = None
        usage: Usage | None = None
        with translate_transport_errors(name):
            async with self.client.stream(
                "POST",
                "/chat/completions",
                json=self._body(request, stream=True),
                headers=self.auth_headers(),
            ) as response:
                await raise_for_status(name, response)
                async for event in iter_sse(response):
                    if event.data == "[DONE]":
                        break
                    data = json.loads(event.data)
                    if data.get("usage"):
                        usage = Usage(
                            data["usage"]["prompt_tokens"],
                            data["usage"]["completion_tokens"],
                        )
                    for choice in data.get("choices", ()):
                        if choice.get("finish_reason"):
                            finish = FINISH.get(
                                choice["finish_reason"], FinishReason.UNKNOWN
                            )
                        text = choice.get("delta", {}).get("content")
                        if text:
                            yield ChatChunk(content=text)
        yield ChatChunk(finish_reason=finish or FinishReason.UNKNOWN, usage=usage)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        name = self.spec.name
        with translate_transport_errors(name):
            response = await self.client.post(
                "/embeddings",
                json={"model": request.model, "input": list(request.inputs)},
                headers=self.auth_headers(),
            )
            await raise_for_status(name, response)
        data = parse_json(name, response.content)
        vectors = tuple(tuple(map(float, item["embedding"])) for item in data["data"])
        return EmbeddingResponse(vectors, Usage(data["usage"]["prompt_tokens"]))


def openai_error(
    status: int, message: str, kind: str, code: str | None
) -> FakeResponse:
    return FakeResponse(status, {"error": {"message": message, "type": kind,
                                           "param": None, "code": code}})


FAILURES = {
    FailureKind.RATE_LIMITED: (429, "Rate limit reached for requests", "requests",
                               "rate_limit_exceeded"),
    FailureKind.SERVER_ERROR: (500, "The server had an error while processing "
                               "your request.", "server_error", None),
    FailureKind.OVERLOADED: (503, "The engine is currently overloaded, please try "
                             "again later.", "server_error", None),
    FailureKind.AUTH: (401, "Incorrect API key provided.", "invalid_request_error",
                       "invalid_api_key"),
    FailureKind.BAD_REQUEST: (400, "Invalid value for 'temperature'.",
                              "invalid_request_error", None),
    FailureKind.CONTEXT_TOO_LONG: (400, "This model's maximum context length is "
                                   "8192 tokens.", "invalid_request_error",
                                   "context_length_exceeded"),
}


class TinyChatFake:
    """An OpenAI-style provider on loopback (implements FakeProvider)."""

    adapter_class: type[ProviderAdapter] = TinyChatAdapter
    chat_model = "tiny-chat-1"
    embedding_model = "tiny-embed-1"
    reply_text = "Hello from the tiny chat fake, one word at a time."
    api_key = "tiny-secret-key"

    def __init__(self, name: str = "tinychat-cloud") -> None:
        self.name = name
        self.stream_pause = 0.0
        self.server = FakeHTTPServer()
        self._failures: list[tuple[FailureKind, float | None]] = []
        self._lock = threading.Lock()
        self.server.route("POST", "/v1/chat/completions", self._chat)
        self.server.route("POST", "/v1/embeddings", self._embeddings)

    def __enter__(self) -> TinyChatFake:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()

    def provider_spec(self) -> ProviderSpec:
        return ProviderSpec(
            name=self.name,
            family="tinychat",
            base_url=f"{self.server.url}/v1",
            credential_env=("TINYCHAT_API_KEY",),
            models=(
                ModelSpec(self.chat_model, context_window=8192,
                          price=Price(150_000, 600_000), aliases=("tiny",)),
                ModelSpec(self.embedding_model, mode=ModelMode.EMBEDDING,
                          context_window=8192, price=Price(20_000),
                          capabilities=Capabilities(streaming=False, embeddings=True)),
            ),
        )

    def credential(self) -> Credential | None:
        return Credential(api_key=self.api_key)

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        with self._lock:
            self._failures.append((kind, retry_after))

    def _refusal(self, request: FakeRequest) -> FakeResponse | None:
        """The error to answer with, if any: a queued failure or a bad key."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            kind, retry_after = failure
            response = openai_error(*FAILURES[kind])
            if retry_after is not None:
                response.headers = {"retry-after": str(int(retry_after))}
            return response
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return openai_error(*FAILURES[FailureKind.AUTH])
        return None

    def _chat(self, request: FakeRequest) -> FakeResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        body = request.json()
        words = self.reply_text.split(" ")
        usage = {"prompt_tokens": 12, "completion_tokens": len(words),
                 "total_tokens": 12 + len(words)}
        if not body.get("stream"):
            return FakeResponse(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": self.reply_text}}],
                "usage": usage,
            })
        return FakeResponse(200, chunks=self._stream(body["model"], words, usage))

    def _stream(
        self, model: str, words: list[str], usage: dict[str, int]
    ) -> Iterator[str | float]:
        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            return sse({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                        "model": model, "choices": [
                            {"index": 0, "delta": delta, "finish_reason": finish}]})

        yield chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else f" {word}"})
            if self.stream_pause:
                yield float(self.stream_pause)
        yield chunk({}, "stop")
        yield sse({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                   "model": model, "choices": [], "usage": usage})
        yield sse("[DONE]")

    def _embeddings(self, request: FakeRequest) -> FakeResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        body = request.json()
        if body["model"] != self.embedding_model:
            return openai_error(400, f"Model {body['model']} does not support "
                                "embeddings.", "invalid_request_error", None)
        data = [{"object": "embedding", "index": i,
                 "embedding": [float(len(text)), 0.5, -0.25]}
                for i, text in enumerate(body["input"])]
        usage = {"prompt_tokens": 4, "total_tokens": 4}
        return FakeResponse(200, {"object": "list", "data": data,
                                  "model": body["model"], "usage": usage})


@pytest.fixture
def tinychat_fake() -> Iterator[TinyChatFake]:
    with TinyChatFake() as fake:
        yield fake


@pytest.fixture(scope="module")
def shared_tinychat_fake() -> Iterator[TinyChatFake]:
    """One fake for a whole module (stopping a fake server takes half a second)."""
    with TinyChatFake() as fake:
        yield fake
