"""MegaRouter chat types to and from Anthropic Messages API bodies.

JSON output: the Messages API has no JSON mode, so a request for JSON adds a
tool (named after ``ResponseFormat.name``) whose ``input_schema`` is the
wanted schema, and makes the model call it. The tool's input is the answer:
it comes back as the response's text, never as a tool call. When the caller
also offers its own tools, the model must call one of them or the JSON tool
(``tool_choice: any``); with no caller tools, or ``tool_choice`` none, the
JSON tool is forced by name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from megarouter.errors import ProviderBadRequest, ProviderResponseError
from megarouter.providers.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormatType,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoiceMode,
    Usage,
)

STOP_REASONS: Mapping[str, FinishReason] = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "pause_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class MessagesCall:
    """A request body and the name of the JSON tool it forces, if any."""

    body: dict[str, Any]
    json_tool: str = ""


def build_messages_call(
    provider: str, request: ChatRequest, max_tokens: int, *, stream: bool
) -> MessagesCall:
    """The ``/v1/messages`` body for ``request``.

    Args:
        provider: the provider's name, for error messages.
        request: the chat request to translate.
        max_tokens: the answer's token limit (the API requires one).
        stream: whether to ask for a server-sent event stream.

    Returns:
        The body, and the name of the JSON tool when JSON output was asked.

    Raises:
        ProviderBadRequest: a message cannot be expressed in the API.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": max_tokens,
        "messages": _turns(provider, request.messages),
    }
    system = "\n\n".join(
        m.text_content for m in request.messages if m.role is Role.SYSTEM
    )
    if system:
        body["system"] = system
    if stream:
        body["stream"] = True

    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": request.user}

    json_tool = _add_tools(body, request)
    return MessagesCall(body, json_tool)


def _add_tools(body: dict[str, Any], request: ChatRequest) -> str:
    """Set ``tools`` and ``tool_choice``; return the JSON tool's name, if any."""
    tools = [_tool(t) for t in request.tools]
    choice = request.tool_choice
    fmt = request.response_format
    wants_json = fmt is not None and fmt.type is not ResponseFormatType.TEXT

    if not wants_json:
        if tools:
            body["tools"] = tools
        if choice is not None and tools:  # the API refuses a choice without tools
            body["tool_choice"] = _tool_choice(choice.mode, choice.name)
        return ""

    assert fmt is not None
    json_tool = fmt.name or "response"
    schema = dict(fmt.schema) if fmt.schema else {"type": "object"}
    tools.append(
        {
            "name": json_tool,
            "description": "Answer the user by calling this tool with the answer "
            "as its input.",
            "input_schema": schema,
        }
    )
    body["tools"] = tools
    if len(tools) == 1 or (choice is not None and choice.mode is ToolChoiceMode.NONE):
        body["tool_choice"] = {"type": "tool", "name": json_tool}
    elif choice is not None and choice.mode is ToolChoiceMode.FUNCTION:
        body["tool_choice"] = _tool_choice(choice.mode, choice.name)
    else:
        body["tool_choice"] = {"type": "any"}
    return json_tool


def _tool(tool: Tool) -> Block:
    schema = dict(tool.parameters) if tool.parameters else {"type": "object"}
    block: Block = {"name": tool.name, "input_schema": schema}
    if tool.description:
        block["description"] = tool.description
    return block


def _tool_choice(mode: ToolChoiceMode, name: str) -> Block:
    if mode is ToolChoiceMode.FUNCTION:
        return {"type": "tool", "name": name}
    if mode is ToolChoiceMode.REQUIRED:
        return {"type": "any"}
    if mode is ToolChoiceMode.NONE:
        return {"type": "none"}
    return {"type": "auto"}


def _turns(provider: str, messages: Sequence[Message]) -> list[Block]:
    """User and assistant turns; consecutive turns of one role are merged."""
    turns: list[Block] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            continue
        role = "assistant" if message.role is Role.ASSISTANT else "user"
        blocks = _blocks(provider, message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(provider: str, message: Message) -> list[Block]:
    if message.role is Role.TOOL:
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.text_content,
            }
        ]
    blocks = [_content_block(provider, part) for part in message.content]
    blocks = [b for b in blocks if b.get("type") != "text" or b["text"]]
    for call in message.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": _arguments(provider, call),
            }
        )
    return blocks


def _content_block(provider: str, part: TextPart | ImagePart) -> Block:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.data_base64:
        return _base64_image(part.media_type, part.data_base64)
    if part.url.startswith("data:"):
        header, _, data = part.url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0]
        if not header.endswith(";base64") or not data:
            raise ProviderBadRequest(
                f"{provider}: image data URLs must be base64", provider=provider
            )
        return _base64_image(media_type, data)
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def _base64_image(media_type: str, data: str) -> Block:
    source = {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "image", "source": source}


def _arguments(provider: str, call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise ProviderBadRequest(
            f"{provider}: tool call {call.id!r} has arguments that are not JSON",
            provider=provider,
        ) from exc


def parse_message(provider: str, payload: Any, json_tool: str = "") -> ChatResponse:
    """A ChatResponse from a Messages API response body.

    Args:
        provider: the provider's name, for error messages.
        payload: the decoded JSON body.
        json_tool: the JSON tool the request forced, whose input is the answer.

    Returns:
        The answer's text, tool calls, finish reason, usage and model.

    Raises:
        ProviderResponseError: the body is not a Messages API message.
    """
    try:
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in payload["content"]:
            if block["type"] == "text":
                texts.append(block["text"])
            elif block["type"] == "tool_use" and block["name"] == json_tool:
                texts.append(json.dumps(block["input"]))
            elif block["type"] == "tool_use":
                calls.append(
                    ToolCall(block["id"], block["name"], json.dumps(block["input"]))
                )
        finish = STOP_REASONS.get(
            payload.get("stop_reason") or "", FinishReason.UNKNOWN
        )
        if finish is FinishReason.TOOL_CALLS and not calls:
            finish = FinishReason.STOP  # only the JSON tool was called
        usage = parse_usage(payload.get("usage"))
        model = str(payload.get("model", ""))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProviderResponseError(
            f"{provider}: unexpected message shape: {exc!r}", provider=provider
        ) from exc
    return ChatResponse("".join(texts), tuple(calls), finish, usage, model)


def parse_usage(usage: Any) -> Usage | None:
    """Usage from a ``usage`` object; cache reads and writes count as input."""
    if not isinstance(usage, dict):
        return None
    input_tokens = sum(
        int(usage.get(key) or 0)
        for key in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        )
    )
    return Usage(input_tokens, int(usage.get("output_tokens") or 0))
