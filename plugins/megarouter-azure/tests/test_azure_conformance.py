"""The shared adapter conformance kit, run against the Azure OpenAI fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from megarouter_azure.fake import AzureOpenAIFake

from megarouter.testing.conformance import AdapterConformance


class TestAzureOpenAIConformance(AdapterConformance):
    @pytest.fixture
    def fake_provider(self, running_fake: AzureOpenAIFake) -> Iterator[AzureOpenAIFake]:
        running_fake.reset()
        yield running_fake
