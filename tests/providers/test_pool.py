"""The adapter pool builds one adapter and client per provider, and closes them."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from megarouter.errors import NotFound, ProviderAuthError
from megarouter.providers import hookimpl
from megarouter.providers.pool import AdapterPool, credential_from_env
from megarouter.providers.registry import ProviderRegistry
from megarouter.providers.spec import AuthScheme, Credential, ProviderSpec
from megarouter.providers.types import ChatRequest, Message


def registry_for(fake: Any, *extra_specs: ProviderSpec) -> ProviderRegistry:
    """A loaded registry with the fake's family and provider (plus extras)."""

    class FakePlugin:
        @hookimpl
        def register_families(self, register: Callable[[Any], None]) -> None:
            register(fake.adapter_class)

        @hookimpl
        def register_providers(self, register: Callable[[Any], None]) -> None:
            for spec in (fake.provider_spec(), *extra_specs):
                register(spec)

    registry = ProviderRegistry()
    registry.register(FakePlugin(), name="fake")
    registry.load(entry_points=False)
    registry.unregister("fake")
    return registry


@pytest.fixture
def fake(shared_tinychat_fake: Any) -> Any:
    """The module's tiny OpenAI-style fake provider."""
    return shared_tinychat_fake


@pytest.fixture
async def pool(fake: Any) -> AsyncIterator[AdapterPool]:
    registry = registry_for(fake)
    async with AdapterPool(registry, lambda name: fake.credential()) as pool:
        yield pool


def hello(fake: Any) -> ChatRequest:
    return ChatRequest(model=fake.chat_model, messages=[Message.text("user", "hi")])


async def test_adapter_is_built_once_and_answers_through_its_pooled_client(
    pool: AdapterPool, fake: Any
) -> None:
    adapter = pool.adapter("tinychat-cloud")

    first = await adapter.complete(hello(fake))
    second = await pool.adapter("tinychat-cloud").complete(hello(fake))

    assert pool.adapter("tinychat-cloud") is adapter
    assert first.content == second.content == fake.reply_text
    assert str(adapter.client.base_url) == f"{fake.server.url}/v1/"


async def test_each_provider_gets_its_own_client(fake: Any) -> None:
    twin = dataclasses.replace(fake.provider_spec(), name="tinychat-twin")
    registry = registry_for(fake, twin)

    async with AdapterPool(registry, lambda name: Credential("k")) as pool:
        one, two = pool.adapter("tinychat-cloud"), pool.adapter("tinychat-twin")

        assert one.client is not two.client
        assert (one.spec.name, two.spec.name) == ("tinychat-cloud", "tinychat-twin")


async def test_aclose_closes_every_client(fake: Any) -> None:
    pool = AdapterPool(registry_for(fake), lambda name: Credential("k"))
    adapter = pool.adapter("tinychat-cloud")

    await pool.aclose()

    assert adapter.client.is_closed
    assert pool.adapter("tinychat-cloud") is not adapter  # usable again
    await pool.aclose()


async def test_environment_credential_is_used_when_the_resolver_has_none(
    fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYCHAT_API_KEY", fake.api_key)

    async with AdapterPool(registry_for(fake), lambda name: None) as pool:
        response = await pool.adapter("tinychat-cloud").complete(hello(fake))

    assert response.content == fake.reply_text


async def test_resolver_credential_wins_over_the_environment(
    fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYCHAT_API_KEY", "stale-key")
    registry = registry_for(fake)

    async with AdapterPool(registry, lambda name: fake.credential()) as pool:
        response = await pool.adapter("tinychat-cloud").complete(hello(fake))

    assert response.content == fake.reply_text


async def test_missing_credential_is_an_auth_error_naming_the_variables(
    fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TINYCHAT_API_KEY", raising=False)

    async with AdapterPool(registry_for(fake)) as pool:
        with pytest.raises(ProviderAuthError, match="TINYCHAT_API_KEY"):
            pool.adapter("tinychat-cloud")


async def test_provider_without_auth_needs_no_credential(fake: Any) -> None:
    open_spec = dataclasses.replace(
        fake.provider_spec(), name="local", auth=AuthScheme.NONE
    )

    async with AdapterPool(registry_for(fake, open_spec)) as pool:
        assert pool.adapter("local").credential is None


async def test_reset_rebuilds_the_adapter_with_the_new_credential(
    fake: Any,
) -> None:
    keys = {"tinychat-cloud": "old-key"}
    registry = registry_for(fake)

    async with AdapterPool(registry, lambda name: Credential(keys[name])) as pool:
        old = pool.adapter("tinychat-cloud")
        keys["tinychat-cloud"] = fake.api_key
        await pool.reset("tinychat-cloud")
        response = await pool.adapter("tinychat-cloud").complete(hello(fake))

    assert old.client.is_closed
    assert response.content == fake.reply_text


async def test_unknown_provider_is_not_found(pool: AdapterPool) -> None:
    with pytest.raises(NotFound):
        pool.adapter("nobody")


def test_credential_from_env_takes_the_first_set_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = ProviderSpec(
        name="aws-like", family="x", auth=AuthScheme.SIGV4,
        credential_env=("MR_T_ACCESS_KEY", "MR_T_SECRET", "MR_T_TOKEN"),
    )
    monkeypatch.delenv("MR_T_ACCESS_KEY", raising=False)
    monkeypatch.setenv("MR_T_SECRET", "s3cret")
    monkeypatch.setenv("MR_T_TOKEN", "tok")

    credential = credential_from_env(spec)

    assert credential is not None
    assert credential.api_key == "s3cret"
    assert dict(credential.extra) == {"MR_T_SECRET": "s3cret", "MR_T_TOKEN": "tok"}
    assert "s3cret" not in repr(credential)
    monkeypatch.delenv("MR_T_SECRET")
    monkeypatch.delenv("MR_T_TOKEN")
    assert credential_from_env(spec) is None
