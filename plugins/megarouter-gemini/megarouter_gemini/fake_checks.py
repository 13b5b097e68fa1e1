"""What the fake Gemini API checks before answering, as Google's API does.

Each check raises :class:`GeminiRefusal` carrying the error answer the real
API gives: Google's status code and ``{"error": {...}}`` body.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from megarouter.testing.fake_http import FakeRequest, FakeResponse

JSON = dict[str, Any]

_PART_KINDS = frozenset(
    {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
)
_PART_EXTRAS = frozenset({"thought", "thoughtSignature"})
_REQUEST_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "generationConfig",
        "tools",
        "toolConfig",
        "safetySettings",
        "cachedContent",
    }
)
_CONFIG_FIELDS = frozenset(
    {
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "stopSequences",
        "seed",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "candidateCount",
        "presencePenalty",
        "frequencyPenalty",
        "thinkingConfig",
    }
)
_CALLING_MODES = frozenset({"AUTO", "ANY", "NONE", "VALIDATED"})


class GeminiRefusal(Exception):
    """A request the real API would refuse; carries Google's error answer."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def google_error(
    code: int, status: str, message: str, details: list[JSON] | None = None
) -> FakeResponse:
    """A Google API error response, as every Google JSON API sends them."""
    error: JSON = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return FakeResponse(code, {"error": error})


def bad_request(message: str) -> GeminiRefusal:
    return GeminiRefusal(google_error(400, "INVALID_ARGUMENT", message))


# --- shape checks ----------------------------------------------------------


def json_body(request: FakeRequest) -> JSON:
    try:
        body = request.json()
    except ValueError as exc:
        raise bad_request(f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(body, dict):
        raise bad_request("Invalid JSON payload received. Expected an object.")
    return body


def validated_request(request: FakeRequest) -> JSON:
    """The request body, after the checks the real API makes."""
    body = json_body(request)
    for name in body:
        if name not in _REQUEST_FIELDS:
            raise bad_request(
                f'Invalid JSON payload received. Unknown name "{name}": '
                "Cannot find field."
            )
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise bad_request(
            "* GenerateContentRequest.contents: contents is not specified"
        )
    for index, content in enumerate(contents):
        if content.get("role") not in ("user", "model"):
            raise bad_request(
                f"Please use a valid role: user, model. (contents[{index}])"
            )
        _check_parts(content.get("parts"), f"contents[{index}]")
    if "systemInstruction" in body:
        _check_parts(body["systemInstruction"].get("parts"), "system_instruction")
    _check_config(body.get("generationConfig", {}))
    _check_tools(body)
    return body


def _check_parts(parts: Any, where: str) -> None:
    """Check the parts of one content: one kind of data each."""
    if not isinstance(parts, list) or not parts:
        raise bad_request(f"* GenerateContentRequest.{where}.parts: must not be empty")
    for part in parts:
        kinds = _PART_KINDS & set(part)
        if len(kinds) != 1 or set(part) - kinds - _PART_EXTRAS:
            raise bad_request(
                f"* GenerateContentRequest.{where}.parts: a part must hold exactly "
                "one kind of data"
            )
        if "inlineData" in part:
            inline = part["inlineData"]
            if not inline.get("mimeType"):
                raise bad_request(f"* {where}.inline_data.mime_type: required")
            try:
                base64.b64decode(inline.get("data", ""), validate=True)
            except binascii.Error as exc:
                raise bad_request(
                    f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), "
                    "Base64 decoding failed"
                ) from exc
        if "fileData" in part and not part["fileData"].get("fileUri"):
            raise bad_request(f"* {where}.file_data.file_uri: required")
        if "functionCall" in part and not isinstance(
            part["functionCall"].get("args", {}), dict
        ):
            raise bad_request(f"* {where}.function_call.args: must be an object")
        if "functionResponse" in part:
            response = part["functionResponse"]
            if not response.get("name") or not isinstance(
                response.get("response"), dict
            ):
                raise bad_request(
                    f"* {where}.function_response: name and response are required"
                )


def _check_config(config: Mapping[str, Any]) -> None:
    """Check generationConfig's field names and JSON settings."""
    for name in config:
        if name not in _CONFIG_FIELDS:
            raise bad_request(
                f'Invalid JSON payload received. Unknown name "{name}" at '
                "'generation_config': Cannot find field."
            )
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if schema is not None and config.get("responseMimeType") != "application/json":
        raise bad_request(
            "* GenerateContentRequest.generation_config.response_mime_type: "
            "must be application/json when a response schema is set"
        )


def _check_tools(body: Mapping[str, Any]) -> None:
    """Check function declarations and the calling mode."""
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            if not declaration.get("name"):
                raise bad_request("* function_declarations.name: required")
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise bad_request(
                    "* function_declarations: parameters and parameters_json_schema "
                    "are mutually exclusive"
                )
    config = body.get("toolConfig", {}).get("functionCallingConfig", {})
    if config and config.get("mode") not in _CALLING_MODES:
        raise bad_request(
            f"Invalid value at 'tool_config.function_calling_config.mode': "
            f"{config.get('mode')}"
        )


def token_limit(tokens: int, limit: int) -> GeminiRefusal:
    return bad_request(
        f"The input token count ({tokens}) exceeds the maximum number of tokens "
        f"allowed ({limit})."
    )


def example_for(schema: Mapping[str, Any]) -> Any:
    """A value that satisfies a simple JSON Schema (objects, arrays, scalars)."""
    kind = str(schema.get("type", "object")).lower()
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example_for(sub) for name, sub in properties.items()}
    if kind == "array":
        return [example_for(schema.get("items", {"type": "string"}))]
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True}.get(kind)
