"""Learning from production: sampled prompts plus callers' scores refit the router.

A server samples every prompt; callers score one model's answers badly on
coding prompts and well on friendly chat; ``megarouter router fit
--from-store`` turns that into an artifact whose predictions for that model
moved the way the scores said.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from megarouter.cli.router import app
from megarouter.routing.bundle import load_bundle, load_default_bundle
from megarouter.routing.priors import ModelFacts
from megarouter.store.database import Database
from megarouter.store.prompt_sample_tables import PromptSampleRow
from megarouter.store.usage_tables import UsageRow
from megarouter.testing.server import running_server, server_settings
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as completion
from megarouter.v1 import completion_service_pb2_grpc as completion_grpc
from tests.admin.support import auth
from tests.completions.conftest import MODEL, Fakes

TRAIN_CSV = (
    Path(__file__).resolve().parents[3] / "shared/data/routing/routerbench_train.csv"
)
SCORED = f"fake-a/{MODEL}"

CODE = [
    f"Write a Python function that {verb} a list of {things} and returns it."
    for verb, things in itertools.product(
        ["sorts", "reverses", "deduplicates", "shuffles", "filters", "groups",
         "flattens", "compresses"],
        ["integers", "strings", "dates", "invoices", "tuples"],
    )
]  # fmt: skip
CHAT = [
    f"Tell me something cheerful about {animal} living in {place}."
    for animal, place in itertools.product(
        ["puppies", "kittens", "ducks", "hedgehogs", "rabbits", "ponies",
         "squirrels", "lambs"],
        ["the city", "a village", "the mountains", "a garden", "the forest"],
    )
]  # fmt: skip
HELD_OUT_CODE = "Write a Python function that merges a list of dictionaries."
HELD_OUT_CHAT = "Tell me something cheerful about otters living in a river."


def user(text: str) -> chat.ChatMessage:
    return chat.ChatMessage(
        role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text=text)]
    )


async def fit(*args: str) -> Result:
    """``megarouter router fit ...`` off the event loop (it runs its own)."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["fit", *args])


async def test_feedback_on_sampled_prompts_refits_the_router(
    fakes: Fakes, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in fakes.env.items():
        monkeypatch.setenv(name, value)
    fakes.reset()
    url = database_url  # SQLite, then PostgreSQL
    settings = server_settings(
        url, tmp_path, plugins="openai", outcome_prompt_sample_rate=1.0
    )

    async with running_server(settings, plugins={"fakes": fakes.plugin}) as server:
        nothing = await fit("--from-store", "--database-url", url, "-o", str(tmp_path))
        assert nothing.exit_code == 2
        assert "MEGAROUTER_OUTCOME_PROMPT_SAMPLE_RATE" in nothing.output

        async with server.channel() as channel:
            stub = completion_grpc.CompletionServiceStub(channel)
            metadata = auth(server.admin_key)
            for prompts, score in ((CODE, 0.0), (CHAT, 1.0)):
                for prompt in prompts:
                    answer = await stub.Complete(
                        completion.CompleteRequest(
                            model=SCORED, messages=[user(prompt)]
                        ),
                        metadata=metadata,
                    )
                    await stub.SubmitFeedback(
                        completion.SubmitFeedbackRequest(
                            request_id=answer.request_id, score=score
                        ),
                        metadata=metadata,
                    )
            # Streams are sampled too (this one is not scored).
            async for _ in stub.StreamComplete(
                completion.StreamCompleteRequest(
                    model=SCORED, messages=[user("A streamed question?")]
                ),
                metadata=metadata,
            ):
                pass
    # Stopping the server wrote every queued sample.

    database = Database(url)
    try:
        async with database.sessions() as session:
            samples = await session.scalar(
                select(func.count()).select_from(PromptSampleRow)
            )
            calls = await session.scalar(select(func.count()).select_from(UsageRow))
    finally:
        await database.dispose()
    assert samples == calls == len(CODE) + len(CHAT) + 1

    artifact = tmp_path / "artifact"
    fitted = await fit(
        "--from-store",
        "--database-url",
        url,
        "--base",
        str(TRAIN_CSV),
        "--sample",
        "500",
        "-o",
        str(artifact),
    )
    assert fitted.exit_code == 0, fitted.output
    assert f"learned {SCORED}: {len(CODE) + len(CHAT)} scored prompts" in fitted.output

    # The shipped artifact knows nothing of the model: it predicts from the
    # model's catalog facts, as the live router does.
    base = load_default_bundle().predictor
    spec = fakes.plugin.specs[0].models[0]
    assert spec.price is not None
    facts = ModelFacts(
        MODEL,
        spec.price.input_per_mtok,
        spec.price.output_per_mtok,
        spec.context_window,
    )
    bundle = load_bundle(artifact)
    learned = bundle.predictor
    assert SCORED in learned.models
    # The artifact says whose scores it learned, so servers running it leave
    # them out of the live feedback shift.
    assert bundle.learned_feedback is not None
    assert bundle.learned_feedback.models == {SCORED}
    assert bundle.learned_feedback.org is None
    base_code, base_chat = (
        base.predict(p, [facts])[0] for p in (HELD_OUT_CODE, HELD_OUT_CHAT)
    )
    new_code, new_chat = (
        learned.predict(p, [SCORED])[0] for p in (HELD_OUT_CODE, HELD_OUT_CHAT)
    )
    assert new_code < base_code
    assert new_chat > base_chat
    assert new_chat - new_code > 0.2

    too_few = await fit(
        "--from-store", "--database-url", url, "--min-rows", "1000", "-o", str(artifact)
    )
    assert too_few.exit_code == 2
    assert f"most: {SCORED} with {len(CODE) + len(CHAT)}" in too_few.output
