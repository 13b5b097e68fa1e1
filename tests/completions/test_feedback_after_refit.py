"""A server leaves out of its live feedback shift what its artifact learned.

The server runs an artifact whose record says it learned fake-a's scores
(of every org, through 2100), and samples every prompt, so every call
can be a training row. Scores for fake-a then leave its predicted
quality where it was, while scores for fake-b still move fake-b; once the
artifact is replaced by one without a record, fake-a's scores count again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from megarouter.routing.bundle import LearnedFeedback, load_default_bundle, save_bundle
from megarouter.testing.server import RunningServer, running_server, server_settings
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as completion
from megarouter.v1 import completion_service_pb2_grpc as completion_grpc
from megarouter.v1 import route_service_pb2 as api
from megarouter.v1 import route_service_pb2_grpc as api_grpc
from tests.admin.support import auth
from tests.completions.conftest import MODEL, Fakes

LEARNED, LIVE = f"fake-a/{MODEL}", f"fake-b/{MODEL}"
PROMPT = [
    chat.ChatMessage(
        role=chat.CHAT_ROLE_USER,
        content=[chat.ContentPart(text="Tell me something nice.")],
    )
]


async def predicted(server: RunningServer) -> dict[str, float]:
    async with server.channel() as channel:
        stub = api_grpc.RouteServiceStub(channel)
        response = await stub.Route(
            api.RouteRequest(model="auto", messages=PROMPT),
            metadata=auth(server.admin_key),
        )
    return {c.model: c.predicted_quality for c in response.candidates}


async def score_badly(server: RunningServer, model: str, times: int) -> None:
    async with server.channel() as channel:
        stub = completion_grpc.CompletionServiceStub(channel)
        metadata = auth(server.admin_key)
        for _ in range(times):
            answer = await stub.Complete(
                completion.CompleteRequest(model=model, messages=PROMPT),
                metadata=metadata,
            )
            await stub.SubmitFeedback(
                completion.SubmitFeedbackRequest(
                    request_id=answer.request_id, score=0.0
                ),
                metadata=metadata,
            )


async def test_scores_the_artifact_learned_do_not_shift_its_predictions(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in fakes.env.items():
        monkeypatch.setenv(name, value)
    fakes.reset()
    directory = tmp_path / "artifact"
    record = LearnedFeedback(
        through=datetime(2100, 1, 1, tzinfo=UTC), models=frozenset({LEARNED})
    )
    shipped = load_default_bundle()
    save_bundle(replace(shipped, learned_feedback=record), directory)
    settings = server_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path,
        plugins="openai",
        router_artifact=directory,
        outcome_prompt_sample_rate=1.0,  # a fit learns only sampled calls
    )

    async with running_server(settings, plugins={"fakes": fakes.plugin}) as server:
        before = await predicted(server)
        await score_badly(server, LEARNED, 5)
        await score_badly(server, LIVE, 5)
        samples = server.runtime.components.prompts.stats
        for _ in range(100):  # the sampler writes once a second
            if samples.written >= 10:
                break
            await asyncio.sleep(0.05)
        await server.runtime.components.feedback.refresh()
        after = await predicted(server)
        assert after[LEARNED] == pytest.approx(before[LEARNED])
        assert after[LIVE] < before[LIVE] - 0.05

        # The refit is replaced by an artifact that learned nothing: after
        # its reload and the next refresh, fake-a's scores count again.
        save_bundle(shipped, directory)
        parts = server.runtime.components
        assert parts.artifact is not None and parts.artifact.reload_if_changed()
        await parts.feedback.refresh()
        again = await predicted(server)
        assert again[LEARNED] < before[LEARNED] - 0.05
        assert again[LIVE] == pytest.approx(after[LIVE])
