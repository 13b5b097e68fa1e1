"""Fixtures: a fake Bedrock runtime on loopback and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from megarouter_bedrock.adapter import BedrockAdapter
from megarouter_bedrock.fake import FakeBedrock

from megarouter.providers.http import new_client


@pytest.fixture(scope="session")
def running_fake() -> Iterator[FakeBedrock]:
    # One server for the session: stopping one takes half a second.
    with FakeBedrock() as server:
        yield server


@pytest.fixture
def fake(running_fake: FakeBedrock) -> FakeBedrock:
    running_fake.reset()
    return running_fake


@pytest.fixture(scope="session")
async def client(running_fake: FakeBedrock) -> AsyncIterator[httpx.AsyncClient]:
    # One pool for the session: building a client costs a TLS context.
    async with new_client(running_fake.provider_spec(), read_timeout=5.0) as pool:
        yield pool


@pytest.fixture
def adapter(fake: FakeBedrock, client: httpx.AsyncClient) -> BedrockAdapter:
    return BedrockAdapter(fake.provider_spec(), fake.credential(), client)
