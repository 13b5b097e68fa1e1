"""Translation between MegaRouter's chat types and Gemini's JSON.

Gemini's request is a ``GenerateContentRequest``: ``contents`` (turns with
role ``user`` or ``model``, each a list of parts), an optional
``systemInstruction``, ``generationConfig``, ``tools`` and ``toolConfig``.
Its answer is a ``GenerateContentResponse``: ``candidates``,
``promptFeedback`` and ``usageMetadata``. The same response shape arrives,
piece by piece, in every event of a stream.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from megarouter.errors import ContentFiltered, ProviderBadRequest, ProviderResponseError
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

_FILTERED_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "LANGUAGE",
    }
)
_FINISH_REASONS = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
    "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
}
_TOOL_CHOICE_MODES = {
    ToolChoiceMode.AUTO: "AUTO",
    ToolChoiceMode.NONE: "NONE",
    ToolChoiceMode.REQUIRED: "ANY",
    ToolChoiceMode.FUNCTION: "ANY",
}


# --- request ---------------------------------------------------------------


def generate_content_body(
    provider: str,
    request: ChatRequest,
    *,
    json_schema: bool = True,
    signatures: Mapping[str, str] | None = None,
) -> JSON:
    """The ``GenerateContentRequest`` for ``request``.

    Args:
        provider: the provider's name, for error messages.
        request: the chat request.
        json_schema: send schemas as full JSON Schema
            (``parametersJsonSchema``, ``responseJsonSchema``) rather than
            Gemini's OpenAPI subset (``parameters``, ``responseSchema``).
        signatures: thought signatures of earlier function calls, by id.

    Returns:
        The JSON body.

    Raises:
        ProviderBadRequest: the request cannot be expressed for Gemini.
    """
    system, contents = _contents(provider, request.messages, signatures or {})
    body: JSON = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}

    config = _generation_config(request, json_schema)
    if config:
        body["generationConfig"] = config

    if request.tools:
        declarations = [_declaration(tool, json_schema) for tool in request.tools]
        body["tools"] = [{"functionDeclarations": declarations}]
        if request.tool_choice is not None:
            body["toolConfig"] = _tool_config(request.tool_choice)
    return body


def _contents(
    provider: str, messages: Sequence[Message], signatures: Mapping[str, str]
) -> tuple[list[str], list[JSON]]:
    """System texts and the ``contents`` turns, adjacent same-role turns merged."""
    system: list[str] = []
    contents: list[JSON] = []
    call_names: dict[str, str] = {}

    for message in messages:
        if message.role is Role.SYSTEM:
            system.append(message.text_content)
            continue
        if message.role is Role.TOOL:
            role, parts = "user", [_function_response(provider, message, call_names)]
        elif message.role is Role.ASSISTANT:
            role, parts = "model", _model_parts(provider, message, signatures)
            call_names.update({call.id: call.name for call in message.tool_calls})
        else:
            role, parts = "user", [_content_part(part) for part in message.content]
        parts = [part for part in parts if part != {"text": ""}]
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _content_part(part: TextPart | ImagePart) -> JSON:
    """The Gemini part for a text or image part."""
    if isinstance(part, TextPart):
        return {"text": part.text}
    if part.data_base64:
        return {"inlineData": {"mimeType": part.media_type, "data": part.data_base64}}
    if part.url.startswith("data:"):
        header, _, data = part.url.partition(",")
        mime_type = header.removeprefix("data:").split(";")[0]
        return {"inlineData": {"mimeType": mime_type, "data": data}}
    file_data: JSON = {"fileUri": part.url}
    guessed = part.media_type or mimetypes.guess_type(part.url)[0]
    if guessed:
        file_data["mimeType"] = guessed
    return {"fileData": file_data}


def _model_parts(
    provider: str, message: Message, signatures: Mapping[str, str]
) -> list[JSON]:
    """The parts of an assistant turn, function calls signed if known."""
    parts = [_content_part(part) for part in message.content]
    for call in message.tool_calls:
        part: JSON = {
            "functionCall": {"name": call.name, "args": _arguments(provider, call)}
        }
        if call.id in signatures:
            part["thoughtSignature"] = signatures[call.id]
        parts.append(part)
    return parts


def _arguments(provider: str, call: ToolCall) -> JSON:
    """A tool call's arguments as the JSON object Gemini wants."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise ProviderBadRequest(
            f"{provider}: tool call {call.id!r} has arguments that are not JSON",
            provider=provider,
        ) from exc
    if not isinstance(arguments, dict):
        raise ProviderBadRequest(
            f"{provider}: tool call {call.id!r} arguments must be a JSON object",
            provider=provider,
        )
    return arguments


def _function_response(
    provider: str, message: Message, call_names: Mapping[str, str]
) -> JSON:
    """The functionResponse part answering an earlier call."""
    name = call_names.get(message.tool_call_id) or message.name
    if not name:
        raise ProviderBadRequest(
            f"{provider}: tool result {message.tool_call_id!r} answers no earlier "
            "tool call, and Gemini needs the function's name",
            provider=provider,
        )
    text = message.text_content
    try:
        result = json.loads(text)
    except ValueError:
        result = None
    # Gemini wants an object; by its convention a plain result goes in "output".
    response = result if isinstance(result, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response}}


