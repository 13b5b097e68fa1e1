"""Unary chat against the fake Gemini API: request shape and parsed answers."""

from __future__ import annotations

import dataclasses
import json

import pytest
from megarouter_gemini.adapter import GeminiAdapter
from megarouter_gemini.fake import FakeGemini

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
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
        "additionalProperties": False,
    },
)


def chat(fake: FakeGemini, *messages: Message, **options: object) -> ChatRequest:
    return ChatRequest(model=fake.chat_model, messages=messages, **options)  # type: ignore[arg-type]


async def test_complete_returns_text_and_usage_for_plain_prompt(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    response = await adapter.complete(
        chat(fake, Message.text("user", "Say hello in five words"))
    )

    assert response.content == fake.reply_text
    assert response.finish_reason is FinishReason.STOP
    assert response.usage == Usage(input_tokens=5, output_tokens=9)
    assert response.model == fake.chat_model
    request = fake.server.requests[-1]
    assert request.path == f"/v1beta/models/{fake.chat_model}:generateContent"
    assert request.headers["x-goog-api-key"] == fake.api_key


async def test_complete_sends_system_roles_images_and_config_in_gemini_shape(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    picture = ImagePart(data_base64="aGVsbG8=", media_type="image/png")
    remote = ImagePart(url="https://example.com/cat.jpg")
    await adapter.complete(
        chat(
            fake,
            Message.text("system", "Be terse."),
            Message(Role.USER, (TextPart("What is this?"), picture, remote)),
            Message.text("assistant", "A cat."),
            Message.text("user", "Sure?"),
            max_tokens=50,
            temperature=0.2,
            top_p=0.9,
            stop=("END",),
            seed=7,
        )
    )

    body = fake.server.requests[-1].json()
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "aGVsbG8="}},
        {
            "fileData": {
                "fileUri": "https://example.com/cat.jpg",
                "mimeType": "image/jpeg",
            }
        },
    ]
    assert body["generationConfig"] == {
        "maxOutputTokens": 50,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
        "seed": 7,
    }


async def test_complete_returns_function_call_when_tools_are_offered(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    response = await adapter.complete(
        chat(
            fake,
            Message.text("user", "Weather in Paris?"),
            tools=(WEATHER,),
            tool_choice=ToolChoice(ToolChoiceMode.FUNCTION, "get_weather"),
        )
    )

    assert response.finish_reason is FinishReason.TOOL_CALLS
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"location": "Paris"}
    assert call.id
    body = fake.server.requests[-1].json()
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather in a city.",
                    "parametersJsonSchema": dict(WEATHER.parameters),
                }
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {
            "mode": "ANY",
            "allowedFunctionNames": ["get_weather"],
        }
    }


async def test_complete_answers_tool_results_as_function_responses_by_name(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    call = ToolCall("call_1", "get_weather", '{"location": "Paris"}')
    response = await adapter.complete(
        chat(
            fake,
            Message.text("user", "Weather in Paris?"),
            Message(Role.ASSISTANT, tool_calls=(call,)),
            Message(Role.TOOL, (TextPart('{"temp_c": 21}'),), tool_call_id="call_1"),
            Message(Role.TOOL, (TextPart("sunny"),), tool_call_id="call_1"),
            tools=(WEATHER,),
        )
    )

    assert response.content == fake.reply_text
    contents = fake.server.requests[-1].json()["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
            {
                "functionResponse": {
                    "name": "get_weather",
                    "response": {"output": "sunny"},
                }
            },
        ],
    }


