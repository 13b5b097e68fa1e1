"""Response bodies as Google's Gemini API reference shows them, parsed.

Each body is served over loopback by the fake, exactly as written here.
"""

from __future__ import annotations

import json

from megarouter_gemini.adapter import GeminiAdapter
from megarouter_gemini.fake import FakeGemini

from megarouter.providers.types import ChatRequest, FinishReason, Message, Usage
from megarouter.testing.fake_http import FakeResponse

# The text-generation example of the generateContent reference.
TEXT_RESPONSE = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {
                        "text": "Once upon a time, in a small village nestled "
                        "at the foot of towering mountains, there lived a "
                        "curious little girl named Lily."
                    }
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [
                {
                    "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                    "probability": "NEGLIGIBLE",
                },
                {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
                {
                    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "NEGLIGIBLE",
                },
            ],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 8,
        "candidatesTokenCount": 398,
        "totalTokenCount": 406,
    },
    "modelVersion": "gemini-1.5-flash-001",
}

# The function-calling guide's answer to "Which theaters in Mountain View
# show Barbie movie?".
FUNCTION_CALL_RESPONSE = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {
                        "functionCall": {
                            "name": "find_theaters",
                            "args": {
                                "location": "Mountain View, CA",
                                "movie": "Barbie",
                            },
                        }
                    }
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 9,
        "candidatesTokenCount": 20,
        "totalTokenCount": 29,
    },
}

# A thinking model's answer: thoughts are billed as output, and a thought
# summary part is not part of the answer.
THINKING_RESPONSE = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "The user wants a number.", "thought": True},
                    {"text": "42"},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 11,
        "candidatesTokenCount": 1,
        "totalTokenCount": 112,
        "thoughtsTokenCount": 100,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mAitaLmkHPPlz7IPvtfUqQ4",
}


def chat(fake: FakeGemini) -> ChatRequest:
    return ChatRequest(model=fake.chat_model, messages=[Message.text("user", "Hi")])


async def test_documented_text_response_parses(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, TEXT_RESPONSE))

    response = await adapter.complete(chat(fake))

    assert response.content.startswith("Once upon a time, in a small village")
    assert response.finish_reason is FinishReason.STOP
    assert response.usage == Usage(input_tokens=8, output_tokens=398)
    assert response.model == "gemini-1.5-flash-001"


async def test_documented_function_call_response_parses(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, FUNCTION_CALL_RESPONSE))

    response = await adapter.complete(chat(fake))

    [call] = response.tool_calls
    assert call.name == "find_theaters"
    assert json.loads(call.arguments) == {
        "location": "Mountain View, CA",
        "movie": "Barbie",
    }
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.content == ""


async def test_thinking_response_counts_thoughts_as_output_and_hides_them(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, THINKING_RESPONSE))

    response = await adapter.complete(chat(fake))

    assert response.content == "42"
    assert response.usage == Usage(input_tokens=11, output_tokens=101)


async def test_documented_stream_parses_with_usage_from_last_event(
    fake: FakeGemini, adapter: GeminiAdapter
) -> None:
    # streamGenerateContent?alt=sse as the reference shows it: every event a
    # GenerateContentResponse, the last with the finish reason and usage.
    events = [
        {
            "candidates": [
                {"content": {"parts": [{"text": "The"}], "role": "model"}, "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 6, "totalTokenCount": 6},
            "modelVersion": "gemini-2.0-flash",
        },
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": " sky is blue."}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 6,
                "candidatesTokenCount": 5,
                "totalTokenCount": 11,
            },
            "modelVersion": "gemini-2.0-flash",
        },
    ]
    fake.fail_next_with(
        FakeResponse(200, chunks=[f"data: {json.dumps(e)}\r\n\r\n" for e in events])
    )

    chunks = [chunk async for chunk in adapter.stream(chat(fake))]

    assert "".join(c.content for c in chunks) == "The sky is blue."
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage == Usage(input_tokens=6, output_tokens=5)
