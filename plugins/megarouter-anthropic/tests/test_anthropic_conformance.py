"""The shared adapter conformance kit, run against the fake Anthropic API."""

from __future__ import annotations

import pytest
from megarouter_anthropic.fake import FakeAnthropic

from megarouter.testing.conformance import AdapterConformance
from megarouter.testing.fake_http import FakeHTTPServer


class TestAnthropicConformance(AdapterConformance):
    @pytest.fixture
    def fake_provider(self, http_server: FakeHTTPServer) -> FakeAnthropic:
        return FakeAnthropic(server=http_server)
