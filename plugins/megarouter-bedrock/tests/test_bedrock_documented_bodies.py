"""Response bodies as Amazon's Bedrock documentation shows them, parsed.

Each body is served over loopback by the fake, exactly as written here.
"""

from __future__ import annotations

import json

from megarouter_bedrock.adapter import EVENT_STREAM, BedrockAdapter
from megarouter_bedrock.fake import FakeBedrock, encode_event

from megarouter.providers.types import (
    ChatRequest,
    EmbeddingRequest,
    FinishReason,
    Message,
    Usage,
)
from megarouter.testing.fake_http import FakeResponse

# The user guide's Converse example: three pop songs by UK artists.
TEXT_RESPONSE = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {
                    "text": "Here is a list of 3 pop songs by artists from the "
                    'United Kingdom:\n\n1. "Wannabe" by Spice Girls\n2. "Bitter '
                    'Sweet Symphony" by The Verve\n3. "Don\'t Look Back in Anger" '
                    "by Oasis"
                }
            ],
        }
    },
    "stopReason": "end_turn",
    "usage": {"inputTokens": 125, "outputTokens": 60, "totalTokens": 185},
    "metrics": {"latencyMs": 1175},
}

# The tool-use guide's answer asking for the top song on radio station WZPZ.
TOOL_USE_RESPONSE = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {
                    "toolUse": {
                        "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                        "name": "top_song",
                        "input": {"sign": "WZPZ"},
                    }
                }
            ],
        }
    },
    "stopReason": "tool_use",
}

# A guardrail's intervention: its blocked-output message and stop reason.
GUARDRAIL_RESPONSE = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [{"text": "Sorry, the model cannot answer this question."}],
        }
    },
    "stopReason": "guardrail_intervened",
    "usage": {"inputTokens": 20, "outputTokens": 0, "totalTokens": 20},
    "metrics": {"latencyMs": 345},
}

# The Titan Text Embeddings V2 response body (vector shortened).
TITAN_RESPONSE = {
    "embedding": [0.0390625, -0.0227050781, 0.0791015625],
    "inputTextTokenCount": 6,
}


def chat(fake: FakeBedrock) -> ChatRequest:
    return ChatRequest(model=fake.chat_model, messages=[Message.text("user", "Hi")])


async def test_documented_text_response_parses(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, TEXT_RESPONSE))

    response = await adapter.complete(chat(fake))

    assert response.content.startswith("Here is a list of 3 pop songs")
    assert response.content.endswith("by Oasis")
    assert response.finish_reason is FinishReason.STOP
    assert response.usage == Usage(input_tokens=125, output_tokens=60)


async def test_documented_tool_use_response_parses_without_usage(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, TOOL_USE_RESPONSE))

    response = await adapter.complete(chat(fake))

    [call] = response.tool_calls
    assert call.id == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    assert call.name == "top_song"
    assert json.loads(call.arguments) == {"sign": "WZPZ"}
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.usage is None


async def test_guardrail_intervention_is_content_filter(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, GUARDRAIL_RESPONSE))

    response = await adapter.complete(chat(fake))

    assert response.finish_reason is FinishReason.CONTENT_FILTER
    assert response.content == "Sorry, the model cannot answer this question."


async def test_documented_titan_embedding_parses_with_token_count(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    fake.fail_next_with(FakeResponse(200, TITAN_RESPONSE))

    response = await adapter.embed(
        EmbeddingRequest(model=fake.embedding_model, inputs=["What are the benefits?"])
    )

    assert response.vectors == ((0.0390625, -0.0227050781, 0.0791015625),)
    assert response.usage == Usage(input_tokens=6)


async def test_documented_stream_event_sequence_parses(
    fake: FakeBedrock, adapter: BedrockAdapter
) -> None:
    # The ConverseStream reference's events, in order, as event-stream frames.
    frames = [
        encode_event("messageStart", {"role": "assistant"}),
        encode_event(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}
        ),
        encode_event(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " there"}}
        ),
        encode_event("contentBlockStop", {"contentBlockIndex": 0}),
        encode_event(
            "contentBlockStart",
            {
                "contentBlockIndex": 1,
                "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song"}},
            },
        ),
        encode_event(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"sign": "WZ'}}},
        ),
        encode_event(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 'PZ"}'}}},
        ),
        encode_event("contentBlockStop", {"contentBlockIndex": 1}),
        encode_event("messageStop", {"stopReason": "tool_use"}),
        encode_event(
            "metadata",
            {
                "usage": {"inputTokens": 375, "outputTokens": 49, "totalTokens": 424},
                "metrics": {"latencyMs": 2030},
            },
        ),
    ]
    # Deliver all frames in one write: the reader must split them itself.
    fake.fail_next_with(
        FakeResponse(200, chunks=[b"".join(frames)], content_type=EVENT_STREAM)
    )

    chunks = [chunk async for chunk in adapter.stream(chat(fake))]

    assert "".join(c.content for c in chunks) == "Hello there"
    deltas = [d for c in chunks for d in c.tool_calls]
    assert (deltas[0].index, deltas[0].id, deltas[0].name) == (
        0,
        "tooluse_1",
        "top_song",
    )
    assert json.loads("".join(d.arguments for d in deltas)) == {"sign": "WZPZ"}
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS
    assert chunks[-1].usage == Usage(input_tokens=375, output_tokens=49)
