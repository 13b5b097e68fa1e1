"""Fixtures: a fake Gemini API on loopback and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from megarouter_gemini.adapter import GeminiAdapter
from megarouter_gemini.fake import FakeGemini

from megarouter.providers.http import new_client


@pytest.fixture(scope="session")
def running_fake() -> Iterator[FakeGemini]:
    # One server for the session: stopping one takes half a second.
    with FakeGemini() as server:
        yield server


@pytest.fixture
def fake(running_fake: FakeGemini) -> FakeGemini:
    running_fake.reset()
    return running_fake


@pytest.fixture(scope="session")
async def client(running_fake: FakeGemini) -> AsyncIterator[httpx.AsyncClient]:
    # One pool for the session: building a client costs a TLS context.
    async with new_client(running_fake.provider_spec(), read_timeout=5.0) as pool:
        yield pool


@pytest.fixture
def adapter(fake: FakeGemini, client: httpx.AsyncClient) -> GeminiAdapter:
    return GeminiAdapter(fake.provider_spec(), fake.credential(), client)
