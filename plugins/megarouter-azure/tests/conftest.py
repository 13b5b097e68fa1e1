"""Fixtures: a running Azure OpenAI fake and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from megarouter_azure.adapter import AzureOpenAIAdapter
from megarouter_azure.fake import AzureOpenAIFake

from megarouter.providers.http import new_client


@pytest.fixture(scope="module")
def running_fake() -> Iterator[AzureOpenAIFake]:
    with AzureOpenAIFake(entra_token="entra-token-for-tests") as running:
        yield running


@pytest.fixture
def fake(running_fake: AzureOpenAIFake) -> AzureOpenAIFake:
    running_fake.reset()
    return running_fake


@pytest.fixture
async def adapter(fake: AzureOpenAIFake) -> AsyncIterator[AzureOpenAIAdapter]:
    spec = fake.provider_spec()
    async with new_client(spec) as client:
        yield AzureOpenAIAdapter(spec, fake.credential(), client)
