"""Chat messages between protobuf and MegaRouter's types."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from megarouter.completions.requests import (
    CompletionRequest,
    CompletionResult,
    RoutingHints,
)
from megarouter.errors import InvalidArgument
from megarouter.governance.usage import Attempt
from megarouter.providers.types import (
    ContentPart,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    ResponseFormatType,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)
from megarouter.v1 import chat_pb2 as chat

ROLES = {
    chat.CHAT_ROLE_SYSTEM: Role.SYSTEM,
    chat.CHAT_ROLE_USER: Role.USER,
    chat.CHAT_ROLE_ASSISTANT: Role.ASSISTANT,
    chat.CHAT_ROLE_TOOL: Role.TOOL,
}
TOOL_CHOICES = {
    chat.TOOL_CHOICE_MODE_UNSPECIFIED: ToolChoiceMode.AUTO,
    chat.TOOL_CHOICE_MODE_NONE: ToolChoiceMode.NONE,
    chat.TOOL_CHOICE_MODE_REQUIRED: ToolChoiceMode.REQUIRED,
    chat.TOOL_CHOICE_MODE_FUNCTION: ToolChoiceMode.FUNCTION,
}
FORMATS = {
    chat.RESPONSE_FORMAT_TYPE_UNSPECIFIED: ResponseFormatType.TEXT,
    chat.RESPONSE_FORMAT_TYPE_JSON_OBJECT: ResponseFormatType.JSON_OBJECT,
    chat.RESPONSE_FORMAT_TYPE_JSON_SCHEMA: ResponseFormatType.JSON_SCHEMA,
}
FINISH: dict[FinishReason, Any] = {
    FinishReason.STOP: chat.FINISH_REASON_STOP,
    FinishReason.LENGTH: chat.FINISH_REASON_LENGTH,
    FinishReason.TOOL_CALLS: chat.FINISH_REASON_TOOL_CALLS,
    FinishReason.CONTENT_FILTER: chat.FINISH_REASON_CONTENT_FILTER,
}
MAX_TOOL_NAME = 64


def completion_request(request: Any) -> CompletionRequest:
    """A CompleteRequest or StreamCompleteRequest as a domain request."""
    tool_choice = None
    if request.HasField("tool_choice"):
        mode = _enum(TOOL_CHOICES, request.tool_choice.mode, "tool_choice.mode")
        tool_choice = ToolChoice(mode, request.tool_choice.name)
    response_format = None
    if request.HasField("response_format"):
        fmt = request.response_format
        response_format = ResponseFormat(
            type=_enum(FORMATS, fmt.type, "response_format.type"),
            schema=json_format.MessageToDict(fmt.schema)
            if fmt.HasField("schema")
            else None,
            name=fmt.name or "response",
            strict=fmt.strict,
        )
    hints = request.routing
    return CompletionRequest(
        model=request.model,
        messages=[_message(i, m) for i, m in enumerate(request.messages)],
        max_tokens=request.max_tokens if request.HasField("max_tokens") else None,
        temperature=request.temperature if request.HasField("temperature") else None,
        top_p=request.top_p if request.HasField("top_p") else None,
        stop=tuple(request.stop),
        seed=request.seed if request.HasField("seed") else None,
        tools=[_tool(i, t) for i, t in enumerate(request.tools)],
        tool_choice=tool_choice,
        response_format=response_format,
        routing=RoutingHints(
            policy=hints.policy,
            task_type=hints.task_type,
            max_cost_micros=(
                hints.max_cost_micros if hints.HasField("max_cost_micros") else None
            ),
            min_quality=hints.min_quality if hints.HasField("min_quality") else None,
            max_latency_ms=(
                hints.max_latency_ms if hints.HasField("max_latency_ms") else None
            ),
        ),
        scenario=request.scenario,
        client_request_id=request.client_request_id,
    )


def _message(index: int, message: chat.ChatMessage) -> Message:
    role = _enum(ROLES, message.role, f"messages[{index}].role")
    parts: list[ContentPart] = []
    for part_index, part in enumerate(message.content):
        which = part.WhichOneof("part")
        if which == "text":
            parts.append(TextPart(part.text))
        elif which == "image":
            image = part.image
            parts.append(
                ImagePart(
                    url=image.url,
                    data_base64=base64.b64encode(image.data).decode()
                    if image.data
                    else "",
                    media_type=image.media_type,
                )
            )
        else:
            raise InvalidArgument.for_field(
                f"messages[{index}].content[{part_index}]", "is empty"
            )
    calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in message.tool_calls)
    return Message(role, tuple(parts), calls, message.tool_call_id, message.name)


def _tool(index: int, tool: chat.Tool) -> Tool:
    name = tool.name
    if (
        not name
        or len(name) > MAX_TOOL_NAME
        or not all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    ):
        raise InvalidArgument.for_field(
            f"tools[{index}].name", "must be 1 to 64 letters, digits, _ or -"
        )
    return Tool(name, tool.description, json_format.MessageToDict(tool.parameters))


def _enum(table: Mapping[Any, Any], value: int, field: str) -> Any:
    if value not in table:
        raise InvalidArgument.for_field(field, f"unknown value {value}")
    return table[value]


def assistant_message(result: CompletionResult) -> chat.ChatMessage:
    message = chat.ChatMessage(role=chat.CHAT_ROLE_ASSISTANT)
    if result.content:
        message.content.add(text=result.content)
    for call in result.tool_calls:
        message.tool_calls.add(id=call.id, name=call.name, arguments=call.arguments)
    return message


def attempts(items: tuple[Attempt, ...]) -> list[chat.Attempt]:
    return [
        chat.Attempt(
            provider=a.provider,
            model=a.model,
            ok=a.ok,
            error_kind=a.error_kind,
            error=a.error,
        )
        for a in items
    ]


def route(result: CompletionResult) -> chat.RouteSummary:
    info = result.route
    return chat.RouteSummary(
        strategy=info.strategy,
        task_type=info.task_type,
        reason=info.reason,
        candidates=info.candidates,
    )


def usage(result: Any) -> chat.Usage:
    return chat.Usage(
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        cost_micros=result.usage.cost_micros,
    )
