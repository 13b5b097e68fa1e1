"""The fake refuses what Ollama refuses, in its error format."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from megarouter_ollama.fake import FakeOllama

CHAT = {
    "model": "llama-fake:8b",
    "stream": False,
    "messages": [{"role": "user", "content": "Hi"}],
}


@pytest.mark.parametrize(
    ("body", "status", "complaint"),
    [
        ({**CHAT, "model": ""}, 400, "model is required"),
        ({**CHAT, "model": "llama9"}, 404, "try pulling it first"),
        (
            {
                **CHAT,
                "messages": [
                    {"role": "user", "content": "Hi", "images": ["not base64!"]}
                ],
            },
            400,
            "base64",
        ),
        (
            {
                **CHAT,
                "messages": [
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
                    }
                ],
            },
            400,
            "unmarshal",
        ),
        ({**CHAT, "options": {"max_tokens": 5}}, 400, "invalid options"),
    ],
)
async def test_fake_refuses_bad_shapes_with_an_error_body(
    fake: FakeOllama, body: dict[str, Any], status: int, complaint: str
) -> None:
    async with httpx.AsyncClient(base_url=fake.server.url) as client:
        response = await client.post("/api/chat", json=body)

    assert response.status_code == status
    assert complaint in response.json()["error"]


async def test_fake_streams_unless_told_not_to(fake: FakeOllama) -> None:
    body = {k: v for k, v in CHAT.items() if k != "stream"}
    async with httpx.AsyncClient(base_url=fake.server.url) as client:
        response = await client.post("/api/chat", json=body)

    lines = response.text.splitlines()
    assert response.headers["content-type"] == "application/x-ndjson"
    assert len(lines) == 9  # eight words and the done object
