"""Unary Ollama chat calls against the fake, over loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from megarouter_ollama.adapter import OllamaAdapter
from megarouter_ollama.fake import FakeOllama

from megarouter.errors import ProviderBadRequest
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


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest("llama-fake:8b", [Message.text(Role.USER, text)], **options)


async def test_complete_returns_text_counts_and_model(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    answer = await adapter.complete(ask("Hi there"))

    assert answer.content == fake.reply_text
    assert answer.finish_reason is FinishReason.STOP
    assert answer.model == "llama-fake:8b"
    assert answer.usage is not None
    assert answer.usage.output_tokens == 8
    assert answer.usage.input_tokens > 0


async def test_complete_asks_for_no_stream_and_sends_no_auth_by_default(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    await adapter.complete(ask("Hi"))

    assert fake.last_body["stream"] is False  # Ollama streams unless told not to
    assert "authorization" not in fake.server.requests[-1].headers
    assert "options" not in fake.last_body


async def test_complete_sends_sampling_options(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    await adapter.complete(
        ask("Hi", max_tokens=50, temperature=0.2, top_p=0.5, stop=["END"], seed=7)
    )

    assert fake.last_body["options"] == {
        "temperature": 0.2,
        "top_p": 0.5,
        "seed": 7,
        "stop": ["END"],
        "num_predict": 50,
    }


async def test_complete_translates_images_and_tool_history(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    call = ToolCall("call_a", "get_weather", '{"city": "Paris"}')
    messages = [
        Message.text(Role.SYSTEM, "Be brief."),
        Message(
            Role.USER,
            (
                TextPart("Weather where these were taken?"),
                ImagePart(data_base64="iVBORw0KGgo=", media_type="image/png"),
                ImagePart(url="data:image/jpeg;base64,/9j/4AAQ"),
            ),
        ),
        Message(Role.ASSISTANT, (), (call,)),
        Message(Role.TOOL, (TextPart("18C"),), tool_call_id="call_a"),
    ]

    answer = await adapter.complete(ChatRequest("llama-fake:8b", messages))

    assert answer.content == fake.reply_text  # the fake accepted the shape
    sent = fake.last_body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["images"] == ["iVBORw0KGgo=", "/9j/4AAQ"]
    assert sent[2]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert sent[3] == {"role": "tool", "content": "18C", "tool_name": "get_weather"}


async def test_image_by_http_url_is_refused_before_sending(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    image = Message(Role.USER, (ImagePart(url="https://example.com/cat.png"),))

    with pytest.raises(ProviderBadRequest, match="base64"):
        await adapter.complete(ChatRequest("llama-fake:8b", [image]))

    assert fake.server.requests == []


async def test_complete_returns_tool_calls_with_arguments_as_json_text(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.call_tools = True

    answer = await adapter.complete(ask("Weather?", tools=[WEATHER]))

    assert answer.tool_calls == (
        ToolCall("call_0", "get_weather", json.dumps({"city": "Paris"})),
    )
    assert answer.finish_reason is FinishReason.TOOL_CALLS
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


async def test_tool_choice_none_leaves_the_tools_out(
    adapter: OllamaAdapter, fake: FakeOllama
) -> None:
    fake.call_tools = True
    choice = ToolChoice(ToolChoiceMode.NONE)

    answer = await adapter.complete(ask("Hi", tools=[WEATHER], tool_choice=choice))

    assert "tools" not in fake.last_body
    assert answer.tool_calls == ()


@pytest.mark.parametrize(
    ("fmt", "sent"),
    [
        (ResponseFormat(ResponseFormatType.JSON_OBJECT), "json"),
        (
            ResponseFormat(ResponseFormatType.JSON_SCHEMA, {"type": "object"}),
            {"type": "object"},
        ),
    ],
)
async def test_json_output_sends_format_json_or_the_schema(
    adapter: OllamaAdapter, fake: FakeOllama, fmt: ResponseFormat, sent: object
) -> None:
    answer = await adapter.complete(ask("6 times 7?", response_format=fmt))

    assert fake.last_body["format"] == sent
    assert json.loads(answer.content) == {"answer": 42}


async def test_complete_reports_length_when_num_predict_is_reached(
    adapter: OllamaAdapter,
) -> None:
    answer = await adapter.complete(ask("Hi", max_tokens=3))

    assert answer.content == "Hello! I am "
    assert answer.finish_reason is FinishReason.LENGTH
    assert answer.usage is not None and answer.usage != Usage()
