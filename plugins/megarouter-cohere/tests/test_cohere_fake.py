"""The fake refuses what Cohere's v2 API refuses, in its error format."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from megarouter_cohere.fake import FakeCohere

CHAT = {"model": "command-fake", "messages": [{"role": "user", "content": "Hi"}]}
EMBED = {
    "model": "embed-fake",
    "texts": ["hi"],
    "input_type": "search_document",
    "embedding_types": ["float"],
}


@pytest.mark.parametrize(
    ("path", "body", "complaint"),
    [
        (
            "/v2/chat",
            {**CHAT, "messages": [{"role": "user", "content": ""}]},
            "must not be empty",
        ),
        (
            "/v2/chat",
            {
                **CHAT,
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "tool", "tool_call_id": "x", "content": "18C"},
                ],
            },
            "matching tool call",
        ),
        ("/v2/chat", {**CHAT, "p": 1.5}, "p must be between"),
        ("/v2/embed", {**EMBED, "input_type": None}, "input_type"),
        ("/v2/embed", {**EMBED, "embedding_types": ["int8"]}, "float"),
    ],
)
async def test_fake_refuses_bad_shapes_with_a_message_body(
    fake: FakeCohere, path: str, body: dict[str, Any], complaint: str
) -> None:
    headers = {"authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(base_url=fake.server.url) as client:
        response = await client.post(path, json=body, headers=headers)

    assert response.status_code == 400
    assert complaint in response.json()["message"]


async def test_fake_refuses_a_missing_key_with_401(fake: FakeCohere) -> None:
    async with httpx.AsyncClient(base_url=fake.server.url) as client:
        response = await client.post("/v2/chat", json=CHAT)

    assert response.status_code == 401
    assert response.json() == {"message": "invalid api token"}
