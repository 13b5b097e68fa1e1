"""A fake OpenAI API on loopback, for tests of MegaRouter and its plugins.

:class:`OpenAIFake` implements :class:`megarouter.testing.fakes.FakeProvider`:
it answers ``POST /v1/chat/completions`` (JSON and SSE), ``POST
/v1/embeddings`` and ``GET /v1/models`` in the documented wire format,
checks the Bearer key and the request's shape the way OpenAI does, and can
be told to fail the next request with OpenAI's real status and error body.

The fake model is deterministic:

- it answers ``reply_text``, cut to ``max_tokens`` words (finish ``length``);
- given tools, unless ``tool_choice`` is ``none`` or the last message is a
  tool result, it calls the chosen tool (the first one for ``auto``) with
  arguments made up from the tool's JSON Schema;
- with ``response_format`` ``json_object`` it answers
  ``{"answer": reply_text}``, with ``json_schema`` an example of the schema;
- a token is a word; a prompt costs three tokens per message plus its words.

Example::

    with OpenAIFake() as fake:
        client = new_client(fake.provider_spec())
        adapter = OpenAIAdapter(fake.provider_spec(), fake.credential(), client)
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, Self

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    Credential,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.testing.fake_http import (
    CUT,
    FakeHTTPServer,
    FakeRequest,
    FakeResponse,
    sse,
)
from megarouter.testing.fakes import FailureKind
from megarouter_openai import fake_bodies as bodies
from megarouter_openai import fake_checks as checks
from megarouter_openai.adapter import OpenAIAdapter

DEFAULT_API_KEY = "sk-fake-3a9c1f0e2d7b4c58"
DEFAULT_REPLY = "The quick brown fox jumps over the lazy dog."
_SERVER_ERROR = bodies.error_body(
    "The server had an error while processing your request. Sorry about that!",
    "server_error",
)


class Fault(enum.StrEnum):
    """Transport faults the fake can inflict on the next answer."""

    CUT_STREAM = "cut_stream"  # drop the connection halfway through the body
    ERROR_EVENT = "error_event"  # a server_error event halfway through a stream
    END_EARLY = "end_early"  # end the stream cleanly halfway, without [DONE]
    MALFORMED_BODY = "malformed_body"  # status 200 with a body that is not JSON


class OpenAIFake:
    """A running fake of OpenAI's API and the knobs tests turn.

    Args:
        api_key: the only key it accepts.
        chat_model: the chat model it serves.
        embedding_model: the embedding model it serves.
        reply_text: what the fake model answers.
        stream_pause: seconds between streamed chunks.
        embedding_dimensions: the length of a vector unless the request
            asks for ``dimensions``.

    Attributes:
        response_delay: seconds to wait before answering (for timeouts).
    """

    adapter_class: type[ProviderAdapter] = OpenAIAdapter
    provider_name = "openai-fake"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        chat_model: str = "gpt-4o-mini",
        embedding_model: str = "text-embedding-3-small",
        reply_text: str = DEFAULT_REPLY,
        stream_pause: float = 0.0,
        embedding_dimensions: int = 16,
    ) -> None:
        self.api_key = api_key
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self.reply_text = reply_text
        self.stream_pause = stream_pause
        self._initial = (reply_text, stream_pause)
        self.embedding_dimensions = embedding_dimensions
        self.response_delay = 0.0
        self.server = FakeHTTPServer()
        self._lock = threading.Lock()
        self._failures: deque[FakeResponse] = deque()
        self._faults: deque[Fault] = deque()
        self._ids = itertools.count(1)
        self.install_routes()

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- FakeProvider -------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root a provider spec points at."""
        return f"{self.server.url}/v1"

    def provider_spec(self) -> ProviderSpec:
        """A spec whose base URL points at the fake and lists its models."""
        return ProviderSpec(
            name=self.provider_name,
            family=self.adapter_class.family,
            display_name="OpenAI (fake)",
            base_url=self.base_url,
            auth=AuthScheme.BEARER,
            models=self.model_specs(),
        )

    def model_specs(self) -> tuple[ModelSpec, ...]:
        """The chat and embedding models the fake serves, with list prices."""
        chat = ModelSpec(
            id=self.chat_model,
            context_window=128_000,
            max_output_tokens=16_384,
            price=Price(input_per_mtok=150_000, output_per_mtok=600_000),
            capabilities=Capabilities(
                streaming=True, tools=True, vision=True, json_mode=True
            ),
        )
        embedding = ModelSpec(
            id=self.embedding_model,
            mode=ModelMode.EMBEDDING,
            context_window=8_191,
            price=Price(input_per_mtok=20_000),
            capabilities=Capabilities(streaming=False, embeddings=True),
        )
        return (chat, embedding)

    def credential(self) -> Credential:
        """The credential the fake accepts."""
        return Credential(api_key=self.api_key)

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        """Answer the next request with ``kind``'s status and error body."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        response = self.failure_response(kind)
        response.headers = {**response.headers, **headers}
        self.respond_next(response)

    def respond_next(self, response: FakeResponse) -> None:
        """Answer the next request (once authenticated) with ``response``."""
        with self._lock:
            self._failures.append(response)

    def break_next(self, fault: Fault) -> None:
        """Inflict ``fault`` on the next successful answer."""
        with self._lock:
            self._faults.append(fault)

    def reset(self) -> None:
        """Forget queued failures and faults, the request log and any knob
        turned since construction."""
        with self._lock:
            self._failures.clear()
            self._faults.clear()
        self.reply_text, self.stream_pause = self._initial
        self.response_delay = 0.0
        self.server.requests.clear()
        self.server.disconnects = 0

    def chat_bodies(self) -> list[Any]:
        """The JSON bodies of every chat request received, in order."""
        return [
            r.json() for r in self.server.requests if r.path.endswith("/completions")
        ]

    # --- what dialects override ---------------------------------------------

    def install_routes(self) -> None:
        self.server.route("POST", r"/v1/chat/completions", self.handle_chat)
        self.server.route("POST", r"/v1/embeddings", self.handle_embeddings)
        self.server.route("GET", r"/v1/models", self.handle_models)

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        """None if the Bearer key is right, else OpenAI's 401."""
        header = request.headers.get("authorization", "")
        if not header:
            return bodies.error_response(
                401,
                "You didn't provide an API key. You need to provide your API key "
                "in an Authorization header using Bearer auth (i.e. "
                "Authorization: Bearer YOUR_KEY).",
            )
        key = header.removeprefix("Bearer ").strip()
        if key != self.api_key:
            masked = "*" * max(0, len(key) - 4) + key[-4:]
            return bodies.error_response(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key "
                "at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        return None

    def failure_response(self, kind: FailureKind) -> FakeResponse:
        """OpenAI's status and error body for ``kind``."""
        if kind is FailureKind.RATE_LIMITED:
            return bodies.error_response(
                429,
                f"Rate limit reached for {self.chat_model} in organization "
                "org-fake on requests per min (RPM): Limit 3, Used 3, "
                "Requested 1. Please try again in 20s.",
                "requests",
                code="rate_limit_exceeded",
                headers={
                    "x-ratelimit-limit-requests": "3",
                    "x-ratelimit-remaining-requests": "0",
                },
            )
        if kind is FailureKind.SERVER_ERROR:
            return FakeResponse(500, _SERVER_ERROR)
        if kind is FailureKind.OVERLOADED:
            return bodies.error_response(
                503,
                "The engine is currently overloaded, please try again later.",
                "server_error",
            )
        if kind is FailureKind.AUTH:
            return bodies.error_response(
                401,
                "Incorrect API key provided: ****1234. You can find your API "
                "key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        if kind is FailureKind.CONTEXT_TOO_LONG:
            return bodies.error_response(
                400,
                "This model's maximum context length is 128000 tokens. However, "
                "your messages resulted in 131072 tokens. Please reduce the "
                "length of the messages.",
                param="messages",
                code="context_length_exceeded",
            )
        return bodies.error_response(
            400,
            "Invalid 'temperature': decimal above maximum value. Expected a "
            "value <= 2, but got 3 instead.",
            param="temperature",
            code="decimal_above_max_value",
        )

    def chat_model_of(
        self, request: FakeRequest, body: dict[str, Any]
    ) -> str | FakeResponse:
        """The model a chat request names, or OpenAI's error for a bad one."""
        model = body.get("model")
        if not model:
            return bodies.error_response(400, "you must provide a model parameter")
        if model != self.chat_model:
            return checks.model_not_found(str(model))
        return str(model)

    def embedding_model_of(
        self, request: FakeRequest, body: dict[str, Any]
    ) -> str | FakeResponse:
        """The model an embeddings request names, or OpenAI's error."""
        model = body.get("model")
        if not model:
            return bodies.error_response(400, "you must provide a model parameter")
        if model != self.embedding_model:
            return checks.model_not_found(str(model))
        return str(model)

    def completion_document(
        self, completion_id: str, created: int, model: str, answer: bodies.Answer
    ) -> dict[str, Any]:
        """The ``chat.completion`` object of an unary answer."""
        return bodies.completion_object(completion_id, created, model, answer)

    def stream_prelude(self, model: str) -> list[str]:
        """Events a dialect sends before the first chunk (none for OpenAI)."""
        return []

    # --- handlers -----------------------------------------------------------

    def handle_chat(self, request: FakeRequest) -> FakeResponse:
        refusal, fault = self._admit(request)
        if refusal is not None:
            return refusal
        body = checks.decode_body(request)
        if isinstance(body, FakeResponse):
            return body
        model = self.chat_model_of(request, body)
        if isinstance(model, FakeResponse):
            return model
        problem = checks.chat_problem(body)
        if problem is not None:
            return problem

        answer = self.answer(body)
        completion_id = f"chatcmpl-fake{next(self._ids):06d}"
        created = int(time.time())
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = bool(options.get("include_usage"))
            events = [
                *self.stream_prelude(model),
                *bodies.chunk_events(
                    completion_id, created, model, answer, include_usage=include_usage
                ),
                bodies.DONE,
            ]
            return FakeResponse(200, chunks=self._paced(_faulted(events, fault)))
        document = self.completion_document(completion_id, created, model, answer)
        return _unary(document, fault)

    def handle_embeddings(self, request: FakeRequest) -> FakeResponse:
        refusal, fault = self._admit(request)
        if refusal is not None:
            return refusal
        body = checks.decode_body(request)
        if isinstance(body, FakeResponse):
            return body
        model = self.embedding_model_of(request, body)
        if isinstance(model, FakeResponse):
            return model

        inputs = body.get("input")
        if inputs is None:
            return bodies.error_response(
                400,
                "Missing required parameter: 'input'.",
                param="input",
                code="missing_required_parameter",
            )
        if isinstance(inputs, str):
            inputs = [inputs]
        if not inputs or not all(isinstance(i, str) and i for i in inputs):
            return bodies.error_response(
                400,
                "'$.input' is invalid. Please check the API reference: "
                "https://platform.openai.com/docs/api-reference.",
            )
        dimensions = body.get("dimensions", self.embedding_dimensions)
        if not isinstance(dimensions, int) or dimensions < 1:
            return bodies.error_response(
                400, f"Invalid 'dimensions': {dimensions!r}.", param="dimensions"
            )
        document = bodies.embeddings_object(model, inputs, dimensions)
        return _unary(document, fault)

    def handle_models(self, request: FakeRequest) -> FakeResponse:
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        models = [
            {"id": m.id, "object": "model", "created": 1_700_000_000, "owned_by": "org"}
            for m in self.model_specs()
        ]
        return FakeResponse(200, {"object": "list", "data": models})

    # --- the fake model -----------------------------------------------------

    def answer(self, body: dict[str, Any]) -> bodies.Answer:
        """What the fake model says to a valid chat request."""
        messages = body["messages"]
        prompt_tokens = bodies.count_tokens(messages)
        tool = _tool_to_call(body)
        if tool is not None:
            schema = tool.get("parameters") or {}
            arguments = bodies.json_text(bodies.example_of(schema))
            return bodies.Answer(
                pieces=bodies.split_arguments(arguments),
                finish_reason="tool_calls",
                prompt_tokens=prompt_tokens,
                tool_name=str(tool["name"]),
                tool_call_id=f"call_fake{next(self._ids):06d}",
            )

        text = _reply_for(body, self.reply_text)
        pieces = bodies.words(text)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        return bodies.Answer(tuple(pieces), finish, prompt_tokens)

    # --- plumbing -----------------------------------------------------------

    def _admit(self, request: FakeRequest) -> tuple[FakeResponse | None, Fault | None]:
        """A 401 or queued failure to answer with, else the fault to inflict.

        Both are taken before ``response_delay`` passes, so that a slow
        answer still pending from an earlier test cannot take a later one's.
        """
        refusal = self.authenticate(request)
        fault = None
        with self._lock:
            if refusal is None and self._failures:
                refusal = self._failures.popleft()
            elif refusal is None and self._faults:
                fault = self._faults.popleft()
        if self.response_delay:
            time.sleep(self.response_delay)
        return refusal, fault

    def _paced(self, events: list[str]) -> Iterator[str | float]:
        """Events with ``stream_pause`` between them."""
        for position, event in enumerate(events):
            if position and self.stream_pause:
                yield self.stream_pause
            yield event


def _tool_to_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function the fake model calls, or None to answer in text."""
    tools: list[dict[str, Any]] = [t["function"] for t in body.get("tools") or []]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t["name"] == wanted), tools[0])
    last_role = body["messages"][-1].get("role")
    if choice == "auto" and last_role == "tool":
        return None
    return tools[0]


def _reply_for(body: dict[str, Any], reply_text: str) -> str:
    """The answer's text under the request's response format."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        return bodies.json_text({"answer": reply_text})
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"].get("schema") or {}
        return bodies.json_text(bodies.example_of(schema))
    return reply_text


def _faulted(events: list[str], fault: Fault | None) -> list[str]:
    """The stream's events with ``fault`` inflicted halfway through."""
    if fault is None:
        return events
    half = events[: max(1, len(events) // 2)]
    if fault is Fault.CUT_STREAM:
        return [*half, CUT]
    if fault is Fault.ERROR_EVENT:
        return [*half, sse(_SERVER_ERROR)]
    if fault is Fault.MALFORMED_BODY:
        return [*half, 'data: {"id": "chatcmpl-\n\n']
    return half


def _unary(document: dict[str, Any], fault: Fault | None) -> FakeResponse:
    """A whole JSON answer, or the same answer with ``fault`` inflicted."""
    text = bodies.json_text(document)
    if fault is Fault.ERROR_EVENT:  # some servers send errors with status 200
        return FakeResponse(200, _SERVER_ERROR)
    if fault in (Fault.CUT_STREAM, Fault.END_EARLY):
        return FakeResponse(
            200, chunks=[text[: len(text) // 2], CUT], content_type="application/json"
        )
    if fault is Fault.MALFORMED_BODY:
        return FakeResponse(200, text[: len(text) // 2])
    return FakeResponse(200, text)
