"""The OpenAI adapter against the fake: chat, streaming, tools, embeddings."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from megarouter_openai.adapter import OpenAIAdapter
from megarouter_openai.fake import DEFAULT_REPLY, OpenAIFake

from megarouter.errors import ConfigurationError
from megarouter.providers.http import new_client
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
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
from megarouter.testing.fake_http import FakeResponse

WEATHER = Tool(
    name="get_weather",
    description="The weather in a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)


def ask(text: str, **fields: object) -> ChatRequest:
    request = ChatRequest(model="gpt-4o-mini", messages=[Message.text("user", text)])
    return replace(request, **fields)


async def collect(adapter: OpenAIAdapter, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in adapter.stream(request)]


def assemble_tool_calls(chunks: list[ChatChunk]) -> list[ToolCall]:
    """Tool calls put together from their streamed deltas, by index."""
    parts: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls:
            part = parts.setdefault(delta.index, {"id": "", "name": "", "args": ""})
            part["id"] = part["id"] or delta.id
            part["name"] = part["name"] or delta.name
            part["args"] += delta.arguments
    return [ToolCall(p["id"], p["name"], p["args"]) for _, p in sorted(parts.items())]


async def test_complete_returns_text_usage_and_model(adapter: OpenAIAdapter) -> None:
    response = await adapter.complete(ask("Say something"))

    assert response.content == DEFAULT_REPLY
    assert response.finish_reason is FinishReason.STOP
    assert response.usage == Usage(input_tokens=5, output_tokens=9)
    assert response.model == "gpt-4o-mini"


async def test_complete_sends_every_message_kind_in_openai_shape(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Oslo"}')
    messages = [
        Message.text("system", "Be brief."),
        Message(
            Role.USER,
            (
                TextPart("What is here?"),
                ImagePart(data_base64="aGk=", media_type="image/png"),
            ),
            name="ana",
        ),
        Message(Role.ASSISTANT, tool_calls=(call,)),
        Message(Role.TOOL, (TextPart('{"temp": 3}'),), tool_call_id="call_1"),
    ]
    await adapter.complete(ChatRequest(model="gpt-4o-mini", messages=messages))

    sent = fake.chat_bodies()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1] == {
        "role": "user",
        "name": "ana",
        "content": [
            {"type": "text", "text": "What is here?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
        ],
    }
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert sent[3] == {
        "role": "tool",
        "content": '{"temp": 3}',
        "tool_call_id": "call_1",
    }


async def test_complete_sends_sampling_parameters_and_user(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    request = ask(
        "Hi",
        max_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop=("END",),
        seed=7,
        user="user-42",
    )
    await adapter.complete(request)

    body = fake.chat_bodies()[-1]
    assert body["max_tokens"] == 50
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.2, 0.9, 7)
    assert body["stop"] == ["END"]
    assert body["user"] == "user-42"
    assert "stream" not in body


async def test_complete_names_the_limit_max_completion_tokens_when_spec_says_so(
    fake: OpenAIFake,
) -> None:
    spec = replace(
        fake.provider_spec(),
        options={
            "max_tokens_param": "max_completion_tokens",
            "organization": "org-7",
            "openai_project": "proj_9",
        },
    )
    async with new_client(spec) as client:
        adapter = OpenAIAdapter(spec, fake.credential(), client)
        response = await adapter.complete(ask("Hi", max_tokens=3))

    body = fake.chat_bodies()[-1]
    assert body["max_completion_tokens"] == 3
    assert "max_tokens" not in body
    headers = fake.server.requests[-1].headers
    assert (headers["openai-organization"], headers["openai-project"]) == (
        "org-7",
        "proj_9",
    )
    assert response.finish_reason is FinishReason.LENGTH
    assert response.content == "The quick brown "


async def test_complete_with_tools_returns_the_call_the_model_asks_for(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    response = await adapter.complete(ask("Weather in Oslo?", tools=[WEATHER]))

    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.content == ""
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert call.id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "example", "days": 1}
    sent_tool = fake.chat_bodies()[-1]["tools"][0]
    assert sent_tool == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": dict(WEATHER.parameters),
        },
    }


async def test_complete_sends_tool_choice_in_each_mode(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    other = Tool(name="get_time")
    for choice, expected in [
        (ToolChoice(ToolChoiceMode.NONE), "none"),
        (ToolChoice(ToolChoiceMode.REQUIRED), "required"),
        (
            ToolChoice(ToolChoiceMode.FUNCTION, "get_time"),
            {"type": "function", "function": {"name": "get_time"}},
        ),
    ]:
        response = await adapter.complete(
            ask("Hi", tools=[WEATHER, other], tool_choice=choice)
        )
        assert fake.chat_bodies()[-1]["tool_choice"] == expected
        if choice.mode is ToolChoiceMode.FUNCTION:
            assert response.tool_calls[0].name == "get_time"
        if choice.mode is ToolChoiceMode.NONE:
            assert response.tool_calls == ()


async def test_complete_sends_json_object_response_format(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    request = ask(
        "Answer in JSON", response_format=ResponseFormat(ResponseFormatType.JSON_OBJECT)
    )
    response = await adapter.complete(request)

    assert fake.chat_bodies()[-1]["response_format"] == {"type": "json_object"}
    assert json.loads(response.content) == {"answer": DEFAULT_REPLY}


async def test_complete_sends_json_schema_with_name_and_strict(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    response_format = ResponseFormat(
        ResponseFormatType.JSON_SCHEMA, schema=schema, name="count", strict=True
    )
    response = await adapter.complete(ask("Count", response_format=response_format))

    assert fake.chat_bodies()[-1]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "count", "schema": schema, "strict": True},
    }
    assert json.loads(response.content) == {"n": 1}


async def test_stream_yields_deltas_then_finish_with_usage(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    chunks = await collect(adapter, ask("Say something"))

    assert "".join(c.content for c in chunks) == DEFAULT_REPLY
    assert len([c for c in chunks if c.content]) == 9
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage == Usage(input_tokens=5, output_tokens=9)
    assert all(c.finish_reason is None for c in chunks[:-1])
    body = fake.chat_bodies()[-1]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_stream_assembles_tool_call_deltas_by_index(
    adapter: OpenAIAdapter,
) -> None:
    chunks = await collect(adapter, ask("Weather?", tools=[WEATHER]))

    [call] = assemble_tool_calls(chunks)
    assert call.name == "get_weather"
    assert call.id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "example", "days": 1}
    assert len([c for c in chunks if c.tool_calls]) > 2  # arguments came in pieces
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_embed_returns_one_vector_per_input_with_usage(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    request = EmbeddingRequest(
        model="text-embedding-3-small", inputs=["one two", "three"], dimensions=8
    )
    response = await adapter.embed(request)
    again = await adapter.embed(replace(request, inputs=["three"]))

    assert len(response.vectors) == 2
    assert all(len(v) == 8 for v in response.vectors)
    assert response.vectors[1] == again.vectors[0]
    assert response.vectors[0] != response.vectors[1]
    assert response.usage == Usage(input_tokens=3)
    assert response.model == "text-embedding-3-small"
    body = fake.server.requests[-1].json()
    assert body["input"] == ["three"]
    assert body["dimensions"] == 8


async def test_base_url_placeholders_and_api_version_come_from_options(
    fake: OpenAIFake,
) -> None:
    spec = replace(
        fake.provider_spec(),
        base_url=f"http://{{host}}:{fake.server.port}/v1",
        options={"host": "127.0.0.1", "api_version": "2024-05-01-preview"},
    )
    async with new_client(spec) as client:
        adapter = OpenAIAdapter(spec, fake.credential(), client)
        response = await adapter.complete(ask("Hi"))

    assert response.content == DEFAULT_REPLY
    assert fake.server.requests[-1].query == {"api-version": ["2024-05-01-preview"]}


async def test_unfilled_base_url_placeholder_is_a_configuration_error(
    fake: OpenAIFake,
) -> None:
    spec = replace(
        fake.provider_spec(),
        base_url="https://{resource}.services.ai.azure.com/models",
        options={"resource": ""},
    )
    async with new_client(spec) as client:
        adapter = OpenAIAdapter(spec, fake.credential(), client)
        with pytest.raises(ConfigurationError, match="resource"):
            await adapter.complete(ask("Hi"))

    assert fake.server.requests == []


def whole_completion(**message: object) -> dict[str, object]:
    """A ``chat.completion`` document, as a server sends for a unary call."""
    return {
        "id": "chatcmpl-whole",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }


async def test_stream_answered_with_one_json_completion_becomes_one_delta(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    # Some self-hosted servers ignore "stream": true.
    fake.respond_next(FakeResponse(200, body=whole_completion(content="All here.")))

    chunks = await collect(adapter, ask("Say something"))

    assert [c.content for c in chunks] == ["All here.", ""]
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage == Usage(input_tokens=4, output_tokens=2)
    assert fake.chat_bodies()[-1]["stream"] is True


async def test_stream_answered_with_one_json_tool_call_keeps_the_call(
    adapter: OpenAIAdapter, fake: OpenAIFake
) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    document = whole_completion(content=None, tool_calls=[call])
    fake.respond_next(FakeResponse(200, body=document))

    chunks = await collect(adapter, ask("Weather?", tools=[WEATHER]))

    [tool_call] = assemble_tool_calls(chunks)
    assert (tool_call.id, tool_call.name) == ("call_1", "get_weather")
    assert json.loads(tool_call.arguments) == {"city": "Oslo"}
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS
