"""A fake Anthropic Messages API on loopback, for tests in any distribution.

It checks what a real server checks (the ``x-api-key`` and
``anthropic-version`` headers, a required ``max_tokens``, alternating user
and assistant turns, ``tool_result`` blocks answering the previous turn's
``tool_use`` blocks) and answers in the documented wire format: a message
object, or the ``message_start`` ... ``message_stop`` event stream. Errors
use the documented envelope ``{"type": "error", "error": {...}}``.

Example::

    with FakeAnthropic() as fake:
        client = new_client(fake.provider_spec())
        adapter = AnthropicAdapter(fake.provider_spec(), fake.credential(), client)
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from typing import Any

from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    Credential,
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
from megarouter_anthropic.adapter import AnthropicAdapter

FAILURES: dict[FailureKind, tuple[int, str, str]] = {
    FailureKind.RATE_LIMITED: (
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of "
        "50 requests per minute.",
    ),
    FailureKind.SERVER_ERROR: (500, "api_error", "Internal server error"),
    FailureKind.OVERLOADED: (529, "overloaded_error", "Overloaded"),
    FailureKind.AUTH: (401, "authentication_error", "invalid x-api-key"),
    FailureKind.BAD_REQUEST: (
        400,
        "invalid_request_error",
        "temperature: range: 0..1",
    ),
    FailureKind.CONTEXT_TOO_LONG: (
        400,
        "invalid_request_error",
        "prompt is too long: 215086 tokens > 200000 maximum",
    ),
}


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def words(text: str) -> list[str]:
    """The pieces the fake streams ``text`` in (one per output token)."""
    return re.findall(r"\S+\s*", text)


class FakeAnthropic:
    """A running fake of ``POST /v1/messages`` with knobs for tests.

    Args:
        server: a running server to answer on, shared between tests (its
            request log is cleared and its newest route wins); by default
            the fake starts and stops a server of its own.

    Attributes:
        tool_arguments: the input of every tool call the fake makes.
        call_tools: call the first offered tool even under ``tool_choice``
            auto (``any`` and ``tool`` always call one).
        response_delay: seconds to wait before answering (for timeouts).
        cut_after: in a stream, drop the connection after this many deltas.
        error_after: in a stream, send an ``overloaded_error`` event after
            this many deltas.
        malformed_next: answer the next request with a body that is not JSON.
    """

    adapter_class = AnthropicAdapter

    def __init__(
        self,
        *,
        api_key: str = "sk-ant-fake-0123456789",
        chat_model: str = "claude-fake-1",
        reply_text: str = "Hello! I am a fake Claude, answering you.",
        stream_pause: float = 0.0,
        server: FakeHTTPServer | None = None,
    ) -> None:
        self._owns_server = server is None
        self.server = server or FakeHTTPServer()
        self.server.requests.clear()
        self.server.disconnects = 0
        self.server.route("POST", "/v1/messages", self._messages)
        self.api_key = api_key
        self.chat_model = chat_model
        self.embedding_model = ""
        self.reply_text = reply_text
        self.stream_pause = stream_pause
        self.tool_arguments: dict[str, Any] = {"city": "Paris"}
        self.call_tools = False
        self.response_delay = 0.0
        self.cut_after: int | None = None
        self.error_after: int | None = None
        self.malformed_next = False
        self._failures: deque[FakeResponse] = deque()

    def start(self) -> FakeAnthropic:
        if self._owns_server:
            self.server.start()
        return self

    def stop(self) -> None:
        if self._owns_server:
            self.server.stop()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def last_body(self) -> Any:
        """The JSON body of the last request received."""
        return self.server.requests[-1].json()

    def provider_spec(self) -> ProviderSpec:
        """A spec whose base URL points at this fake."""
        model = ModelSpec(
            self.chat_model,
            context_window=200_000,
            max_output_tokens=8192,
            price=Price(3_000_000, 15_000_000),
            capabilities=Capabilities(tools=True, vision=True, json_mode=True),
        )
        return ProviderSpec(
            name="anthropic-fake",
            family=AnthropicAdapter.family,
            base_url=self.server.url,
            auth=AuthScheme.HEADER,
            auth_header="x-api-key",
            models=(model,),
        )

    def credential(self) -> Credential:
        return Credential(api_key=self.api_key)

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        """Answer the next request with ``kind``'s status and error body."""
        status, error_type, message = FAILURES[kind]
        self.fail_next_with(status, error_type, message, retry_after)

    def fail_next_with(
        self,
        status: int,
        error_type: str,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next request with any documented error."""
        headers = {"request-id": "req_fake_failure"}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        body = error_body(error_type, message)
        self._failures.append(FakeResponse(status, body, headers=headers))

    # --- the endpoint ------------------------------------------------------

    def _messages(self, request: FakeRequest) -> FakeResponse:
        if self._failures:
            return self._failures.popleft()
        if request.headers.get("x-api-key") != self.api_key:
            return FakeResponse(
                401, error_body("authentication_error", "invalid x-api-key")
            )
        if "anthropic-version" not in request.headers:
            return _invalid("anthropic-version: header is required")
        try:
            body = request.json()
        except ValueError:
            return _invalid("There was an error parsing the body")
        problem = request_problem(body)
        if problem:
            return _invalid(problem)

        if self.response_delay:
            time.sleep(self.response_delay)
        if self.malformed_next:
            self.malformed_next = False
            return FakeResponse(200, "<html>upstream proxy error</html>")
        blocks, stop_reason, output_tokens = self._answer(body)
        input_tokens = len(
            words(json.dumps(body["messages"]) + str(body.get("system")))
        )
        if body.get("stream"):
            return self._stream(body, blocks, stop_reason, input_tokens, output_tokens)
        return FakeResponse(
            200,
            {
                "id": "msg_fake01",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": blocks,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            },
        )

    def _answer(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, int]:
        """The content blocks, stop reason and output tokens of the answer."""
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {"type": "auto"}
        tool_name = ""
        if choice["type"] == "tool":
            tool_name = choice["name"]
        elif tools and (
            choice["type"] == "any" or (choice["type"] == "auto" and self.call_tools)
        ):
            tool_name = tools[0]["name"]
        if tool_name:
            block = {
                "type": "tool_use",
                "id": "toolu_fake01",
                "name": tool_name,
                "input": self.tool_arguments,
            }
            return [block], "tool_use", len(words(json.dumps(self.tool_arguments)))

        pieces = words(self.reply_text)
        stop_reason = "end_turn"
        for stop in body.get("stop_sequences", []):
            if stop in self.reply_text:
                pieces = words(self.reply_text.split(stop)[0])
                stop_reason = "stop_sequence"
        if len(pieces) > body["max_tokens"]:
            pieces, stop_reason = pieces[: body["max_tokens"]], "max_tokens"
        return [{"type": "text", "text": "".join(pieces)}], stop_reason, len(pieces)

    def _stream(
        self,
        body: dict[str, Any],
        blocks: list[dict[str, Any]],
        stop_reason: str,
        input_tokens: int,
        output_tokens: int,
    ) -> FakeResponse:
        message = {
            "id": "msg_fake01",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": body["model"],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        }
        events: list[str | float] = [
            sse({"type": "message_start", "message": message}, "message_start"),
        ]
        deltas = 0
        start: dict[str, Any]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                pieces = [
                    {"type": "text_delta", "text": w} for w in words(block["text"])
                ]
            else:
                start = {**block, "input": {}}
                arguments = json.dumps(block["input"])
                pieces = [
                    {"type": "input_json_delta", "partial_json": arguments[i : i + 6]}
                    for i in range(0, len(arguments), 6)
                ]
            events.append(
                sse(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": start,
                    },
                    "content_block_start",
                )
            )
            events.append(sse({"type": "ping"}, "ping"))
            for delta in pieces:
                if deltas == self.cut_after:
                    return _streamed([*events, CUT])
                if deltas == self.error_after:
                    error = error_body("overloaded_error", "Overloaded")
                    return _streamed([*events, sse(error, "error")])
                events.append(
                    sse(
                        {"type": "content_block_delta", "index": index, "delta": delta},
                        "content_block_delta",
                    )
                )
                events.append(self.stream_pause)
                deltas += 1
            events.append(
                sse(
                    {"type": "content_block_stop", "index": index}, "content_block_stop"
                )
            )
        events.append(
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
                "message_delta",
            )
        )
        events.append(sse({"type": "message_stop"}, "message_stop"))
        return _streamed(events)


def _streamed(events: list[str | float]) -> FakeResponse:
    return FakeResponse(200, chunks=events, headers={"request-id": "req_fake"})


def _invalid(message: str) -> FakeResponse:
    return FakeResponse(400, error_body("invalid_request_error", message))


def request_problem(body: Any) -> str:
    """What a real server would reject in ``body``, or "" if nothing."""
    if not isinstance(body, dict) or not body.get("model"):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    previous_tool_ids: set[str] = set()
    for number, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{number}.role: Input should be 'user' or 'assistant'"
        if number == 0 and role != "user":
            return 'messages: first message must use the "user" role'
        if number and messages[number - 1]["role"] == role:
            return (
                'messages: roles must alternate between "user" and '
                f'"assistant", but found multiple "{role}" roles in a row'
            )
        problem = _content_problem(number, message.get("content"), previous_tool_ids)
        if problem:
            return problem
        previous_tool_ids = (
            {
                b["id"]
                for b in message["content"]
                if isinstance(b, dict) and b.get("type") == "tool_use"
            }
            if isinstance(message["content"], list)
            else set()
        )
    return _tools_problem(body)


def _content_problem(number: int, content: Any, tool_ids: set[str]) -> str:
    if isinstance(content, str):
        return ""
    if not isinstance(content, list) or not content:
        return f"messages.{number}: all messages must have non-empty content"
    for position, block in enumerate(content):
        where = f"messages.{number}.content.{position}"
        kind = block.get("type")
        if kind == "text" and not block.get("text"):
            return f"{where}.text: text content blocks must be non-empty"
        if kind == "image":
            source = block.get("source", {})
            ok = (
                source.get("type") == "base64"
                and source.get("media_type")
                and source.get("data")
            ) or (source.get("type") == "url" and source.get("url"))
            if not ok:
                return f"{where}.source: Input tag does not match any expected tag"
        if kind == "tool_result" and block.get("tool_use_id") not in tool_ids:
            return (
                f"{where}: unexpected `tool_use_id` found in `tool_result` "
                "blocks. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        if kind == "tool_use" and not isinstance(block.get("input"), dict):
            return f"{where}.input: Input should be a valid dictionary"
        if kind not in ("text", "image", "tool_use", "tool_result"):
            return f"{where}.type: Input tag {kind!r} does not match any expected tag"
    return ""


def _tools_problem(body: dict[str, Any]) -> str:
    names = []
    for number, tool in enumerate(body.get("tools") or []):
        if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            return f"tools.{number}: name and input_schema are required"
        names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is None:
        return ""
    if choice.get("type") not in ("auto", "any", "tool", "none"):
        return "tool_choice.type: Input tag does not match any expected tag"
    if choice["type"] == "tool" and choice.get("name") not in names:
        return f"tool_choice: tool {choice.get('name')!r} not found in tools"
    return ""
