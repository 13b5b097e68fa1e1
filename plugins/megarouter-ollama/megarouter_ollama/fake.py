"""A fake Ollama server on loopback, for tests in any distribution.

It checks the request shapes of ``POST /api/chat`` and ``POST /api/embed``
(known model, roles, base64 images, tool-call arguments as objects, options)
and answers in Ollama's documented format: one JSON object, or a stream of
newline-delimited objects ending with ``done: true`` and the token counts.
Errors are ``{"error": "..."}`` bodies; an error after a stream has begun is
an ``{"error": ...}`` line, since the status was already sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections import deque
from typing import Any

from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    Credential,
    ModelMode,
    ModelSpec,
    ProviderSpec,
)
from megarouter.testing.fake_http import CUT, FakeHTTPServer, FakeRequest, FakeResponse
from megarouter.testing.fakes import FailureKind
from megarouter_ollama.adapter import OllamaAdapter

NDJSON = "application/x-ndjson"
CREATED_AT = "2024-07-22T20:33:28.123648Z"

# Ollama answers 503 when its request queue is full; 429 and 401 come from
# Ollama's hosted service and from proxies in front of a server.
FAILURES: dict[FailureKind, tuple[int, str]] = {
    FailureKind.RATE_LIMITED: (429, "too many requests, please slow down"),
    FailureKind.SERVER_ERROR: (
        500,
        "llama runner process has terminated: signal: killed",
    ),
    FailureKind.OVERLOADED: (
        503,
        "server busy, please try again.  maximum pending requests exceeded",
    ),
    FailureKind.AUTH: (401, "unauthorized"),
    FailureKind.BAD_REQUEST: (400, "invalid options: num_predict must be an integer"),
    FailureKind.CONTEXT_TOO_LONG: (400, "the input length exceeds the context length"),
}
KNOWN_OPTIONS = {
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "stop",
    "num_predict",
    "num_ctx",
    "repeat_penalty",
}


def words(text: str) -> list[str]:
    """The pieces the fake streams ``text`` in (one per output token)."""
    return re.findall(r"\S+\s*", text)


class FakeOllama:
    """A running fake of Ollama's chat and embed endpoints.

    Args:
        api_key: when set, a Bearer token the fake demands (as a proxy in
            front of Ollama would); by default the fake needs no auth.
        server: a running server to answer on, shared between tests (its
            request log is cleared and its newest routes win); by default
            the fake starts and stops a server of its own.

    Attributes:
        tool_arguments: the arguments of every tool call the fake makes.
        json_reply: the answer when JSON output is asked for.
        call_tools: answer with a call of the first offered tool (Ollama
            models decide for themselves; the fake does what it is told).
        response_delay: seconds to wait before answering (for timeouts).
        cut_after: in a stream, drop the connection after this many deltas.
        error_after: in a stream, send an error line after this many deltas.
        malformed_next: answer the next request with a body that is not JSON.
        dimensions: the length of the fake's embedding vectors.
    """

    adapter_class = OllamaAdapter

    def __init__(
        self,
        *,
        api_key: str = "",
        chat_model: str = "llama-fake:8b",
        embedding_model: str = "embed-fake",
        reply_text: str = "Hello! I am a fake Llama, answering you.",
        stream_pause: float = 0.0,
        server: FakeHTTPServer | None = None,
    ) -> None:
        self._owns_server = server is None
        self.server = server or FakeHTTPServer()
        self.server.requests.clear()
        self.server.disconnects = 0
        self.server.route("POST", "/api/chat", self._chat)
        self.server.route("POST", "/api/embed", self._embed)
        self.api_key = api_key
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self.reply_text = reply_text
        self.stream_pause = stream_pause
        self.tool_arguments: dict[str, Any] = {"city": "Paris"}
        self.json_reply: dict[str, Any] = {"answer": 42}
        self.call_tools = False
        self.response_delay = 0.0
        self.cut_after: int | None = None
        self.error_after: int | None = None
        self.malformed_next = False
        self.dimensions = 4
        self._failures: deque[FakeResponse] = deque()

    def start(self) -> FakeOllama:
        if self._owns_server:
            self.server.start()
        return self

    def stop(self) -> None:
        if self._owns_server:
            self.server.stop()

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def last_body(self) -> Any:
        """The JSON body of the last request received."""
        return self.server.requests[-1].json()

    def provider_spec(self) -> ProviderSpec:
        """A self-hosted spec whose base URL points at this fake."""
        chat = ModelSpec(
            self.chat_model,
            context_window=131_072,
            price=None,
            capabilities=Capabilities(tools=True, vision=True, json_mode=True),
        )
        embed = ModelSpec(
            self.embedding_model,
            mode=ModelMode.EMBEDDING,
            context_window=512,
            capabilities=Capabilities(streaming=False, embeddings=True),
        )
        return ProviderSpec(
            name="ollama-fake",
            family=OllamaAdapter.family,
            base_url=self.server.url,
            auth=AuthScheme.NONE,
            self_hosted=True,
            models=(chat, embed),
        )

    def credential(self) -> Credential | None:
        return Credential(api_key=self.api_key) if self.api_key else None

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        """Answer the next request with ``kind``'s status and error body."""
        status, message = FAILURES[kind]
        self.fail_next_with(status, message, retry_after)

    def fail_next_with(
        self, status: int, message: str, retry_after: float | None = None
    ) -> None:
        """Answer the next request with any status and Ollama error body."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        self._failures.append(FakeResponse(status, {"error": message}, headers=headers))

    # --- the endpoints -----------------------------------------------------

    def _gate(
        self, request: FakeRequest, model_kind: str
    ) -> tuple[FakeResponse | None, Any]:
        """A failure, auth, parse or model error to answer with, else the body."""
        if self._failures:
            return self._failures.popleft(), None
        if self.api_key and (
            request.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            return FakeResponse(401, {"error": "unauthorized"}), None
        try:
            body = request.json()
        except ValueError:
            return _invalid(
                "invalid character 'x' looking for beginning of value"
            ), None
        if not isinstance(body, dict) or not body.get("model"):
            return _invalid("model is required"), None
        known = self.chat_model if model_kind == "chat" else self.embedding_model
        if body["model"] != known:
            message = f'model "{body["model"]}" not found, try pulling it first'
            return FakeResponse(404, {"error": message}), None
        if self.response_delay:
            time.sleep(self.response_delay)
        if self.malformed_next:
            self.malformed_next = False
            return FakeResponse(200, "<html>upstream proxy error</html>"), None
        return None, body

    def _chat(self, request: FakeRequest) -> FakeResponse:
        refusal, body = self._gate(request, "chat")
        if refusal is not None:
            return refusal
        problem = chat_problem(body)
        if problem:
            return _invalid(problem)

        message, done_reason, output = self._answer(body)
        counts = {
            "total_duration": 5191566416,
            "load_duration": 2154458,
            "prompt_eval_count": len(words(json.dumps(body["messages"]))),
            "prompt_eval_duration": 383809000,
            "eval_count": output,
            "eval_duration": 4799921000,
        }
        if body.get("stream", True):
            return self._stream(body["model"], message, done_reason, counts)
        return FakeResponse(
            200,
            {
                "model": body["model"],
                "created_at": CREATED_AT,
                "message": message,
                "done": True,
                "done_reason": done_reason,
                **counts,
            },
        )

    def _answer(self, body: dict[str, Any]) -> tuple[dict[str, Any], str, int]:
        """The assistant message, done reason and output tokens."""
        tools = body.get("tools") or []
        if tools and self.call_tools:
            function = {
                "name": tools[0]["function"]["name"],
                "arguments": self.tool_arguments,
            }
            message = {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": function}],
            }
            return message, "stop", len(words(json.dumps(self.tool_arguments)))

        text, done_reason = self.reply_text, "stop"
        if body.get("format"):
            text = json.dumps(self.json_reply)
        options = body.get("options") or {}
        for stop in options.get("stop") or ():
            text = text.split(stop)[0]
        pieces = words(text)
        limit = options.get("num_predict")
        if limit is not None and 0 <= limit < len(pieces):
            pieces, done_reason = pieces[:limit], "length"
        return (
            {"role": "assistant", "content": "".join(pieces)},
            done_reason,
            len(pieces),
        )

    def _stream(
        self,
        model: str,
        message: dict[str, Any],
        done_reason: str,
        counts: dict[str, int],
    ) -> FakeResponse:
        head = {"model": model, "created_at": CREATED_AT}
        if message.get("tool_calls"):
            deltas = [_line({**head, "message": message, "done": False})]
        else:
            deltas = [
                _line(
                    {
                        **head,
                        "message": {"role": "assistant", "content": w},
                        "done": False,
                    }
                )
                for w in words(message["content"])
            ]
        chunks: list[str | float] = []
        for count, delta in enumerate(deltas):
            if count == self.cut_after:
                return _streamed([*chunks, CUT])
            if count == self.error_after:
                error = {"error": "an error was encountered while running the model"}
                return _streamed([*chunks, _line(error)])
            chunks += [delta, self.stream_pause]
        chunks.append(
            _line(
                {
                    **head,
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": done_reason,
                    **counts,
                }
            )
        )
        return _streamed(chunks)

    def _embed(self, request: FakeRequest) -> FakeResponse:
        refusal, body = self._gate(request, "embed")
        if refusal is not None:
            return refusal
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return _invalid("invalid input type")

        size = body.get("dimensions") or self.dimensions
        vectors = [[round((len(t) + i) / 100, 4) for i in range(size)] for t in inputs]
        return FakeResponse(
            200,
            {
                "model": body["model"],
                "embeddings": vectors,
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": sum(len(words(t)) for t in inputs),
            },
        )


def _line(payload: dict[str, Any]) -> str:
    return json.dumps(payload) + "\n"


def _streamed(chunks: list[str | float]) -> FakeResponse:
    return FakeResponse(200, chunks=chunks, content_type=NDJSON)


def _invalid(message: str) -> FakeResponse:
    return FakeResponse(400, {"error": message})


def chat_problem(body: dict[str, Any]) -> str:
    """What Ollama would reject in a chat body, or "" if nothing."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages are required"
    for message in messages:
        if message.get("role") not in ("system", "user", "assistant", "tool"):
            return f"invalid role: {message.get('role')}"
        if not isinstance(message.get("content", ""), str):
            return (
                "json: cannot unmarshal array into Go struct field "
                "Message.messages.content of type string"
            )
        for image in message.get("images") or ():
            try:
                base64.b64decode(image, validate=True)
            except (binascii.Error, ValueError):
                return "illegal base64 data at input byte 4"
        for call in message.get("tool_calls") or ():
            if not isinstance(call.get("function", {}).get("arguments"), dict):
                return (
                    "json: cannot unmarshal string into Go struct field "
                    "ToolCallFunction.messages.tool_calls.function.arguments "
                    "of type api.ToolCallFunctionArguments"
                )
    options = body.get("options") or {}
    unknown = set(options) - KNOWN_OPTIONS
    if unknown:
        return f"invalid options: {', '.join(sorted(unknown))}"
    if "num_predict" in options and not isinstance(options["num_predict"], int):
        return "invalid options: num_predict must be an integer"
    fmt = body.get("format")
    if fmt not in (None, "", "json") and not isinstance(fmt, dict):
        return f"invalid format: {fmt!r}"
    for tool in body.get("tools") or ():
        if tool.get("type") != "function" or not tool.get("function", {}).get("name"):
            return "invalid tool: type must be function"
    return ""
