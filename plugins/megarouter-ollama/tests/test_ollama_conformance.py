"""The shared adapter conformance kit, run against the fake Ollama server."""

from __future__ import annotations

import pytest
from megarouter_ollama.fake import FakeOllama

from megarouter.testing.conformance import AdapterConformance
from megarouter.testing.fake_http import FakeHTTPServer


class TestOllamaConformance(AdapterConformance):
    @pytest.fixture
    def fake_provider(self, http_server: FakeHTTPServer) -> FakeOllama:
        return FakeOllama(server=http_server)
