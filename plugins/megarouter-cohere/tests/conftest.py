"""Fixtures: a fake Cohere server on loopback and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from megarouter_cohere.adapter import CohereAdapter
from megarouter_cohere.fake import FakeCohere

from megarouter.providers.http import new_client
from megarouter.providers.types import ChatChunk, FinishReason, ToolCall, Usage
from megarouter.testing.fake_http import FakeHTTPServer


@dataclass
class Transcript:
    """Everything a stream yielded, assembled the way a caller would."""

    chunks: list[ChatChunk] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c.content for c in self.chunks)

    @property
    def tool_calls(self) -> list[ToolCall]:
        parts: dict[int, list[str]] = {}
        for chunk in self.chunks:
            for delta in chunk.tool_calls:
                entry = parts.setdefault(delta.index, ["", "", ""])
                entry[0] = entry[0] or delta.id
                entry[1] = entry[1] or delta.name
                entry[2] += delta.arguments
        return [ToolCall(*parts[i]) for i in sorted(parts)]

    @property
    def finish_reason(self) -> FinishReason | None:
        return self.chunks[-1].finish_reason if self.chunks else None

    @property
    def usage(self) -> Usage | None:
        return self.chunks[-1].usage if self.chunks else None


async def _collect(stream: AsyncIterator[ChatChunk]) -> Transcript:
    transcript = Transcript()
    async for chunk in stream:
        transcript.chunks.append(chunk)
    return transcript


@pytest.fixture
def collect() -> Callable[[AsyncIterator[ChatChunk]], Awaitable[Transcript]]:
    """Read a whole stream into a :class:`Transcript`."""
    return _collect


@pytest.fixture(scope="session")
def http_server() -> Iterator[FakeHTTPServer]:
    """One loopback server for the session (stopping one takes half a second)."""
    with FakeHTTPServer() as server:
        yield server


@pytest.fixture
def fake(http_server: FakeHTTPServer) -> FakeCohere:
    return FakeCohere(server=http_server)


@pytest.fixture
async def adapter(fake: FakeCohere) -> AsyncIterator[CohereAdapter]:
    spec = fake.provider_spec()
    async with new_client(spec, read_timeout=5.0) as client:
        yield CohereAdapter(spec, fake.credential(), client)
