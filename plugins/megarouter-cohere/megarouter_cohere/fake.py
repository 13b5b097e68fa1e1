"""A fake Cohere v2 API on loopback, for tests in any distribution.

It checks the Bearer key and the request shapes of ``POST /v2/chat`` and
``POST /v2/embed`` (roles, tool calls answered by tool messages, ``p`` range,
the embed ``input_type`` and ``embedding_types``) and answers in Cohere's
documented format: a chat response, the ``message-start`` ... ``message-end``
event stream, or embeddings by type. Errors are ``{"message": ...}`` bodies.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from typing import Any

from megarouter.providers.spec import (
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
from megarouter_cohere.adapter import CohereAdapter

TOO_MANY_TOKENS = (
    "too many tokens: total number of tokens in the prompt cannot exceed 4081 - "
    "received 4292. Try using a shorter prompt, or enabling prompt truncating. "
    "See https://docs.cohere.com/reference/generate for more details."
)
FAILURES: dict[FailureKind, tuple[int, dict[str, str]]] = {
    FailureKind.RATE_LIMITED: (
        429,
        {
            "message": "You are past the per minute request limit, please wait "
            "and try again later."
        },
    ),
    FailureKind.SERVER_ERROR: (
        500,
        {
            "id": "6b6c3b4e-5d0e-4d61-9f51-2a8a1f3c2b11",
            "message": "internal server error, this has been reported to our "
            "developers. id 6b6c3b4e-5d0e-4d61-9f51-2a8a1f3c2b11",
        },
    ),
    FailureKind.OVERLOADED: (503, {"message": "Service Unavailable"}),
    FailureKind.AUTH: (401, {"message": "invalid api token"}),
    FailureKind.BAD_REQUEST: (400, {"message": "message must not be empty in a turn"}),
    FailureKind.CONTEXT_TOO_LONG: (400, {"message": TOO_MANY_TOKENS}),
}


def words(text: str) -> list[str]:
    """The pieces the fake streams ``text`` in (one per output token)."""
    return re.findall(r"\S+\s*", text)


class FakeCohere:
    """A running fake of Cohere's v2 chat and embed endpoints.

    Args:
        server: a running server to answer on, shared between tests (its
            request log is cleared and its newest routes win); by default
            the fake starts and stops a server of its own.

    Attributes:
        tool_arguments: the arguments of every tool call the fake makes.
        json_reply: the answer when JSON output is asked for.
        call_tools: call the first offered tool even when not required.
        response_delay: seconds to wait before answering (for timeouts).
        cut_after: in a stream, drop the connection after this many deltas.
        malformed_next: answer the next request with a body that is not JSON.
        dimensions: the length of the fake's embedding vectors.
    """

    adapter_class = CohereAdapter

    def __init__(
        self,
        *,
        api_key: str = "co-fake-0123456789",
        chat_model: str = "command-fake",
        embedding_model: str = "embed-fake",
        reply_text: str = "Hello! I am a fake Command model, answering you.",
        stream_pause: float = 0.0,
        server: FakeHTTPServer | None = None,
    ) -> None:
        self._owns_server = server is None
        self.server = server or FakeHTTPServer()
        self.server.requests.clear()
        self.server.disconnects = 0
        self.server.route("POST", "/v2/chat", self._chat)
        self.server.route("POST", "/v2/embed", self._embed)
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
        self.malformed_next = False
        self.dimensions = 4
        self._failures: deque[FakeResponse] = deque()

    def start(self) -> FakeCohere:
        if self._owns_server:
            self.server.start()
        return self

    def stop(self) -> None:
        if self._owns_server:
            self.server.stop()

    def __enter__(self) -> FakeCohere:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def last_body(self) -> Any:
        """The JSON body of the last request received."""
        return self.server.requests[-1].json()

    def provider_spec(self) -> ProviderSpec:
        """A spec whose base URL points at this fake."""
        chat = ModelSpec(
            self.chat_model,
            context_window=256_000,
            max_output_tokens=8000,
            price=Price(2_500_000, 10_000_000),
            capabilities=Capabilities(tools=True, json_mode=True),
        )
        embed = ModelSpec(
            self.embedding_model,
            mode=ModelMode.EMBEDDING,
            context_window=512,
            price=Price(100_000),
            capabilities=Capabilities(streaming=False, embeddings=True),
        )
        return ProviderSpec(
            name="cohere-fake",
            family=CohereAdapter.family,
            base_url=self.server.url,
            models=(chat, embed),
        )

    def credential(self) -> Credential:
        return Credential(api_key=self.api_key)

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        """Answer the next request with ``kind``'s status and error body."""
        status, body = FAILURES[kind]
        self.fail_next_with(status, body["message"], retry_after, body.get("id", ""))

    def fail_next_with(
        self,
        status: int,
        message: str,
        retry_after: float | None = None,
        error_id: str = "",
    ) -> None:
        """Answer the next request with any status and Cohere error body."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        body = (
            {"id": error_id, "message": message} if error_id else {"message": message}
        )
        self._failures.append(FakeResponse(status, body, headers=headers))

    # --- the endpoints -----------------------------------------------------

    def _gate(self, request: FakeRequest) -> tuple[FakeResponse | None, Any]:
        """A failure, auth or parse error to answer with, else the body."""
        if self._failures:
            return self._failures.popleft(), None
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return FakeResponse(401, {"message": "invalid api token"}), None
        try:
            body = request.json()
        except ValueError:
            return _invalid("invalid request: could not parse request body"), None
        if self.response_delay:
            time.sleep(self.response_delay)
        if self.malformed_next:
            self.malformed_next = False
            return FakeResponse(200, "<html>upstream proxy error</html>"), None
        return None, body

    def _chat(self, request: FakeRequest) -> FakeResponse:
        refusal, body = self._gate(request)
        if refusal is not None:
            return refusal
        problem = chat_problem(body)
        if problem:
            return _invalid(problem)

        message, finish, output = self._answer(body)
        billed = len(words(json.dumps(body["messages"])))
        usage = {
            "billed_units": {"input_tokens": billed, "output_tokens": output},
            "tokens": {"input_tokens": billed + 60, "output_tokens": output},
        }
        if body.get("stream"):
            return self._stream(message, finish, usage)
        return FakeResponse(
            200,
            {
                "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
                "finish_reason": finish,
                "message": message,
                "usage": usage,
            },
        )

    def _answer(self, body: dict[str, Any]) -> tuple[dict[str, Any], str, int]:
        """The assistant message, finish reason and output tokens."""
        tools = body.get("tools") or []
        if tools and (body.get("tool_choice") == "REQUIRED" or self.call_tools):
            name = tools[0]["function"]["name"]
            arguments = json.dumps(self.tool_arguments)
            call = {
                "id": f"{name}_fake01",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            plan = f"I will call {name}."
            message = {"role": "assistant", "tool_plan": plan, "tool_calls": [call]}
            return message, "TOOL_CALL", len(words(plan + arguments))

        text, finish = self.reply_text, "COMPLETE"
        if (body.get("response_format") or {}).get("type") == "json_object":
            text = json.dumps(self.json_reply)
        for stop in body.get("stop_sequences") or ():
            if stop in text:
                text, finish = text.split(stop)[0], "STOP_SEQUENCE"
        pieces = words(text)
        if "max_tokens" in body and len(pieces) > body["max_tokens"]:
            pieces, finish = pieces[: body["max_tokens"]], "MAX_TOKENS"
        content = [{"type": "text", "text": "".join(pieces)}]
        return {"role": "assistant", "content": content}, finish, len(pieces)

    def _stream(
        self, message: dict[str, Any], finish: str, usage: dict[str, Any]
    ) -> FakeResponse:
        start = {
            "role": "assistant",
            "content": [],
            "tool_plan": "",
            "tool_calls": [],
            "citations": [],
        }
        events: list[str | float] = [
            _event(
                "message-start",
                {
                    "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
                    "delta": {"message": start},
                },
            )
        ]
        deltas: list[str] = []
        if message.get("tool_calls"):
            deltas += [
                _event("tool-plan-delta", {"delta": {"message": {"tool_plan": w}}})
                for w in words(message["tool_plan"])
            ]
            for index, call in enumerate(message["tool_calls"]):
                opening = {**call, "function": {**call["function"], "arguments": ""}}
                deltas.append(
                    _event(
                        "tool-call-start",
                        {"index": index, "delta": {"message": {"tool_calls": opening}}},
                    )
                )
                arguments = call["function"]["arguments"]
                deltas += [
                    _event(
                        "tool-call-delta",
                        {
                            "index": index,
                            "delta": {
                                "message": {
                                    "tool_calls": {
                                        "function": {"arguments": arguments[i : i + 5]}
                                    }
                                }
                            },
                        },
                    )
                    for i in range(0, len(arguments), 5)
                ]
                deltas.append(_event("tool-call-end", {"index": index}))
        else:
            events.append(
                _event(
                    "content-start",
                    {
                        "index": 0,
                        "delta": {"message": {"content": {"type": "text", "text": ""}}},
                    },
                )
            )
            deltas += [
                _event(
                    "content-delta",
                    {"index": 0, "delta": {"message": {"content": {"text": w}}}},
                )
                for w in words(message["content"][0]["text"])
            ]

        for count, delta in enumerate(deltas):
            if count == self.cut_after:
                return _streamed([*events, CUT])
            events += [delta, self.stream_pause]
        if not message.get("tool_calls"):
            events.append(_event("content-end", {"index": 0}))
        events.append(
            _event("message-end", {"delta": {"finish_reason": finish, "usage": usage}})
        )
        return _streamed(events)

    def _embed(self, request: FakeRequest) -> FakeResponse:
        refusal, body = self._gate(request)
        if refusal is not None:
            return refusal
        problem = embed_problem(body)
        if problem:
            return _invalid(problem)

        size = body.get("output_dimension") or self.dimensions
        vectors = [
            [round((len(t) + i) / 100, 4) for i in range(size)] for t in body["texts"]
        ]
        return FakeResponse(
            200,
            {
                "id": "da6e531f-54c6-4a73-bf92-f60566d8d753",
                "embeddings": {"float": vectors},
                "texts": body["texts"],
                "meta": {
                    "api_version": {"version": "2"},
                    "billed_units": {
                        "input_tokens": sum(len(words(t)) for t in body["texts"])
                    },
                },
                "response_type": "embeddings_by_type",
            },
        )


def _event(kind: str, data: dict[str, Any]) -> str:
    return sse({"type": kind, **data}, kind)


def _streamed(events: list[str | float]) -> FakeResponse:
    return FakeResponse(200, chunks=events)


def _invalid(message: str) -> FakeResponse:
    return FakeResponse(400, {"message": message})


def chat_problem(body: Any) -> str:
    """What Cohere would reject in a chat body, or "" if nothing."""
    if not isinstance(body, dict) or not body.get("model"):
        return "invalid request: model must be specified"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "invalid request: messages must not be empty"
    call_ids: set[str] = set()
    for number, message in enumerate(messages):
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            return f"invalid request: invalid role {role!r} at index {number}"
        if role == "system" and number != 0:
            return "system turn must be the first in the list"
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                if call.get("type") != "function" or not function.get("name"):
                    return "invalid request: malformed tool call"
                if not _is_json_object(function.get("arguments")):
                    return "invalid request: tool call arguments must be a JSON object"
                call_ids.add(call["id"])
        elif role == "tool":
            if message.get("tool_call_id") not in call_ids:
                return "invalid request: tool message without a matching tool call"
        elif not message.get("content"):
            return "message must not be empty in a turn"
    p = body.get("p")
    if p is not None and not 0.01 <= p <= 0.99:
        return "invalid request: p must be between 0.01 and 0.99, inclusive"
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        return "invalid request: tool_choice must be one of REQUIRED, NONE"
    for tool in body.get("tools") or ():
        if tool.get("type") != "function" or "name" not in tool.get("function", {}):
            return "invalid request: tools must be of type function"
    fmt = body.get("response_format")
    if fmt is not None and fmt.get("type") not in ("text", "json_object"):
        return "invalid request: response_format type must be text or json_object"
    return ""


def _is_json_object(text: Any) -> bool:
    try:
        return isinstance(text, str) and isinstance(json.loads(text), dict)
    except ValueError:
        return False


def embed_problem(body: Any) -> str:
    """What Cohere would reject in an embed body, or "" if nothing."""
    if not isinstance(body, dict) or not body.get("model"):
        return "invalid request: model must be specified"
    if not body.get("texts"):
        return "invalid request: texts must not be empty"
    if body.get("input_type") not in (
        "search_document",
        "search_query",
        "classification",
        "clustering",
    ):
        return (
            "invalid request: valid input_type must be provided with the provided model"
        )
    if "float" not in (body.get("embedding_types") or ()):
        return "invalid request: embedding_types must include float"
    return ""
