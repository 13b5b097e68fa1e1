"""MegaRouter chat and embedding types to and from Ollama's native API.

Ollama has no ``tool_choice``: ``none`` leaves the tools out of the request,
and every other mode offers them and lets the model decide. Images travel
inline as base64 only, so an image given by an http(s) URL is refused.
Tool results name the tool they answer (``tool_name``), found from the
assistant turn whose call they answer; tool calls without an id get one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from megarouter.errors import ProviderBadRequest, ProviderResponseError
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    ResponseFormatType,
    Role,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoiceMode,
    Usage,
)

DONE_REASONS: Mapping[str, FinishReason] = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
}

Body = dict[str, Any]


def build_chat_body(provider: str, request: ChatRequest, *, stream: bool) -> Body:
    """The ``/api/chat`` body for ``request``.

    Args:
        provider: the provider's name, for error messages.
        request: the chat request to translate.
        stream: whether to ask for a newline-delimited JSON stream (Ollama
            streams unless told not to, so this is always sent).

    Returns:
        The JSON body.

    Raises:
        ProviderBadRequest: a message cannot be expressed in the API.
    """
    body: Body = {
        "model": request.model,
        "messages": _messages(provider, request.messages),
        "stream": stream,
    }

    options = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "stop": list(request.stop) or None,
        "num_predict": request.max_tokens,
    }
    options = {k: v for k, v in options.items() if v is not None}
    if options:
        body["options"] = options

    choice = request.tool_choice
    if request.tools and (choice is None or choice.mode is not ToolChoiceMode.NONE):
        body["tools"] = [_tool(t) for t in request.tools]
    if request.response_format is not None:
        response_format = _format(request.response_format)
        if response_format is not None:
            body["format"] = response_format
    return body


def _tool(tool: Tool) -> Body:
    function: Body = {
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.parameters) or {"type": "object"},
    }
    return {"type": "function", "function": function}


def _format(fmt: ResponseFormat) -> str | dict[str, Any] | None:
    if fmt.type is ResponseFormatType.TEXT:
        return None
    if fmt.schema:
        return dict(fmt.schema)
    return "json"


def _messages(provider: str, messages: Sequence[Message]) -> list[Body]:
    tool_names: dict[str, str] = {}
    out: list[Body] = []
    for message in messages:
        body: Body = {"role": message.role.value, "content": message.text_content}
        images = [
            _image(provider, p) for p in message.content if isinstance(p, ImagePart)
        ]
        if images:
            body["images"] = images
        if message.tool_calls:
            body["tool_calls"] = [_tool_call(provider, c) for c in message.tool_calls]
            tool_names.update((c.id, c.name) for c in message.tool_calls)
        if message.role is Role.TOOL:
            name = message.name or tool_names.get(message.tool_call_id, "")
            if name:
                body["tool_name"] = name
        out.append(body)
    return out


def _image(provider: str, part: ImagePart) -> str:
    if part.data_base64:
        return part.data_base64
    header, _, data = part.url.partition(",")
    if part.url.startswith("data:") and header.endswith(";base64") and data:
        return data
    raise ProviderBadRequest(
        f"{provider}: Ollama takes images inline as base64, not by URL",
        provider=provider,
    )


def _tool_call(provider: str, call: ToolCall) -> Body:
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise ProviderBadRequest(
            f"{provider}: tool call {call.id!r} has arguments that are not JSON",
            provider=provider,
        ) from exc
    return {"function": {"name": call.name, "arguments": arguments}}


def parse_tool_calls(
    message: Mapping[str, Any], first_index: int = 0
) -> list[ToolCall]:
    """The tool calls of a response message; arguments become JSON text."""
    calls = []
    for number, call in enumerate(message.get("tool_calls") or (), first_index):
        function = call["function"]
        arguments = function.get("arguments") or {}
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(
            ToolCall(call.get("id") or f"call_{number}", function["name"], arguments)
        )
    return calls


def parse_done(
    payload: Mapping[str, Any], saw_tool_calls: bool
) -> tuple[FinishReason, Usage | None]:
    """The finish reason and usage of a final (``done: true``) object."""
    finish = DONE_REASONS.get(
        payload.get("done_reason") or "stop", FinishReason.UNKNOWN
    )
    if saw_tool_calls and finish is FinishReason.STOP:
        finish = FinishReason.TOOL_CALLS
    usage = None
    if "prompt_eval_count" in payload or "eval_count" in payload:
        usage = Usage(
            int(payload.get("prompt_eval_count") or 0),
            int(payload.get("eval_count") or 0),
        )
    return finish, usage


def parse_chat(provider: str, payload: Any) -> ChatResponse:
    """A ChatResponse from a non-streamed ``/api/chat`` body.

    Raises:
        ProviderResponseError: the body is not an Ollama chat response.
    """
    try:
        message = payload["message"]
        calls = parse_tool_calls(message)
        finish, usage = parse_done(payload, bool(calls))
        content = str(message.get("content") or "")
        model = str(payload.get("model", ""))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProviderResponseError(
            f"{provider}: unexpected chat response shape: {exc!r}", provider=provider
        ) from exc
    return ChatResponse(content, tuple(calls), finish, usage, model)


class ChatStream:
    """Turns one stream's JSON objects into chunks; ``done`` after the last."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False
        self._tool_calls = 0

    def feed(self, payload: Any) -> ChatChunk | None:
        """The chunk this streamed object yields, if any.

        Raises:
            ProviderResponseError: the object is malformed.
        """
        try:
            message = payload.get("message") or {}
            first = self._tool_calls
            calls = parse_tool_calls(message, first)
            self._tool_calls += len(calls)
            deltas = tuple(
                ToolCallDelta(first + i, c.id, c.name, c.arguments)
                for i, c in enumerate(calls)
            )
            content = str(message.get("content") or "")
            finish, usage = None, None
            if payload.get("done"):
                self.done = True
                finish, usage = parse_done(payload, self._tool_calls > 0)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProviderResponseError(
                f"{self.provider}: unexpected stream object: {exc!r}",
                provider=self.provider,
            ) from exc
        if not (content or deltas or finish):
            return None
        return ChatChunk(content, deltas, finish, usage)


def build_embed_body(request: EmbeddingRequest) -> Body:
    """The ``/api/embed`` body for ``request``."""
    body: Body = {"model": request.model, "input": list(request.inputs)}
    if request.dimensions:
        body["dimensions"] = request.dimensions
    return body


def parse_embed(provider: str, payload: Any, model: str) -> EmbeddingResponse:
    """An EmbeddingResponse from an ``/api/embed`` body.

    Raises:
        ProviderResponseError: the body has no embeddings.
    """
    try:
        vectors = tuple(tuple(float(x) for x in v) for v in payload["embeddings"])
        count = payload.get("prompt_eval_count")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ProviderResponseError(
            f"{provider}: unexpected embed response shape: {exc!r}", provider=provider
        ) from exc
    usage = Usage(int(count)) if count is not None else None
    return EmbeddingResponse(vectors, usage, str(payload.get("model") or model))
