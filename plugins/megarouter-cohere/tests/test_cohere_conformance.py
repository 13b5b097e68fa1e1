"""The shared adapter conformance kit, run against the fake Cohere v2 API."""

from __future__ import annotations

import pytest
from megarouter_cohere.fake import FakeCohere

from megarouter.testing.conformance import AdapterConformance
from megarouter.testing.fake_http import FakeHTTPServer


class TestCohereConformance(AdapterConformance):
    @pytest.fixture
    def fake_provider(self, http_server: FakeHTTPServer) -> FakeCohere:
        return FakeCohere(server=http_server)
