"""Unary Messages calls against the fake, over loopback."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from megarouter_anthropic.adapter import AnthropicAdapter
from megarouter_anthropic.fake import FakeAnthropic

from megarouter.errors import ProviderBadRequest
from megarouter.providers.http import new_client
from megarouter.providers.types import (
    ChatRequest,
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

WEATHER = Tool(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}},
)


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest("claude-fake-1", [Message.text(Role.USER, text)], **options)


async def test_complete_returns_text_usage_and_model(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    answer = await adapter.complete(ask("Hi there"))

    assert answer.content == fake.reply_text
    assert answer.finish_reason is FinishReason.STOP
    assert answer.model == "claude-fake-1"
    assert answer.usage is not None
    assert answer.usage.output_tokens == 8  # one per streamed word
    assert answer.usage.input_tokens > 0


async def test_complete_sends_key_version_and_model_max_tokens(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    await adapter.complete(ask("Hi"))

    sent = fake.server.requests[-1]
    assert sent.headers["x-api-key"] == fake.api_key
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert fake.last_body["max_tokens"] == 8192  # the spec model's limit


async def test_complete_uses_api_version_option_and_default_max_tokens(
    fake: FakeAnthropic,
) -> None:
    spec = dataclasses.replace(
        fake.provider_spec(), options={"anthropic_version": "2024-01-01"}, models=()
    )
    async with new_client(spec) as client:
        adapter = AnthropicAdapter(spec, fake.credential(), client)
        await adapter.complete(ask("Hi"))

    assert fake.server.requests[-1].headers["anthropic-version"] == "2024-01-01"
    assert fake.last_body["max_tokens"] == 4096


async def test_complete_translates_system_images_and_tool_history(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    call_a = ToolCall("toolu_a", "get_weather", '{"city": "Paris"}')
    call_b = ToolCall("toolu_b", "get_weather", '{"city": "Oslo"}')
    messages = [
        Message.text(Role.SYSTEM, "Be brief."),
        Message.text(Role.SYSTEM, "Answer in English."),
        Message(
            Role.USER,
            (
                TextPart("Weather where these were taken?"),
                ImagePart(data_base64="iVBORw0KGgo=", media_type="image/png"),
                ImagePart(url="https://example.com/oslo.jpg"),
                ImagePart(url="data:image/jpeg;base64,/9j/4AAQ"),
            ),
        ),
        Message(Role.ASSISTANT, (TextPart("Checking."),), (call_a, call_b)),
        Message(Role.TOOL, (TextPart("18C"),), tool_call_id="toolu_a"),
        Message(Role.TOOL, (TextPart("4C"),), tool_call_id="toolu_b"),
    ]

    answer = await adapter.complete(ChatRequest("claude-fake-1", messages))

    assert answer.content == fake.reply_text  # the fake accepted the shape
    body = fake.last_body
    assert body["system"] == "Be brief.\n\nAnswer in English."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    images = [b["source"] for b in body["messages"][0]["content"][1:]]
    assert images == [
        {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        {"type": "url", "url": "https://example.com/oslo.jpg"},
        {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
    ]
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_a",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "4C"},
    ]


async def test_complete_sends_sampling_options_and_user(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    await adapter.complete(
        ask("Hi", max_tokens=100, temperature=0.3, top_p=0.9, stop=["END"], user="u-42")
    )

    body = fake.last_body
    assert body["max_tokens"] == 100
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-42"}
    assert "stream" not in body


async def test_complete_reports_length_when_max_tokens_is_reached(
    adapter: AnthropicAdapter,
) -> None:
    answer = await adapter.complete(ask("Hi", max_tokens=2))

    assert answer.content == "Hello! I "
    assert answer.finish_reason is FinishReason.LENGTH


async def test_complete_reports_stop_when_a_stop_sequence_matches(
    adapter: AnthropicAdapter,
) -> None:
    answer = await adapter.complete(ask("Hi", stop=["fake"]))

    assert answer.content == "Hello! I am a "
    assert answer.finish_reason is FinishReason.STOP


async def test_complete_returns_tool_calls_when_tool_is_required(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    choice = ToolChoice(ToolChoiceMode.REQUIRED)
    answer = await adapter.complete(
        ask("Weather?", tools=[WEATHER], tool_choice=choice)
    )

    assert answer.finish_reason is FinishReason.TOOL_CALLS
    assert answer.tool_calls == (
        ToolCall("toolu_fake01", "get_weather", json.dumps({"city": "Paris"})),
    )
    assert fake.last_body["tools"] == [
        {
            "name": "get_weather",
            "input_schema": dict(WEATHER.parameters),
            "description": "Current weather in a city.",
        }
    ]
    assert fake.last_body["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (ToolChoice(ToolChoiceMode.AUTO), {"type": "auto"}),
        (ToolChoice(ToolChoiceMode.NONE), {"type": "none"}),
        (
            ToolChoice(ToolChoiceMode.FUNCTION, "get_weather"),
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
async def test_complete_sends_each_tool_choice_mode(
    adapter: AnthropicAdapter, fake: FakeAnthropic, choice: ToolChoice, sent: object
) -> None:
    await adapter.complete(ask("Weather?", tools=[WEATHER], tool_choice=choice))

    assert fake.last_body["tool_choice"] == sent


async def test_json_output_forces_a_tool_and_returns_its_input_as_text(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    fake.tool_arguments = {"answer": 42}
    fmt = ResponseFormat(ResponseFormatType.JSON_SCHEMA, schema, name="result")

    answer = await adapter.complete(ask("6 times 7?", response_format=fmt))

    assert json.loads(answer.content) == {"answer": 42}
    assert answer.tool_calls == ()
    assert answer.finish_reason is FinishReason.STOP
    assert fake.last_body["tools"][0]["name"] == "result"
    assert fake.last_body["tools"][0]["input_schema"] == schema
    assert fake.last_body["tool_choice"] == {"type": "tool", "name": "result"}


async def test_json_output_beside_caller_tools_lets_the_model_pick_any(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    fmt = ResponseFormat(ResponseFormatType.JSON_OBJECT)

    answer = await adapter.complete(
        ask("Weather?", tools=[WEATHER], response_format=fmt)
    )

    assert [t["name"] for t in fake.last_body["tools"]] == ["get_weather", "response"]
    assert fake.last_body["tools"][1]["input_schema"] == {"type": "object"}
    assert fake.last_body["tool_choice"] == {"type": "any"}
    assert answer.tool_calls[0].name == "get_weather"  # the fake picks the first


async def test_tool_call_with_arguments_that_are_not_json_is_a_bad_request(
    adapter: AnthropicAdapter, fake: FakeAnthropic
) -> None:
    broken = Message(Role.ASSISTANT, (), (ToolCall("toolu_x", "get_weather", "{oops"),))

    with pytest.raises(ProviderBadRequest, match="not JSON"):
        await adapter.complete(
            ChatRequest(
                "claude-fake-1",
                [
                    Message.text(Role.USER, "Hi"),
                    broken,
                ],
            )
        )
    assert fake.server.requests == []  # refused before anything was sent
