"""A real server whose catalog holds fake providers on loopback.

Two fakes of the OpenAI API serve the same models at the same price, so a
named model resolves to ``fake-a`` first and falls back to ``fake-b``; a
third provider points at a port nothing listens on. The plugin that
registers them is an ordinary inline pluggy plugin, the way a third party's
would register through an entry point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from megarouter_openai.fake import OpenAIFake

from megarouter.providers import Price, ProviderSpec, hookimpl
from megarouter.testing.fake_http import free_port
from megarouter.testing.server import RunningServer, running_server, server_settings
from tests.admin.support import Admin

MODEL = "gpt-4o-mini"
EMBEDDING = "text-embedding-3-small"
REFUSABLE = "refusable"  # served by fake-dead (cheaper, refuses) and fake-a


class InlineProviders:
    """A plugin registering the given provider specs."""

    def __init__(self, specs: list[ProviderSpec]) -> None:
        self.specs = specs

    @hookimpl
    def register_providers(self, register):  # type: ignore[no-untyped-def]
        for spec in self.specs:
            register(spec)


def fake_spec(fake: OpenAIFake, name: str, env: str) -> ProviderSpec:
    spec = fake.provider_spec()
    chat, *others = spec.models
    chat = dataclasses.replace(chat, aliases=(REFUSABLE,))
    return dataclasses.replace(
        spec, name=name, credential_env=(env,), models=(chat, *others)
    )


def dead_spec(template: ProviderSpec) -> ProviderSpec:
    """A provider at a port nothing listens on, cheaper than the others."""
    chat = template.models[0]
    assert chat.price is not None
    cheaper = Price(chat.price.input_per_mtok // 2, chat.price.output_per_mtok // 2)
    return dataclasses.replace(
        template,
        name="fake-dead",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        credential_env=("FAKE_DEAD_KEY",),
        models=(dataclasses.replace(chat, id="gpt-4o-mini-dead", price=cheaper),),
    )


@dataclass
class Fakes:
    a: OpenAIFake
    b: OpenAIFake
    plugin: InlineProviders
    env: dict[str, str]

    def reset(self) -> None:
        self.a.reset()
        self.b.reset()


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    with OpenAIFake(api_key="sk-a-123456") as a, OpenAIFake(api_key="sk-b-654321") as b:
        spec_a = fake_spec(a, "fake-a", "FAKE_A_KEY")
        specs = [spec_a, fake_spec(b, "fake-b", "FAKE_B_KEY"), dead_spec(spec_a)]
        env = {
            "FAKE_A_KEY": "sk-a-123456",
            "FAKE_B_KEY": "sk-b-654321",
            "FAKE_DEAD_KEY": "sk-dead",
        }
        yield Fakes(a, b, InlineProviders(specs), env)


@pytest.fixture
async def gateway(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningServer]:
    """A server on SQLite with the fakes registered and their keys set."""
    for name, value in fakes.env.items():
        monkeypatch.setenv(name, value)
    fakes.reset()
    # Client and server share this test's event loop, so a loop busy with a
    # thousand calls can delay keepalive acks; pings are not under test here.
    settings = server_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path,
        plugins="openai",
        keepalive_time_ms=3_600_000,
    )
    async with running_server(settings, plugins={"fakes": fakes.plugin}) as server:
        yield server


@pytest.fixture
async def admin(gateway: RunningServer) -> AsyncIterator[Admin]:
    async with gateway.channel() as channel:
        yield Admin(channel, gateway.admin_key)
