"""Translation between MegaRouter's chat types and Bedrock Converse JSON.

A Converse request has ``messages`` (alternating ``user`` and ``assistant``
turns of content blocks), ``system`` blocks, ``inferenceConfig`` and
``toolConfig``. Converse has no JSON mode that every model honours, so a
JSON response format is asked for the way Bedrock's documentation suggests:
as a single tool whose input schema is the wanted schema, which the model
is forced to call; its input is then the answer.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
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
    ToolChoice,
    ToolChoiceMode,
    Usage,
)

JSON = dict[str, Any]

_STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "tool_use": FinishReason.TOOL_CALLS,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "guardrail_intervened": FinishReason.CONTENT_FILTER,
    "content_filtered": FinishReason.CONTENT_FILTER,
}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


@dataclass(frozen=True, slots=True)
class ConverseCall:
    """A Converse request body and, in JSON mode, the tool that carries JSON."""

    body: JSON
    json_tool: str = ""


# --- request ---------------------------------------------------------------


def converse_call(provider: str, request: ChatRequest) -> ConverseCall:
    """The Converse request body for ``request``.

    Args:
        provider: the provider's name, for error messages.
        request: the chat request.

    Returns:
        The body, and the name of the JSON-carrying tool in JSON mode.

    Raises:
        ProviderBadRequest: the request cannot be expressed for Converse.
    """
    system, messages = _messages(provider, request.messages)
    body: JSON = {"messages": messages}
    if system:
        body["system"] = [{"text": text} for text in system]

    config = _inference_config(request)
    if config:
        body["inferenceConfig"] = config

    json_tool = _json_tool(provider, request)
    if json_tool is not None:
        body["toolConfig"] = {
            "tools": [_tool_spec(json_tool)],
            "toolChoice": {"tool": {"name": json_tool.name}},
        }
        return ConverseCall(body, json_tool.name)

    tool_config = _tool_config(request, _uses_tools(messages))
    if tool_config:
        body["toolConfig"] = tool_config
    return ConverseCall(body)


def _messages(
    provider: str, messages: Sequence[Message]
) -> tuple[list[str], list[JSON]]:
    """System texts and the turns, adjacent same-role turns merged."""
    system: list[str] = []
    turns: list[JSON] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            system.append(message.text_content)
            continue
        if message.role is Role.TOOL:
            role, blocks = "user", [_tool_result(message)]
        else:
            role = "assistant" if message.role is Role.ASSISTANT else "user"
            blocks = [_content_block(provider, part) for part in message.content]
            blocks += [_tool_use(provider, call) for call in message.tool_calls]
        # Converse rejects blank text blocks.
        blocks = [b for b in blocks if not ("text" in b and not b["text"].strip())]
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _content_block(provider: str, part: TextPart | ImagePart) -> JSON:
    """The Converse content block for a text or image part."""
    if isinstance(part, TextPart):
        return {"text": part.text}
    media_type, data = part.media_type, part.data_base64
    if part.url.startswith("data:"):
        header, _, data = part.url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0]
    elif part.url.startswith("s3://"):
        image_format = _IMAGE_FORMATS.get(media_type, part.url.rpartition(".")[2])
        return {
            "image": {
                "format": image_format,
                "source": {"s3Location": {"uri": part.url}},
            }
        }
    elif part.url:
        raise ProviderBadRequest(
            f"{provider}: Bedrock takes images inline or from S3, not from "
            f"{part.url.split(':')[0]} URLs",
            provider=provider,
        )
    inline_format = _IMAGE_FORMATS.get(media_type.lower())
    if inline_format is None:
        raise ProviderBadRequest(
            f"{provider}: Bedrock does not accept images of type {media_type!r}",
            provider=provider,
        )
    # In Converse's JSON, a blob is base64 text.
    return {"image": {"format": inline_format, "source": {"bytes": data}}}


def _tool_use(provider: str, call: ToolCall) -> JSON:
    """The toolUse block for an assistant's tool call."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise ProviderBadRequest(
            f"{provider}: tool call {call.id!r} has arguments that are not JSON",
            provider=provider,
        ) from exc
    return {"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}}


def _tool_result(message: Message) -> JSON:
    """The toolResult block answering a tool call."""
    return {
        "toolResult": {
            "toolUseId": message.tool_call_id,
            "content": [{"text": message.text_content or "(empty)"}],
        }
    }


def _inference_config(request: ChatRequest) -> JSON:
    config: JSON = {}
    if request.max_tokens is not None:
        config["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    return config


def _json_tool(provider: str, request: ChatRequest) -> Tool | None:
    """The tool that carries a JSON answer, when the request wants JSON."""
    response_format = request.response_format
    if response_format is None or response_format.type is ResponseFormatType.TEXT:
        return None
    if request.tools:
        raise ProviderBadRequest(
            f"{provider}: Bedrock Converse cannot combine tools with a JSON "
            "response format",
            provider=provider,
        )
    schema = response_format.schema or {"type": "object"}
    return Tool(
        name=response_format.name or "response",
        description="Answer by calling this tool with the answer as its input.",
        parameters=schema,
    )


def _tool_spec(tool: Tool) -> JSON:
    schema = dict(tool.parameters) or {"type": "object", "properties": {}}
    spec: JSON = {"name": tool.name, "inputSchema": {"json": schema}}
    if tool.description:
        spec["description"] = tool.description
    return {"toolSpec": spec}


def _tool_config(request: ChatRequest, history_uses_tools: bool) -> JSON | None:
    """The toolConfig for the request's own tools, if it needs one."""
    choice = request.tool_choice or ToolChoice()
    if not request.tools or (
        choice.mode is ToolChoiceMode.NONE and not history_uses_tools
    ):
        return None
    config: JSON = {"tools": [_tool_spec(tool) for tool in request.tools]}
    # Converse has no "none": tools stay declared only because earlier turns
    # used them, which Converse requires.
    if choice.mode is ToolChoiceMode.REQUIRED:
        config["toolChoice"] = {"any": {}}
    elif choice.mode is ToolChoiceMode.FUNCTION:
        config["toolChoice"] = {"tool": {"name": choice.name}}
    elif request.tool_choice is not None and choice.mode is ToolChoiceMode.AUTO:
        config["toolChoice"] = {"auto": {}}
    return config


def _uses_tools(turns: Sequence[Mapping[str, Any]]) -> bool:
    return any(
        "toolUse" in block or "toolResult" in block
        for turn in turns
        for block in turn["content"]
    )


# --- response --------------------------------------------------------------


@contextlib.contextmanager
def malformed_response(provider: str) -> Iterator[None]:
    """Turn a body of the wrong shape into a retryable ProviderResponseError."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ProviderResponseError(
            f"{provider}: unexpected response shape ({type(exc).__name__}: {exc})",
            provider=provider,
        ) from exc


def chat_response(provider: str, data: Any, json_tool: str = "") -> ChatResponse:
    """The :class:`ChatResponse` in a Converse response body.

    Raises:
        ProviderResponseError: the body is not a Converse response.
    """
    with malformed_response(provider):
        blocks = data["output"]["message"]["content"]
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in blocks:
            if "text" in block:
                texts.append(str(block["text"]))
            elif "toolUse" in block:
                use = block["toolUse"]
                arguments = json.dumps(use.get("input", {}))
                if json_tool and use.get("name") == json_tool:
                    texts.append(arguments)
                else:
                    call = ToolCall(str(use["toolUseId"]), str(use["name"]), arguments)
                    calls.append(call)

        return ChatResponse(
            content="".join(texts),
            tool_calls=tuple(calls),
            finish_reason=finish_reason(
                data.get("stopReason"), json_mode=bool(json_tool)
            ),
            usage=read_usage(data.get("usage")),
        )


def finish_reason(stop_reason: str | None, *, json_mode: bool = False) -> FinishReason:
    """MegaRouter's finish reason for a Converse stop reason."""
    if stop_reason == "tool_use" and json_mode:
        return FinishReason.STOP
    return _STOP_REASONS.get(stop_reason or "", FinishReason.UNKNOWN)


def read_usage(usage: Any) -> Usage | None:
    """Token usage; cached prompt tokens count as input."""
    if not isinstance(usage, dict):
        return None
    input_tokens = (
        int(usage.get("inputTokens", 0))
        + int(usage.get("cacheReadInputTokens", 0))
        + int(usage.get("cacheWriteInputTokens", 0))
    )
    return Usage(
        input_tokens=input_tokens, output_tokens=int(usage.get("outputTokens", 0))
    )
