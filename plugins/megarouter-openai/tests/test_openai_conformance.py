"""The shared adapter conformance kit, run against the OpenAI fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from megarouter_openai.fake import OpenAIFake

from megarouter.testing.conformance import AdapterConformance


class TestOpenAIConformance(AdapterConformance):
    @pytest.fixture
    def fake_provider(self, running_fake: OpenAIFake) -> Iterator[OpenAIFake]:
        running_fake.reset()
        yield running_fake
