"""The conformance kit passes a sound adapter and rejects broken ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from megarouter.errors import ProviderError, ProviderServerError
from megarouter.providers.types import ChatChunk, ChatRequest, ChatResponse
from megarouter.testing.conformance import AdapterConformance
from megarouter.testing.fakes import FailureKind


class TestTinyChatConformance(AdapterConformance):
    """The whole kit, run against the tiny OpenAI-style adapter."""

    @pytest.fixture(scope="class")
    def fake_provider(self, shared_tinychat_fake: Any) -> Any:
        return shared_tinychat_fake


class QuickCloseKit(AdapterConformance):
    close_polls = 20  # a broken adapter is found out in about a second


async def kit_rejects(check: Awaitable[None]) -> None:
    """Fail unless the kit's check fails."""
    try:
        await check
    except (Exception, pytest.fail.Exception):
        return
    raise AssertionError("the kit passed a broken adapter")


async def test_kit_rejects_adapter_that_calls_every_failure_a_server_error(
    tinychat_fake: Any,
) -> None:
    class Misclassifying(tinychat_fake.adapter_class):  # type: ignore[name-defined,misc]
        async def complete(self, request: ChatRequest) -> ChatResponse:
            try:
                return await super().complete(request)
            except ProviderError as exc:
                raise ProviderServerError(str(exc), provider=self.spec.name) from exc

    tinychat_fake.adapter_class = Misclassifying

    await kit_rejects(
        AdapterConformance().test_failure_is_classified(tinychat_fake, FailureKind.AUTH)
    )
    await AdapterConformance().test_failure_is_classified(
        tinychat_fake, FailureKind.SERVER_ERROR
    )


async def test_kit_rejects_stream_without_final_chunk(tinychat_fake: Any) -> None:
    class NoFinalChunk(tinychat_fake.adapter_class):  # type: ignore[name-defined,misc]
        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
            async for chunk in super().stream(request):
                if chunk.finish_reason is None:
                    yield chunk

    tinychat_fake.adapter_class = NoFinalChunk

    await kit_rejects(
        AdapterConformance().test_stream_yields_deltas_then_final_chunk_with_usage(
            tinychat_fake
        )
    )


async def test_kit_rejects_stream_that_reads_to_the_end_before_yielding(
    tinychat_fake: Any,
) -> None:
    class Buffering(tinychat_fake.adapter_class):  # type: ignore[name-defined,misc]
        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
            chunks = [chunk async for chunk in super().stream(request)]
            for chunk in chunks:
                yield chunk

    tinychat_fake.adapter_class = Buffering

    await kit_rejects(
        QuickCloseKit().test_closing_stream_early_closes_upstream(tinychat_fake)
    )


async def test_kit_rejects_adapter_whose_family_differs_from_spec(
    tinychat_fake: Any,
) -> None:
    class OtherFamily(tinychat_fake.adapter_class):  # type: ignore[name-defined,misc]
        family = "not-tinychat"

    tinychat_fake.adapter_class = OtherFamily

    with pytest.raises(AssertionError):
        AdapterConformance().test_adapter_family_matches_spec(tinychat_fake)


async def test_kit_rejects_adapter_that_leaks_transport_errors(
    tinychat_fake: Any,
) -> None:
    class Leaky(tinychat_fake.adapter_class):  # type: ignore[name-defined,misc]
        async def complete(self, request: ChatRequest) -> ChatResponse:
            response = await self.client.post("/chat/completions")  # untranslated
            return ChatResponse(response.text)

    tinychat_fake.adapter_class = Leaky

    await kit_rejects(
        AdapterConformance().test_connection_refused_is_retryable_connection_error(
            tinychat_fake
        )
    )
