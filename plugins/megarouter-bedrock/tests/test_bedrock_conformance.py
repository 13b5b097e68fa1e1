"""The shared adapter conformance kit, run against the fake Bedrock runtime."""

from __future__ import annotations

import pytest
from megarouter_bedrock.fake import FakeBedrock

from megarouter.testing.conformance import AdapterConformance


class TestBedrockConformance(AdapterConformance):
    @pytest.fixture
    def fake_provider(self, fake: FakeBedrock) -> FakeBedrock:
        return fake
