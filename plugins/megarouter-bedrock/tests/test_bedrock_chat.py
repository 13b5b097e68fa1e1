"""Unary Converse against the fake Bedrock: signing, request shape, answers."""

from __future__ import annotations

import dataclasses
import json

import pytest
from megarouter_bedrock.adapter import BedrockAdapter
from megarouter_bedrock.fake import FakeBedrock

from megarouter.errors import ProviderBadRequest
from megarouter.providers.http import new_client
from megarouter.providers.spec import AuthScheme, Credential
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
    name="get_weather",
    description="Current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def chat(fake: FakeBedrock, *messages: Message, **options: object) -> ChatRequest:
    return ChatRequest(model=fake.chat_model, messages=messages, **options)  # type: ignore[arg-type]


async def test_complete_returns_text_and_usage_for_signed_request(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    response = await adapter.complete(chat(fake, Message.text("user", "Say hello")))

    assert response.content == fake.reply_text
    assert response.finish_reason is FinishReason.STOP
    assert response.usage == Usage(input_tokens=2, output_tokens=9)
    request = fake.server.requests[-1]
    assert request.path == "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert request.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={fake.access_key}/"
    )
    assert "/us-east-1/bedrock/aws4_request" in request.headers["authorization"]


async def test_complete_sends_session_token_with_temporary_credentials(
    fake: FakeBedrock,
) -> None:
    fake.session_token = "FQoGZXIvYXdzEtemporary"
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, fake.credential(), client)
        response = await adapter.complete(chat(fake, Message.text("user", "Hi")))

    assert response.content == fake.reply_text
    request = fake.server.requests[-1]
    assert request.headers["x-amz-security-token"] == "FQoGZXIvYXdzEtemporary"


async def test_complete_takes_region_from_the_credential(fake: FakeBedrock) -> None:
    spec = dataclasses.replace(fake.provider_spec(), options={})
    credential = Credential(
        api_key=fake.access_key,
        extra={"secret_access_key": fake.secret_key, "region": "us-east-1"},
    )
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, credential, client)
        response = await adapter.complete(chat(fake, Message.text("user", "Hi")))

    assert response.content == fake.reply_text


async def test_complete_authenticates_with_bedrock_api_key(fake: FakeBedrock) -> None:
    fake.auth = AuthScheme.BEARER
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, fake.credential(), client)
        response = await adapter.complete(chat(fake, Message.text("user", "Hi")))

    assert response.content == fake.reply_text
    assert fake.server.requests[-1].headers["authorization"] == f"Bearer {fake.api_key}"


async def test_complete_sends_api_key_as_bearer_when_the_credential_says_so(
    fake: FakeBedrock,
) -> None:
    fake.auth = AuthScheme.BEARER
    spec = dataclasses.replace(fake.provider_spec(), auth=AuthScheme.SIGV4)
    credential = Credential(api_key=fake.api_key, extra={"auth": "bearer"})
    async with new_client(spec) as client:
        adapter = BedrockAdapter(spec, credential, client)
        response = await adapter.complete(chat(fake, Message.text("user", "Hi")))

    assert response.content == fake.reply_text


async def test_complete_sends_system_images_and_inference_config_in_converse_shape(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    picture = ImagePart(data_base64="aGVsbG8=", media_type="image/png")
    await adapter.complete(
        chat(
            fake,
            Message.text("system", "Be terse."),
            Message(Role.USER, (TextPart("What is this?"), picture)),
            Message.text("assistant", "A picture."),
            Message.text("user", "Sure?"),
            max_tokens=50,
            temperature=0.2,
            top_p=0.9,
            stop=("END",),
        )
    )

    body = json.loads(fake.server.requests[-1].body)
    assert body["system"] == [{"text": "Be terse."}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "png", "source": {"bytes": "aGVsbG8="}}},
    ]
    assert body["inferenceConfig"] == {
        "maxTokens": 50,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


async def test_complete_refuses_images_by_web_url(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    image = ImagePart(url="https://example.com/cat.png")

    with pytest.raises(ProviderBadRequest):
        await adapter.complete(chat(fake, Message(Role.USER, (TextPart("?"), image))))


async def test_complete_returns_tool_use_when_a_tool_is_required(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.tool_arguments = {"city": "Seattle"}

    response = await adapter.complete(
        chat(
            fake,
            Message.text("user", "Weather in Seattle?"),
            tools=(WEATHER,),
            tool_choice=ToolChoice(ToolChoiceMode.REQUIRED),
        )
    )

    assert response.finish_reason is FinishReason.TOOL_CALLS
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert call.id.startswith("tooluse_")
    assert json.loads(call.arguments) == {"city": "Seattle"}
    body = json.loads(fake.server.requests[-1].body)
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Current weather in a city.",
                    "inputSchema": {"json": dict(WEATHER.parameters)},
                }
            }
        ],
        "toolChoice": {"any": {}},
    }


async def test_complete_sends_tool_results_answering_earlier_tool_use(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    call = ToolCall("tooluse_abc", "get_weather", '{"city": "Seattle"}')
    response = await adapter.complete(
        chat(
            fake,
            Message.text("user", "Weather in Seattle?"),
            Message(Role.ASSISTANT, tool_calls=(call,)),
            Message(Role.TOOL, (TextPart("12 C, rain"),), tool_call_id="tooluse_abc"),
            tools=(WEATHER,),
            tool_choice=ToolChoice(ToolChoiceMode.FUNCTION, "get_weather"),
        )
    )

    assert response.content == ""  # the fake calls the forced tool again
    body = json.loads(fake.server.requests[-1].body)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {
                "toolUse": {
                    "toolUseId": "tooluse_abc",
                    "name": "get_weather",
                    "input": {"city": "Seattle"},
                }
            }
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "toolResult": {
                    "toolUseId": "tooluse_abc",
                    "content": [{"text": "12 C, rain"}],
                }
            }
        ],
    }
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}


async def test_complete_answers_text_after_tool_results_with_auto_choice(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    call = ToolCall("tooluse_abc", "get_weather", '{"city": "Seattle"}')
    response = await adapter.complete(
        chat(
            fake,
            Message.text("user", "Weather in Seattle?"),
            Message(Role.ASSISTANT, tool_calls=(call,)),
            Message(Role.TOOL, (TextPart("12 C, rain"),), tool_call_id="tooluse_abc"),
            tools=(WEATHER,),
        )
    )

    assert response.content == fake.reply_text
    assert response.finish_reason is FinishReason.STOP


async def test_complete_asks_for_json_through_a_forced_tool(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    response = await adapter.complete(
        chat(
            fake,
            Message.text("user", "Pick a city"),
            response_format=ResponseFormat(
                ResponseFormatType.JSON_SCHEMA, schema, name="city_pick"
            ),
        )
    )

    assert json.loads(response.content) == {"city": "example"}
    assert response.tool_calls == ()
    assert response.finish_reason is FinishReason.STOP
    config = json.loads(fake.server.requests[-1].body)["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "city_pick"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": schema}


async def test_complete_stops_at_max_tokens_with_length_finish(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    response = await adapter.complete(
        chat(fake, Message.text("user", "Talk"), max_tokens=2)
    )

    assert response.finish_reason is FinishReason.LENGTH
    assert response.content == "Hello from"
