"""Unary Cohere v2 chat calls against the fake, over loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from megarouter_cohere.adapter import CohereAdapter
from megarouter_cohere.fake import FakeCohere

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
    Usage,
)

WEATHER = Tool(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}},
)
CLOCK = Tool("get_time", "", {"type": "object"})


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest("command-fake", [Message.text(Role.USER, text)], **options)


async def test_complete_returns_text_and_billed_usage(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    answer = await adapter.complete(ask("Hi there"))

    assert answer.content == fake.reply_text
    assert answer.finish_reason is FinishReason.STOP
    assert answer.usage is not None
    assert answer.usage.output_tokens == 9
    assert answer.usage.input_tokens < 60  # billed units, not template tokens


async def test_complete_sends_bearer_key_and_sampling_options(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    await adapter.complete(
        ask("Hi", max_tokens=50, temperature=0.2, top_p=0.5, stop=["END"], seed=7)
    )

    assert fake.server.requests[-1].headers["authorization"] == f"Bearer {fake.api_key}"
    body = fake.last_body
    assert body["max_tokens"] == 50
    assert body["temperature"] == 0.2
    assert body["p"] == 0.5
    assert body["stop_sequences"] == ["END"]
    assert body["seed"] == 7
    assert "stream" not in body


async def test_complete_translates_system_images_and_tool_history(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    call = ToolCall("get_weather_a1", "get_weather", '{"city": "Paris"}')
    messages = [
        Message.text(Role.SYSTEM, "Be brief."),
        Message(
            Role.USER,
            (
                TextPart("Weather where this was taken?"),
                ImagePart(data_base64="iVBORw0KGgo=", media_type="image/png"),
            ),
        ),
        Message(Role.ASSISTANT, (TextPart("I will check Paris."),), (call,)),
        Message(Role.TOOL, (TextPart("18C"),), tool_call_id="get_weather_a1"),
    ]

    answer = await adapter.complete(ChatRequest("command-fake", messages))

    assert answer.content == fake.reply_text  # the fake accepted the shape
    sent = fake.last_body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }
    assert sent[2] == {
        "role": "assistant",
        "tool_plan": "I will check Paris.",
        "tool_calls": [
            {
                "id": "get_weather_a1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert sent[3] == {
        "role": "tool",
        "tool_call_id": "get_weather_a1",
        "content": "18C",
    }


async def test_complete_returns_tool_calls_with_the_plan_as_content(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    choice = ToolChoice(ToolChoiceMode.REQUIRED)

    answer = await adapter.complete(
        ask("Weather?", tools=[WEATHER], tool_choice=choice)
    )

    assert answer.finish_reason is FinishReason.TOOL_CALLS
    assert answer.tool_calls == (
        ToolCall("get_weather_fake01", "get_weather", '{"city": "Paris"}'),
    )
    assert answer.content == "I will call get_weather."
    assert fake.last_body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city.",
                "parameters": dict(WEATHER.parameters),
            },
        }
    ]
    assert fake.last_body["tool_choice"] == "REQUIRED"


async def test_tool_choice_of_one_function_sends_it_alone_and_required(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    choice = ToolChoice(ToolChoiceMode.FUNCTION, "get_time")

    answer = await adapter.complete(
        ask("Time?", tools=[WEATHER, CLOCK], tool_choice=choice)
    )

    assert [t["function"]["name"] for t in fake.last_body["tools"]] == ["get_time"]
    assert fake.last_body["tool_choice"] == "REQUIRED"
    assert answer.tool_calls[0].name == "get_time"


@pytest.mark.parametrize(
    ("mode", "sent"), [(ToolChoiceMode.NONE, "NONE"), (ToolChoiceMode.AUTO, None)]
)
async def test_tool_choice_none_and_auto_are_sent_as_cohere_expects(
    adapter: CohereAdapter, fake: FakeCohere, mode: ToolChoiceMode, sent: str | None
) -> None:
    await adapter.complete(ask("Hi", tools=[WEATHER], tool_choice=ToolChoice(mode)))

    assert fake.last_body.get("tool_choice") == sent


async def test_json_output_sends_json_object_with_its_schema(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    fmt = ResponseFormat(ResponseFormatType.JSON_SCHEMA, schema)

    answer = await adapter.complete(ask("6 times 7?", response_format=fmt))

    assert fake.last_body["response_format"] == {
        "type": "json_object",
        "json_schema": schema,
    }
    assert json.loads(answer.content) == {"answer": 42}


async def test_plain_json_object_output_sends_no_schema(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    fmt = ResponseFormat(ResponseFormatType.JSON_OBJECT)

    await adapter.complete(ask("JSON please", response_format=fmt))

    assert fake.last_body["response_format"] == {"type": "json_object"}


async def test_complete_reports_length_when_max_tokens_is_reached(
    adapter: CohereAdapter,
) -> None:
    answer = await adapter.complete(ask("Hi", max_tokens=3))

    assert answer.content == "Hello! I am "
    assert answer.finish_reason is FinishReason.LENGTH
    assert answer.usage is not None and answer.usage.output_tokens == 3


async def test_complete_reports_stop_when_a_stop_sequence_matches(
    adapter: CohereAdapter,
) -> None:
    answer = await adapter.complete(ask("Hi", stop=["fake"]))

    assert answer.content == "Hello! I am a "
    assert answer.finish_reason is FinishReason.STOP
    assert answer.usage != Usage()
