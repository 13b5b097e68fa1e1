"""The conformance kit: tests every provider adapter must pass.

A plugin author subclasses :class:`AdapterConformance` in a test module and
supplies a ``fake_provider`` fixture that yields a running
:class:`~megarouter.testing.fakes.FakeProvider` for the family under test::

    from megarouter.testing.conformance import AdapterConformance

    class TestAcmeConformance(AdapterConformance):
        @pytest.fixture
        def fake_provider(self) -> Iterator[AcmeFake]:
            with AcmeFake() as fake:
                yield fake

Every test is an explicit ``pytest.mark.asyncio`` test, so the kit runs
with pytest-asyncio whatever the project's ``asyncio_mode``. The adapter is
driven over real loopback sockets, exactly as MegaRouter drives it.

The fake's ``reply_text`` should stream in at least four chunks, so that
the early-close test catches the stream in the middle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from megarouter.errors import (
    ContextTooLong,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderServerError,
)
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import new_client
from megarouter.providers.spec import Credential, ModelMode, ModelSpec, ProviderSpec
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    FinishReason,
    Message,
)
from megarouter.testing.fake_http import free_port
from megarouter.testing.fakes import FailureKind, FakeProvider

# What each failure must become: the error class and whether to fall back.
EXPECTED_ERRORS: dict[FailureKind, tuple[type[ProviderError], bool]] = {
    FailureKind.RATE_LIMITED: (ProviderRateLimited, True),
    FailureKind.SERVER_ERROR: (ProviderServerError, True),
    FailureKind.OVERLOADED: (ProviderOverloaded, True),
    FailureKind.AUTH: (ProviderAuthError, False),
    FailureKind.BAD_REQUEST: (ProviderBadRequest, False),
    FailureKind.CONTEXT_TOO_LONG: (ContextTooLong, False),
}

WRONG_KEY = "megarouter-conformance-wrong-key"
CLOSE_POLL_INTERVAL = 0.05  # seconds between checks that the fake saw a close
EARLY_CLOSE_PAUSE = 0.05  # seconds between chunks while the stream is cut


@contextlib.asynccontextmanager
async def open_adapter(
    fake: FakeProvider,
    *,
    spec: ProviderSpec | None = None,
    credential: Credential | None = None,
) -> AsyncIterator[ProviderAdapter]:
    """The fake's adapter on its own pooled client, closed on exit.

    Args:
        fake: the running fake provider.
        spec: the spec to use instead of ``fake.provider_spec()``.
        credential: the credential to use instead of ``fake.credential()``.
    """
    spec = spec or fake.provider_spec()
    if credential is None:
        credential = fake.credential()
    client = new_client(spec, read_timeout=30.0)
    try:
        yield fake.adapter_class(spec, credential, client)
    finally:
        await client.aclose()


def chat_request(fake: FakeProvider) -> ChatRequest:
    """A small chat request for the fake's chat model."""
    return ChatRequest(
        model=fake.chat_model,
        messages=[
            Message.text("system", "You are terse."),
            Message.text("user", "Say something."),
        ],
        max_tokens=64,
    )


def model_spec(spec: ProviderSpec, model_id: str) -> ModelSpec | None:
    """The spec's model with id ``model_id``, if it lists one."""
    return next((m for m in spec.models if m.id == model_id), None)


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    """Every chunk of a stream."""
    return [chunk async for chunk in stream]