async def test_complete_requests_json_with_schema_when_asked(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    response = await adapter.complete(
        chat(
            fake,
            Message.text("user", "Pick a city"),
            response_format=ResponseFormat(ResponseFormatType.JSON_SCHEMA, schema),
        )
    )

    assert json.loads(response.content) == {"city": "example"}
    config = fake.server.requests[-1].json()["generationConfig"]
    assert config == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


async def test_complete_uses_openapi_fields_when_spec_asks_for_them(
    fake: FakeGemini,
) -> None:
    spec = fake.provider_spec()
    spec = dataclasses.replace(spec, options={"schema_dialect": "openapi"})
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, fake.credential(), client)
        await adapter.complete(
            chat(
                fake,
                Message.text("user", "JSON please"),
                tools=(WEATHER,),
                tool_choice=ToolChoice(ToolChoiceMode.NONE),
                response_format=ResponseFormat(
                    ResponseFormatType.JSON_SCHEMA, {"type": "object"}
                ),
            )
        )

    body = fake.server.requests[-1].json()
    assert "parameters" in body["tools"][0]["functionDeclarations"][0]
    assert body["generationConfig"]["responseSchema"] == {"type": "object"}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


async def test_complete_reaches_vertex_with_bearer_token_under_project_path() -> None:
    prefix = "/v1/projects/{project}/locations/{location}/publishers/google"
    with FakeGemini(
        auth=AuthScheme.BEARER,
        path_prefix="/v1/projects/acme/locations/europe-west4/publishers/google",
        api_key="ya29.token",
    ) as fake:
        spec = dataclasses.replace(
            fake.provider_spec(),
            options={"path_prefix": prefix, "location": "europe-west4"},
        )
        credential = Credential(api_key="ya29.token", extra={"project": "acme"})
        async with new_client(spec) as client:
            adapter = GeminiAdapter(spec, credential, client)
            response = await adapter.complete(chat(fake, Message.text("user", "Hi")))

    assert response.content == fake.reply_text
    request = fake.server.requests[-1]
    assert request.headers["authorization"] == "Bearer ya29.token"
    assert request.path.startswith("/v1/projects/acme/locations/europe-west4/")


async def test_complete_returns_thought_signature_with_the_function_call(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.require_thought_signatures = True
    question = Message.text("user", "Weather in Paris?")
    first = await adapter.complete(chat(fake, question, tools=(WEATHER,)))
    [call] = first.tool_calls

    second = await adapter.complete(
        chat(
            fake,
            question,
            Message(Role.ASSISTANT, tool_calls=(call,)),
            Message(Role.TOOL, (TextPart("sunny"),), tool_call_id=call.id),
            tools=(WEATHER,),
        )
    )

    assert second.content == fake.reply_text
    sent = fake.server.requests[-1].json()["contents"][1]["parts"][0]
    assert sent["thoughtSignature"]


async def test_complete_with_a_call_the_model_never_signed_is_refused(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.require_thought_signatures = True
    call = ToolCall("call_from_elsewhere", "get_weather", '{"location": "Oslo"}')

    with pytest.raises(ProviderBadRequest) as caught:
        await adapter.complete(
            chat(
                fake,
                Message.text("user", "Weather in Oslo?"),
                Message(Role.ASSISTANT, tool_calls=(call,)),
                Message(Role.TOOL, (TextPart("snow"),), tool_call_id=call.id),
                tools=(WEATHER,),
            )
        )

    assert "thought_signature" in caught.value.message


async def test_complete_sends_key_as_query_parameter_when_spec_says_so(
    fake: FakeGemini,
) -> None:
    spec = dataclasses.replace(
        fake.provider_spec(), auth=AuthScheme.QUERY, auth_header=""
    )
    async with new_client(spec) as client:
        adapter = GeminiAdapter(spec, fake.credential(), client)
        response = await adapter.complete(chat(fake, Message.text("user", "Hi")))

    assert response.content == fake.reply_text
    request = fake.server.requests[-1]
    assert request.query["key"] == [fake.api_key]
    assert "x-goog-api-key" not in request.headers


async def test_tool_result_for_an_unknown_call_is_refused_before_sending(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    before = len(fake.server.requests)

    with pytest.raises(ProviderBadRequest):
        await adapter.complete(
            chat(
                fake,
                Message.text("user", "Hi"),
                Message(Role.TOOL, (TextPart("42"),), tool_call_id="nobody"),
            )
        )

    assert len(fake.server.requests) == before
