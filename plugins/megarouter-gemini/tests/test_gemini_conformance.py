"""The shared adapter conformance kit, run against the fake Gemini API."""

from __future__ import annotations

import pytest
from megarouter_gemini.fake import FakeGemini

from megarouter.testing.conformance import AdapterConformance


class TestGeminiConformance(AdapterConformance):
    @pytest.fixture
    def fake_provider(self, fake: FakeGemini) -> FakeGemini:
        return fake
