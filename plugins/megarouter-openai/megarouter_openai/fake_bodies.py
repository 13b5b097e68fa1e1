"""OpenAI's documented response and error bodies, as the fake sends them.

Every builder returns a JSON-able document or SSE text in the exact shape of
the public API reference: ``chat.completion`` objects, the
``chat.completion.chunk`` sequence of a stream, embeddings ``list`` objects
and the ``{"error": {...}}`` envelope with its ``type``, ``param`` and
``code``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from megarouter.testing.fake_http import FakeResponse, sse

FINGERPRINT = "fp_fake0000"


def error_body(
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> FakeResponse:
    """An error status with OpenAI's error envelope."""
    body = error_body(message, type_, param=param, code=code)
    return FakeResponse(status, body, headers=dict(headers or {}))


def words(text: str) -> list[str]:
    """``text`` cut into word-sized pieces that join back into it."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def count_tokens(messages: list[Any]) -> int:
    """The fake's token count of a prompt: words plus three per message."""
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = " ".join(
                str(p.get("text", "")) for p in content if isinstance(p, dict)
            )
        total += 3 + len(words(content or ""))
    return total


def example_of(schema: Mapping[str, Any]) -> Any:
    """A deterministic value that satisfies a simple JSON Schema."""
    kind = schema.get("type")
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: example_of(sub) for name, sub in properties.items()}
    if kind == "array":
        return [example_of(schema.get("items") or {})]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the fake model says: text or one tool call, and the token counts."""

    pieces: tuple[str, ...]  # text, or the call's arguments, cut into tokens
    finish_reason: str
    prompt_tokens: int
    tool_name: str = ""
    tool_call_id: str = ""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def usage(self) -> dict[str, Any]:
        completion = len(self.pieces)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def completion_object(
    completion_id: str, created: int, model: str, answer: Answer
) -> dict[str, Any]:
    """A ``chat.completion`` object for ``answer``."""
    message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
    if answer.tool_name:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": answer.tool_call_id,
                "type": "function",
                "function": {"name": answer.tool_name, "arguments": answer.text},
            }
        ]
    else:
        message["content"] = answer.text
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": answer.usage,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def chunk_events(
    completion_id: str,
    created: int,
    model: str,
    answer: Answer,
    *,
    include_usage: bool,
) -> Iterator[str]:
    """The SSE events of a streamed answer, up to but not including [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        document: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            ],
        }
        if include_usage:
            document["usage"] = None
        return sse(document)

    if answer.tool_name:
        yield chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": answer.tool_call_id,
                        "type": "function",
                        "function": {"name": answer.tool_name, "arguments": ""},
                    }
                ],
                "refusal": None,
            }
        )
        for piece in answer.pieces:
            call = {"index": 0, "function": {"arguments": piece}}
            yield chunk({"tool_calls": [call]})
    else:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for piece in answer.pieces:
            yield chunk({"content": piece})
    yield chunk({}, answer.finish_reason)

    if include_usage:
        yield sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
                "choices": [],
                "usage": answer.usage,
            }
        )


DONE = sse("[DONE]")


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend(byte / 127.5 - 1.0 for byte in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings_object(model: str, inputs: list[str], dimensions: int) -> dict[str, Any]:
    """An embeddings ``list`` object, one item per input, in input order."""
    tokens = sum(len(words(text)) for text in inputs)
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": embedding_vector(text, dimensions),
            }
            for index, text in enumerate(inputs)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def split_arguments(arguments: str) -> tuple[str, ...]:
    """Tool-call arguments cut into small pieces, the way they stream."""
    return tuple(arguments[i : i + 8] for i in range(0, len(arguments), 8)) or ("",)


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