class AdapterConformance:
    """The tests every adapter must pass, against its family's fake.

    Subclass it under a name pytest collects (``Test...``) and supply a
    ``fake_provider`` fixture yielding a running fake; a class-scoped
    fixture saves starting a server per test.

    Attributes:
        close_polls: how many times, 50 ms apart, the early-close test looks
            for the fake's disconnect before failing.
    """

    close_polls = 200

    def test_adapter_family_matches_spec(self, fake_provider: FakeProvider) -> None:
        spec = fake_provider.provider_spec()
        assert fake_provider.adapter_class.family, "the adapter sets no family"
        assert fake_provider.adapter_class.family == spec.family

    @pytest.mark.asyncio
    async def test_chat_model_answers_with_reply_text(
        self, fake_provider: FakeProvider
    ) -> None:
        async with open_adapter(fake_provider) as adapter:
            response = await adapter.complete(chat_request(fake_provider))

        assert response.content == fake_provider.reply_text
        assert response.finish_reason is FinishReason.STOP

    @pytest.mark.asyncio
    async def test_stream_yields_deltas_then_final_chunk_with_usage(
        self, fake_provider: FakeProvider
    ) -> None:
        self._require_streaming(fake_provider)

        async with open_adapter(fake_provider) as adapter:
            chunks = await collect(adapter.stream(chat_request(fake_provider)))

        assert chunks, "the stream yielded nothing"
        *deltas, final = chunks
        assert any(c.content for c in deltas), "no text delta before the final chunk"
        assert all(c.finish_reason is None for c in deltas)
        assert final.finish_reason is not None, "the last chunk has no finish_reason"
        assert final.usage is not None, "the last chunk carries no usage"
        assert final.usage.output_tokens > 0
        assert "".join(c.content for c in chunks) == fake_provider.reply_text

    @pytest.mark.asyncio
    async def test_embed_answers_only_when_the_spec_offers_embeddings(
        self, fake_provider: FakeProvider
    ) -> None:
        spec = fake_provider.provider_spec()
        model = model_spec(spec, fake_provider.embedding_model)
        offered = model is not None and (
            model.mode is ModelMode.EMBEDDING or model.capabilities.embeddings
        )
        request = EmbeddingRequest(
            model=fake_provider.embedding_model or fake_provider.chat_model,
            inputs=["first text", "second text"],
        )

        async with open_adapter(fake_provider) as adapter:
            if not offered:
                with pytest.raises(ProviderBadRequest):
                    await adapter.embed(request)
                return
            response = await adapter.embed(request)

        assert len(response.vectors) == 2
        assert len(response.vectors[0]) == len(response.vectors[1]) > 0
        assert all(isinstance(x, float) for x in response.vectors[0])

    @pytest.mark.asyncio
    @pytest.mark.parametrize("kind", list(FailureKind))
    async def test_failure_is_classified(
        self, fake_provider: FakeProvider, kind: FailureKind
    ) -> None:
        fake_provider.fail_next(kind)

        async with open_adapter(fake_provider) as adapter:
            with pytest.raises(ProviderError) as caught:
                await adapter.complete(chat_request(fake_provider))

        self._assert_classified(caught.value, kind, fake_provider)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("kind", list(FailureKind))
    async def test_stream_failure_is_classified(
        self, fake_provider: FakeProvider, kind: FailureKind
    ) -> None:
        self._require_streaming(fake_provider)
        fake_provider.fail_next(kind)

        async with open_adapter(fake_provider) as adapter:
            with pytest.raises(ProviderError) as caught:
                await collect(adapter.stream(chat_request(fake_provider)))

        self._assert_classified(caught.value, kind, fake_provider)

    @pytest.mark.asyncio
    async def test_rate_limit_surfaces_retry_after(
        self, fake_provider: FakeProvider
    ) -> None:
        fake_provider.fail_next(FailureKind.RATE_LIMITED, retry_after=7)

        async with open_adapter(fake_provider) as adapter:
            with pytest.raises(ProviderRateLimited) as caught:
                await adapter.complete(chat_request(fake_provider))

        assert caught.value.retry_after == pytest.approx(7)

    @pytest.mark.asyncio
    async def test_wrong_credential_is_auth_error(
        self, fake_provider: FakeProvider
    ) -> None:
        spec = fake_provider.provider_spec()
        if not spec.needs_credential:
            pytest.skip(f"provider {spec.name!r} takes no credential")
        real = fake_provider.credential()
        extra = {name: WRONG_KEY for name in (real.extra if real else {})}
        wrong = Credential(api_key=WRONG_KEY, extra=extra)

        async with open_adapter(fake_provider, credential=wrong) as adapter:
            with pytest.raises(ProviderAuthError) as caught:
                await adapter.complete(chat_request(fake_provider))

        assert caught.value.retryable is False

    @pytest.mark.asyncio
    async def test_connection_refused_is_retryable_connection_error(
        self, fake_provider: FakeProvider
    ) -> None:
        spec = fake_provider.provider_spec()
        dead_url = httpx.URL(spec.base_url).copy_with(
            host="127.0.0.1", port=free_port()
        )
        dead = dataclasses.replace(spec, base_url=str(dead_url))

        async with open_adapter(fake_provider, spec=dead) as adapter:
            with pytest.raises(ProviderConnectionError) as caught:
                await adapter.complete(chat_request(fake_provider))

        assert caught.value.retryable is True

    @pytest.mark.asyncio
    async def test_closing_stream_early_closes_upstream(
        self, fake_provider: FakeProvider
    ) -> None:
        self._require_streaming(fake_provider)
        pause = fake_provider.stream_pause
        fake_provider.stream_pause = EARLY_CLOSE_PAUSE
        before = fake_provider.server.disconnects

        try:
            async with open_adapter(fake_provider) as adapter:
                stream = adapter.stream(chat_request(fake_provider))
                await anext(stream)
                aclose = getattr(stream, "aclose", None)
                assert aclose is not None, "stream() must return an async generator"
                await aclose()
                for _ in range(self.close_polls):  # the fake notices on its next write
                    if fake_provider.server.disconnects > before:
                        break
                    await asyncio.sleep(CLOSE_POLL_INTERVAL)
        finally:
            fake_provider.stream_pause = pause

        assert fake_provider.server.disconnects > before, (
            "the upstream request stayed open after the stream was closed"
        )

    # --- shared checks ------------------------------------------------------

    @staticmethod
    def _require_streaming(fake: FakeProvider) -> None:
        """Skip a streaming test when the chat model does not stream."""
        model = model_spec(fake.provider_spec(), fake.chat_model)
        if model is not None and not model.capabilities.streaming:
            pytest.skip(f"model {fake.chat_model!r} does not advertise streaming")

    @staticmethod
    def _assert_classified(
        error: ProviderError, kind: FailureKind, fake: FakeProvider
    ) -> None:
        """``error`` is the class and retryability ``kind`` calls for."""
        expected, retryable = EXPECTED_ERRORS[kind]
        assert isinstance(error, expected), (
            f"{kind.value} became {type(error).__name__}, expected {expected.__name__}"
        )
        assert error.retryable is retryable
        assert error.provider == fake.provider_spec().name
