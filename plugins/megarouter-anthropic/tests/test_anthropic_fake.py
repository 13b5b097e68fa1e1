"""The fake refuses what the real Messages API refuses, in its error format."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from megarouter_anthropic.fake import FakeAnthropic

GOOD = {
    "model": "claude-fake-1",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "Hi"}],
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": [{"role": "system", "content": "Hi"}]}, "role"),
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, "first message"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "x"}],
                    }
                ]
            },
            "tool_use_id",
        ),
        ({"tool_choice": {"type": "tool", "name": "missing"}}, "not found"),
    ],
)
async def test_fake_refuses_bad_shapes_with_an_invalid_request_error(
    fake: FakeAnthropic, change: dict[str, Any], complaint: str
) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    headers = {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(base_url=fake.server.url) as client:
        response = await client.post("/v1/messages", json=body, headers=headers)

    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert complaint in error["error"]["message"]


async def test_fake_answers_a_good_request(fake: FakeAnthropic) -> None:
    headers = {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(base_url=fake.server.url) as client:
        response = await client.post("/v1/messages", json=GOOD, headers=headers)

    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == fake.reply_text
