"""MegaRouter types to and from the Chat Completions wire format.

Pure functions, no I/O: the adapter sends what :func:`chat_body` builds and
hands what comes back to :func:`parse_completion`, :func:`parse_chunk` and
:func:`parse_embeddings`. Anything the provider sends that does not have the
documented shape raises :class:`~megarouter.errors.ProviderResponseError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from megarouter.errors import ProviderResponseError
from megarouter.providers.types import (
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
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    Usage,
)

# Finish reasons as OpenAI and the servers that imitate it spell them.
_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "eos": FinishReason.STOP,
    "end_turn": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "model_length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
    "error": FinishReason.ERROR,
}


@contextlib.contextmanager
def expected_shape(provider: str, what: str) -> Iterator[None]:
    """Turn a lookup into a malformed document into ProviderResponseError."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise ProviderResponseError(
            f"{provider}: malformed {what}: {type(exc).__name__}: {exc}",
            provider=provider,
        ) from exc


# --- requests ---------------------------------------------------------------


def chat_body(
    request: ChatRequest, options: Mapping[str, str], *, stream: bool
) -> dict[str, Any]:
    """The JSON body of a ``POST /chat/completions`` for ``request``.

    Args:
        request: the chat call.
        options: the provider spec's options; ``max_tokens_param`` renames
            the output limit (``max_completion_tokens`` for reasoning models).
        stream: ask for server-sent events, with usage in a final chunk.

    Returns:
        The body, with unset optional fields left out.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [message_to_wire(m) for m in request.messages],
    }
    if request.max_tokens is not None:
        body[options.get("max_tokens_param") or "max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.user:
        body["user"] = request.user

    if request.tools:
        body["tools"] = [tool_to_wire(t) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = tool_choice_to_wire(request.tool_choice)
    if request.response_format is not None:
        response_format = response_format_to_wire(request.response_format)
        if response_format is not None:
            body["response_format"] = response_format

    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def message_to_wire(message: Message) -> dict[str, Any]:
    """One message in the Chat Completions shape."""
    wire: dict[str, Any] = {"role": message.role.value}
    if message.has_images:
        wire["content"] = [_part_to_wire(p) for p in message.content]
    elif message.role is Role.ASSISTANT and message.tool_calls:
        wire["content"] = message.text_content or None
    else:
        wire["content"] = message.text_content

    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.role is Role.TOOL:
        wire["tool_call_id"] = message.tool_call_id
    elif message.name:
        wire["name"] = message.name
    return wire


def _part_to_wire(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    return {"type": "image_url", "image_url": {"url": part.as_data_url}}


def tool_to_wire(tool: Tool) -> dict[str, Any]:
    """A function tool; an empty schema becomes an object without properties."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = dict(tool.parameters) or {
        "type": "object",
        "properties": {},
    }
    return {"type": "function", "function": function}


def tool_choice_to_wire(choice: ToolChoice) -> str | dict[str, Any]:
    """``auto``/``none``/``required``, or the one function that must be called."""
    if choice.mode is ToolChoiceMode.FUNCTION:
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode.value


def response_format_to_wire(response_format: ResponseFormat) -> dict[str, Any] | None:
    """The ``response_format`` object, or None for plain text."""
    if response_format.type is ResponseFormatType.JSON_OBJECT:
        return {"type": "json_object"}
    if response_format.type is ResponseFormatType.JSON_SCHEMA:
        json_schema: dict[str, Any] = {
            "name": response_format.name,
            "schema": dict(response_format.schema or {}),
            "strict": response_format.strict,
        }
        return {"type": "json_schema", "json_schema": json_schema}
    return None


def embeddings_body(request: EmbeddingRequest) -> dict[str, Any]:
    """The JSON body of a ``POST /embeddings`` for ``request``."""
    body: dict[str, Any] = {
        "model": request.model,
        "input": list(request.inputs),
        "encoding_format": "float",
    }
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


# --- responses --------------------------------------------------------------


def finish_reason(value: str | None) -> FinishReason:
    """Our finish reason for the provider's string (UNKNOWN when unsaid)."""
    return _FINISH_REASONS.get(value or "", FinishReason.UNKNOWN)


def parse_usage(data: object) -> Usage | None:
    """Usage from a ``usage`` object, or None when absent or null."""
    if not isinstance(data, dict):
        return None
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
    )


def _text_of(content: object) -> str:
    """Message content as text: a string, null, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, list):
        parts = (part for part in content if isinstance(part, dict))
        return "".join(str(part.get("text", "")) for part in parts)
    return str(content)


def parse_completion(
    provider: str,
    data: Any,
    map_finish: Callable[[str | None], FinishReason] = finish_reason,
) -> ChatResponse:
    """A ``chat.completion`` object as a ChatResponse (first choice only).

    Args:
        provider: the provider's name, for error messages.
        data: the decoded JSON body.
        map_finish: turns upstream's finish reason into ours (and may raise).

    Returns:
        The answer of the first choice.

    Raises:
        ProviderResponseError: the body is not a chat completion.
    """
    with expected_shape(provider, "chat completion"):
        choice = data["choices"][0]
        raw_finish = choice.get("finish_reason")
        message = choice.get("message") or {}
        tool_calls = tuple(
            ToolCall(
                id=str(call.get("id") or ""),
                name=str(call["function"]["name"]),
                arguments=str(call["function"].get("arguments") or "{}"),
            )
            for call in message.get("tool_calls") or ()
        )
        return ChatResponse(
            content=_text_of(message.get("content")),
            tool_calls=tool_calls,
            finish_reason=map_finish(str(raw_finish) if raw_finish else None),
            usage=parse_usage(data.get("usage")),
            model=str(data.get("model") or ""),
        )


@dataclass(frozen=True, slots=True)
class ChunkDelta:
    """What one ``chat.completion.chunk`` carried for the first choice."""

    content: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None


def parse_chunk(provider: str, data: Any) -> ChunkDelta:
    """One streamed chunk; ``choices`` may be empty (the final usage chunk)."""
    with expected_shape(provider, "stream chunk"):
        usage = parse_usage(data.get("usage"))
        choices = data.get("choices") or []
        if not choices:
            return ChunkDelta(usage=usage)
        choice = choices[0]
        delta = choice.get("delta") or {}
        tool_calls = tuple(
            _tool_call_delta(position, item)
            for position, item in enumerate(delta.get("tool_calls") or ())
        )
        reason = choice.get("finish_reason")
        return ChunkDelta(
            content=_text_of(delta.get("content")),
            tool_calls=tool_calls,
            finish_reason=str(reason) if reason else None,
            usage=usage,
        )


def _tool_call_delta(position: int, item: dict[str, Any]) -> ToolCallDelta:
    function = item.get("function") or {}
    index = item.get("index")
    return ToolCallDelta(
        index=int(index) if index is not None else position,
        id=str(item.get("id") or ""),
        name=str(function.get("name") or ""),
        arguments=str(function.get("arguments") or ""),
    )


def parse_embeddings(provider: str, data: Any, expected: int) -> EmbeddingResponse:
    """An embeddings ``list`` object, vectors put back in input order."""
    with expected_shape(provider, "embeddings response"):
        items = sorted(data["data"], key=lambda item: int(item["index"]))
        vectors = tuple(tuple(float(x) for x in item["embedding"]) for item in items)
        if len(vectors) != expected:
            raise ValueError(f"{len(vectors)} vectors for {expected} inputs")
        return EmbeddingResponse(
            vectors=vectors,
            usage=parse_usage(data.get("usage")),
            model=str(data.get("model") or ""),
        )