def _generation_config(request: ChatRequest, json_schema: bool) -> JSON:
    """The generationConfig for the request's sampling and format."""
    config: JSON = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed

    response_format = request.response_format
    if response_format and response_format.type is not ResponseFormatType.TEXT:
        config["responseMimeType"] = "application/json"
        if response_format.schema is not None:
            field = "responseJsonSchema" if json_schema else "responseSchema"
            config[field] = dict(response_format.schema)
    return config


def _declaration(tool: Tool, json_schema: bool) -> JSON:
    declaration: JSON = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    if tool.parameters:
        field = "parametersJsonSchema" if json_schema else "parameters"
        declaration[field] = dict(tool.parameters)
    return declaration


def _tool_config(choice: ToolChoice) -> JSON:
    config: JSON = {"mode": _TOOL_CHOICE_MODES[choice.mode]}
    if choice.mode is ToolChoiceMode.FUNCTION:
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


# --- response --------------------------------------------------------------


class ThoughtSignatures(OrderedDict[str, str]):
    """The thought signature of each recent function call, by call id.

    Thinking models sign their function calls, and want each signature back
    on the call when the conversation returns to them. MegaRouter's types
    have no place for it, so the adapter remembers the latest ones.
    """

    def __init__(self, capacity: int = 4096) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, call_id: str, signature: str) -> None:
        super().__setitem__(call_id, signature)
        self.move_to_end(call_id)
        while len(self) > self.capacity:
            self.popitem(last=False)


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


def chat_response(
    provider: str, data: Any, signatures: MutableMapping[str, str]
) -> ChatResponse:
    """The :class:`ChatResponse` in a ``GenerateContentResponse``.

    Args:
        provider: the provider's name, for errors.
        data: the decoded body.
        signatures: where to remember the function calls' thought signatures.

    Raises:
        ContentFiltered: Gemini blocked the prompt itself.
        ProviderResponseError: the body is not a response Gemini documents.
    """
    with malformed_response(provider):
        candidate = first_candidate(provider, data)
        if candidate is None:
            raise ProviderResponseError(
                f"{provider}: response has no candidates", provider=provider
            )
        text, calls = read_parts(candidate, signatures)
        return ChatResponse(
            content=text,
            tool_calls=tuple(calls),
            finish_reason=finish_reason(candidate.get("finishReason"), bool(calls)),
            usage=read_usage(data.get("usageMetadata")),
            model=str(data.get("modelVersion", "")),
        )


def first_candidate(provider: str, data: Any) -> JSON | None:
    """The first candidate, after checking the prompt was not blocked."""
    if not isinstance(data, dict):
        raise ProviderResponseError(
            f"{provider}: response is not a JSON object", provider=provider
        )
    block_reason = (data.get("promptFeedback") or {}).get("blockReason")
    if block_reason:
        raise ContentFiltered(
            f"{provider}: prompt blocked ({block_reason})",
            provider=provider,
            details={"block_reason": str(block_reason)},
        )
    candidates = data.get("candidates") or []
    if not isinstance(candidates, list) or not candidates:
        return None
    candidate = candidates[0]
    return candidate if isinstance(candidate, dict) else None


def read_parts(
    candidate: Mapping[str, Any], signatures: MutableMapping[str, str]
) -> tuple[str, list[ToolCall]]:
    """The answer text and tool calls in a candidate's parts (thoughts skipped)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "functionCall" in part:
            function_call = part["functionCall"]
            call = ToolCall(
                id=str(function_call.get("id") or new_call_id()),
                name=str(function_call["name"]),
                arguments=json.dumps(function_call.get("args") or {}),
            )
            if part.get("thoughtSignature"):
                signatures[call.id] = str(part["thoughtSignature"])
            calls.append(call)
        elif "text" in part and not part.get("thought"):
            texts.append(str(part["text"]))
    return "".join(texts), calls


def new_call_id() -> str:
    """An id for a function call; Gemini's own calls usually carry none."""
    return f"call_{uuid.uuid4().hex[:24]}"


def finish_reason(reason: str | None, has_calls: bool) -> FinishReason:
    """MegaRouter's finish reason for a Gemini finish reason."""
    if reason is None:
        return FinishReason.UNKNOWN
    if reason in _FILTERED_REASONS:
        return FinishReason.CONTENT_FILTER
    if reason == "STOP" and has_calls:
        return FinishReason.TOOL_CALLS
    return _FINISH_REASONS.get(reason, FinishReason.UNKNOWN)


def read_usage(metadata: Any) -> Usage | None:
    """Token usage from ``usageMetadata``; thinking counts as output."""
    if not isinstance(metadata, dict) or "promptTokenCount" not in metadata:
        return None
    input_tokens = int(metadata.get("promptTokenCount", 0)) + int(
        metadata.get("toolUsePromptTokenCount", 0)
    )
    output_tokens = int(metadata.get("candidatesTokenCount", 0)) + int(
        metadata.get("thoughtsTokenCount", 0)
    )
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens)
