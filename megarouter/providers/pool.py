"""One adapter and one pooled HTTP client per provider, built on first use.

Every adapter is written against :class:`httpx.AsyncClient`; the default
``client_factory``, :func:`~megarouter.providers.http.new_client`, puts that
API on aiohttp's connection pool, which costs several times less CPU per
request than httpcore's (``scripts/bench_http_clients.py`` has the figures).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from types import TracebackType

import httpx

from megarouter.errors import ProviderAuthError
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.http import new_client
from megarouter.providers.registry import ProviderRegistry
from megarouter.providers.spec import Credential, ProviderSpec

logger = logging.getLogger(__name__)

CredentialResolver = Callable[[str], Credential | None]
ClientFactory = Callable[[ProviderSpec], httpx.AsyncClient]


def credential_from_env(spec: ProviderSpec) -> Credential | None:
    """The credential the environment holds for ``spec``, if any.

    The first variable of ``spec.credential_env`` that is set and not empty
    is the API key. Every set variable of that list is also put in
    ``Credential.extra`` under its own name, for multi-part credentials such
    as AWS's (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ...).

    Args:
        spec: the provider whose ``credential_env`` to read.

    Returns:
        The credential, or None when none of the variables is set.
    """
    found = {
        name: os.environ[name] for name in spec.credential_env if os.environ.get(name)
    }
    if not found:
        return None
    return Credential(api_key=next(iter(found.values())), extra=found)


class AdapterPool:
    """The live adapters of one process, one per provider.

    The first :meth:`adapter` call for a provider resolves its credential,
    opens its pooled :class:`httpx.AsyncClient` and builds the family's
    adapter; later calls return the same adapter. :meth:`aclose` closes every
    client.

    Args:
        registry: a loaded registry that knows the providers and families.
        credentials: provider name -> credential (for example from the
            admin store). When it is None or returns None, the provider's
            ``credential_env`` variables are read (:func:`credential_from_env`).
        client_factory: opens the pooled client for a provider.
    """

    def __init__(
        self,
        registry: ProviderRegistry,
        credentials: CredentialResolver | None = None,
        *,
        client_factory: ClientFactory = new_client,
    ) -> None:
        self._registry = registry
        self._credentials = credentials
        self._client_factory = client_factory
        # (provider, credential digest) -> adapter
        self._adapters: dict[tuple[str, str], ProviderAdapter] = {}

    def adapter(self, provider: str) -> ProviderAdapter:
        """The adapter for ``provider`` with its resolved credential.

        Raises:
            NotFound: no such provider is registered.
            ProviderAuthError: the provider needs a credential and none was
                found.
        """
        spec = self._registry.provider(provider)
        credential = self._credentials(spec.name) if self._credentials else None
        return self.with_credential(provider, credential or credential_from_env(spec))

    def with_credential(
        self, provider: str, credential: Credential | None
    ) -> ProviderAdapter:
        """The adapter calling ``provider`` with ``credential``, built on
        first use and shared by every caller with the same credential.

        Raises:
            NotFound: no such provider is registered.
            ProviderAuthError: the provider needs a credential and got none.
        """
        spec = self._registry.provider(provider)
        if credential is None and spec.needs_credential:
            where = ", ".join(spec.credential_env) or "megarouter admin credentials set"
            raise ProviderAuthError(
                f"{provider}: no credential configured (set {where})",
                provider=provider,
            )
        key = (provider, _fingerprint(credential))
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter_class = self._registry.adapter_class(provider)
            adapter = adapter_class(spec, credential, self._client_factory(spec))
            self._adapters[key] = adapter
            logger.info("opened adapter for provider %s (%s)", provider, spec.family)
        return adapter

    async def reset(self, provider: str) -> None:
        """Drop ``provider``'s adapter and close its client.

        The next :meth:`adapter` call builds a new one, with the credential
        resolved afresh (after an administrator rotated it, say).
        """
        for key in [k for k in self._adapters if k[0] == provider]:
            await self._adapters.pop(key).client.aclose()

    async def aclose(self) -> None:
        """Close every provider's client; the pool may be used again after."""
        adapters, self._adapters = self._adapters, {}
        for adapter in adapters.values():
            await adapter.client.aclose()

    async def __aenter__(self) -> AdapterPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _fingerprint(credential: Credential | None) -> str:
    """A digest that tells credentials apart without keeping them as keys."""
    if credential is None:
        return ""
    material = credential.api_key + "\0" + repr(sorted(credential.extra.items()))
    return hashlib.sha256(material.encode()).hexdigest()
