"""Fixtures: a running OpenAI fake and an adapter pointed at it.

One fake serves a whole module (stopping a server takes half a second);
each test gets it back reset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from megarouter_openai.adapter import OpenAIAdapter
from megarouter_openai.fake import OpenAIFake

from megarouter.providers.http import new_client


@pytest.fixture(scope="module")
def running_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as running:
        yield running


@pytest.fixture
def fake(running_fake: OpenAIFake) -> OpenAIFake:
    running_fake.reset()
    return running_fake


@pytest.fixture
async def adapter(fake: OpenAIFake) -> AsyncIterator[OpenAIAdapter]:
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        yield OpenAIAdapter(spec, fake.credential(), client)
