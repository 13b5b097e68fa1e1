"""Each org's routable catalog and provider adapters, cached briefly.

An org's catalog (enabled models, prices with its overrides, which providers
it can call) and its credentials change rarely and are read on every call,
so both are cached for ``ttl`` seconds and rebuilt after; a change made
through this process is applied at once (``invalidate``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.admin import ProviderAdmin
from megarouter.providers.credentials import credential_from_environment
from megarouter.providers.http import new_client
from megarouter.providers.pool import AdapterPool
from megarouter.providers.settings import OrgCatalog
from megarouter.providers.spec import AuthScheme, Credential, ProviderSpec
from megarouter.routing.catalog_view import RoutableCatalog

logger = logging.getLogger(__name__)

DEFAULT_TTL = 5.0


@dataclass(slots=True)
class _Entry:
    catalog: RoutableCatalog
    signature: tuple[object, ...]
    fresh_until: float


class OrgCatalogs:
    """The :class:`CatalogSource` of the completion path.

    Serves each org's catalog from memory. After ``ttl`` seconds the next
    call still gets the cached catalog while one background task re-reads
    the org's settings; the catalog (and what the router derived from it) is
    rebuilt only if they changed. Only an org's first call waits, and
    concurrent first calls share one build.
    """

    def __init__(
        self,
        admin: ProviderAdmin,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin = admin
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._pending: dict[str, asyncio.Task[RoutableCatalog]] = {}

    def invalidate(self, org_id: str | None = None) -> None:
        """Rebuild at the next call (for changes made in this process)."""
        if org_id is None:
            self._cache.clear()
        else:
            self._cache.pop(org_id, None)

    async def catalog_for(self, org_id: str) -> RoutableCatalog:
        entry = self._cache.get(org_id)
        if entry is not None:
            if entry.fresh_until <= self._clock():
                self._refresh(org_id)  # in the background; serve what we have
            return entry.catalog
        return await asyncio.shield(self._refresh(org_id))

    def _refresh(self, org_id: str) -> asyncio.Task[RoutableCatalog]:
        task = self._pending.get(org_id)
        if task is None:
            task = asyncio.create_task(self._load(org_id), name=f"catalog-{org_id}")
            self._pending[org_id] = task
            task.add_done_callback(lambda _: self._pending.pop(org_id, None))
        return task

    async def _load(self, org_id: str) -> RoutableCatalog:
        settings = await self._admin.settings.load(org_id)
        stored = await self._admin.credentials.stored_providers(org_id)
        signature = (
            settings.disabled_providers,
            settings.disabled_models,
            tuple(sorted(settings.prices.items())),
            stored,
        )
        fresh_until = self._clock() + self._ttl
        entry = self._cache.get(org_id)
        if entry is not None and entry.signature == signature:
            entry.fresh_until = fresh_until
            return entry.catalog

        org = OrgCatalog.of(self._admin.registry, settings)
        specs = {
            registered.spec.name: registered.spec
            for registered in self._admin.registry.providers.values()
        }

        def configured(provider: str) -> bool:
            spec = specs[provider]
            return (
                provider in stored
                or spec.auth is AuthScheme.NONE
                or credential_from_environment(spec) is not None
            )

        catalog = RoutableCatalog(
            org.price_table().models(),
            configured,
            enabled=lambda m: org.model_enabled(m.provider.name, m.spec.id),
        )
        self._cache[org_id] = _Entry(catalog, signature, fresh_until)
        return catalog


ClientFactory = Callable[[ProviderSpec], httpx.AsyncClient]


class OrgAdapters:
    """Provider adapters per credential, shared by the orgs that share one.

    Orgs calling a provider with the same credential (say, the operator's
    environment key) share one adapter and its connection pool; an org with
    its own key gets its own.
    """

    def __init__(
        self,
        admin: ProviderAdmin,
        client_factory: ClientFactory = new_client,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin = admin
        self._pool = AdapterPool(admin.registry, client_factory=client_factory)
        self._ttl = ttl
        self._clock = clock
        self._credentials: dict[tuple[str, str], tuple[float, Credential | None]] = {}

    def invalidate(self, org_id: str | None = None) -> None:
        if org_id is None:
            self._credentials.clear()
            return
        for key in [k for k in self._credentials if k[0] == org_id]:
            del self._credentials[key]

    async def adapter(self, org_id: str, provider: str) -> ProviderAdapter:
        """The adapter that calls ``provider`` with the org's credential.

        Raises:
            ProviderAuthError: the provider needs a credential the org lacks.
        """
        credential = await self._credential(org_id, provider)
        return self._pool.with_credential(provider, credential)

    async def _credential(self, org_id: str, provider: str) -> Credential | None:
        now = self._clock()
        cached = self._credentials.get((org_id, provider))
        if cached is not None and cached[0] > now:
            return cached[1]
        credential = await self._admin.resolve_credential(org_id, provider)
        self._credentials[(org_id, provider)] = (now + self._ttl, credential)
        return credential

    async def aclose(self) -> None:
        await self._pool.aclose()
