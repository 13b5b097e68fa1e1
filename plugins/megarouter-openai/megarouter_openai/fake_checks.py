"""How the OpenAI fake reads a request and what it refuses, as OpenAI does.

Each check returns None for a good request, or the 400 (or 404) OpenAI
answers, with its documented error envelope and ``param``.
"""

from __future__ import annotations

from typing import Any

from megarouter.testing.fake_http import FakeRequest, FakeResponse
from megarouter_openai import fake_bodies as bodies

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def model_not_found(model: str) -> FakeResponse:
    return bodies.error_response(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def decode_body(request: FakeRequest) -> dict[str, Any] | FakeResponse:
    """The request's JSON object, or OpenAI's 400 for a body that is not one."""
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return bodies.error_response(
            400,
            "We could not parse the JSON body of your request. (HINT: This "
            "likely means you aren't using your HTTP library correctly. The "
            "OpenAI API expects a JSON payload, but what was sent was not "
            "valid JSON.)",
        )
    return body


def chat_problem(body: dict[str, Any]) -> FakeResponse | None:
    """OpenAI's 400 for the first thing wrong with a chat body, if any."""
    messages = body.get("messages")
    if messages is None:
        return bodies.error_response(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        return bodies.error_response(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum "
            "length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            return bodies.error_response(
                400,
                f"Invalid value: '{role}'. Supported values are: 'system', "
                "'assistant', 'user', 'tool', 'function', and 'developer'.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
        if role == "tool" and not message.get("tool_call_id"):
            return bodies.error_response(
                400,
                "Missing parameter 'tool_call_id': messages with role 'tool' "
                "must have a 'tool_call_id'.",
                param=f"messages.[{index}].tool_call_id",
            )
    for index, tool in enumerate(body.get("tools") or []):
        if not (tool.get("function") or {}).get("name"):
            return bodies.error_response(
                400,
                f"Missing required parameter: 'tools[{index}].function'.",
                param=f"tools[{index}].function",
                code="missing_required_parameter",
            )
    if body.get("stream_options") is not None and not body.get("stream"):
        return bodies.error_response(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema" and not (
        response_format.get("json_schema") or {}
    ).get("name"):
        return bodies.error_response(
            400,
            "Missing required parameter: 'response_format.json_schema.name'.",
            param="response_format.json_schema.name",
            code="missing_required_parameter",
        )
    return None
