"""MegaRouter chat and embedding types to and from Cohere v2 bodies.

Two mappings need a word. Cohere calls the text an assistant writes before
its tool calls a ``tool_plan``: an answer with tool calls carries the plan as
its content, and an assistant message with tool calls sends its content as
the plan. Cohere's ``tool_choice`` knows only ``REQUIRED`` and ``NONE``, so
asking for one named function sends that function alone, required.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
    ToolChoiceMode,
    Usage,
)

FINISH_REASONS: Mapping[str, FinishReason] = {
    "COMPLETE": FinishReason.STOP,
    "STOP_SEQUENCE": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "TOOL_CALL": FinishReason.TOOL_CALLS,
    "ERROR": FinishReason.ERROR,
    "TIMEOUT": FinishReason.ERROR,
    "ERROR_TOXIC": FinishReason.CONTENT_FILTER,
    "ERROR_LIMIT": FinishReason.LENGTH,
}

# What embeddings are for; MegaRouter embeds documents for retrieval.
EMBED_INPUT_TYPE = "search_document"

Body = dict[str, Any]


def build_chat_body(request: ChatRequest, *, stream: bool) -> Body:
    """The ``/v2/chat`` body for ``request``.

    Args:
        request: the chat request to translate.
        stream: whether to ask for a server-sent event stream.

    Returns:
        The JSON body.
    """
    body: Body = {
        "model": request.model,
        "messages": [_message(m) for m in request.messages],
    }
    if stream:
        body["stream"] = True

    options = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "p": request.top_p,
        "seed": request.seed,
        "stop_sequences": list(request.stop) or None,
    }
    body.update({k: v for k, v in options.items() if v is not None})

    _add_tools(body, request)
    if request.response_format is not None:
        response_format = _response_format(request.response_format)
        if response_format:
            body["response_format"] = response_format
    return body


def _add_tools(body: Body, request: ChatRequest) -> None:
    tools = list(request.tools)
    choice = request.tool_choice
    if choice is not None and choice.mode is ToolChoiceMode.FUNCTION:
        tools = [t for t in tools if t.name == choice.name]
    if tools:
        body["tools"] = [_tool(t) for t in tools]
    if choice is None or not tools:
        return
    if choice.mode in (ToolChoiceMode.REQUIRED, ToolChoiceMode.FUNCTION):
        body["tool_choice"] = "REQUIRED"
    elif choice.mode is ToolChoiceMode.NONE:
        body["tool_choice"] = "NONE"


def _tool(tool: Tool) -> Body:
    function: Body = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = dict(tool.parameters) or {"type": "object"}
    return {"type": "function", "function": function}


def _response_format(fmt: ResponseFormat) -> Body | None:
    if fmt.type is ResponseFormatType.TEXT:
        return None
    body: Body = {"type": "json_object"}
    if fmt.schema:
        body["json_schema"] = dict(fmt.schema)
    return body


def _message(message: Message) -> Body:
    if message.role is Role.TOOL:
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": message.text_content,
        }
    if message.role is Role.ASSISTANT and message.tool_calls:
        body: Body = {
            "role": "assistant",
            "tool_calls": [_tool_call(c) for c in message.tool_calls],
        }
        if message.text_content:
            body["tool_plan"] = message.text_content
        return body
    if message.has_images:
        return {"role": message.role.value, "content": _parts(message.content)}
    return {"role": message.role.value, "content": message.text_content}


def _tool_call(call: ToolCall) -> Body:
    function = {"name": call.name, "arguments": call.arguments or "{}"}
    return {"id": call.id, "type": "function", "function": function}


def _parts(parts: Sequence[TextPart | ImagePart]) -> list[Body]:
    out: list[Body] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        else:
            out.append({"type": "image_url", "image_url": {"url": part.as_data_url}})
    return out


def parse_chat(provider: str, payload: Any) -> ChatResponse:
    """A ChatResponse from a ``/v2/chat`` response body.

    Raises:
        ProviderResponseError: the body is not a Cohere chat response.
    """
    try:
        message = payload["message"]
        text = "".join(
            part["text"]
            for part in message.get("content") or ()
            if part.get("type") == "text"
        )
        calls = tuple(
            ToolCall(call["id"], call["function"]["name"], _arguments(call))
            for call in message.get("tool_calls") or ()
        )
        if calls and not text:
            text = message.get("tool_plan") or ""
        finish = FINISH_REASONS.get(payload["finish_reason"], FinishReason.UNKNOWN)
        usage = parse_usage(payload.get("usage"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProviderResponseError(
            f"{provider}: unexpected chat response shape: {exc!r}", provider=provider
        ) from exc
    return ChatResponse(text, calls, finish, usage)


def _arguments(call: Mapping[str, Any]) -> str:
    arguments = call["function"].get("arguments") or "{}"
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def parse_usage(usage: Any) -> Usage | None:
    """Usage from a ``usage`` object: billed units, else tokens.

    Billed units are what Cohere charges for; ``tokens`` also counts the
    prompt template Cohere wraps around the messages.
    """
    if not isinstance(usage, dict):
        return None
    counts = usage.get("billed_units") or usage.get("tokens")
    if not isinstance(counts, dict):
        return None
    return Usage(
        int(counts.get("input_tokens") or 0), int(counts.get("output_tokens") or 0)
    )


def build_embed_body(request: EmbeddingRequest) -> Body:
    """The ``/v2/embed`` body for ``request`` (float vectors of documents)."""
    body: Body = {
        "model": request.model,
        "texts": list(request.inputs),
        "input_type": EMBED_INPUT_TYPE,
        "embedding_types": ["float"],
    }
    if request.dimensions:
        body["output_dimension"] = request.dimensions
    return body


def parse_embed(provider: str, payload: Any, model: str) -> EmbeddingResponse:
    """An EmbeddingResponse from a ``/v2/embed`` response body.

    Raises:
        ProviderResponseError: the body has no float embeddings.
    """
    try:
        vectors = tuple(
            tuple(float(x) for x in vector) for vector in payload["embeddings"]["float"]
        )
        billed = (payload.get("meta") or {}).get("billed_units") or {}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ProviderResponseError(
            f"{provider}: unexpected embed response shape: {exc!r}", provider=provider
        ) from exc
    usage = Usage(int(billed["input_tokens"])) if "input_tokens" in billed else None
    return EmbeddingResponse(vectors, usage, model)
