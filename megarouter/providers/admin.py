"""Provider administration for one org: what the Admin service's provider,
model and credential calls do, free of protobuf.

The interceptor has already checked the caller's permission (``models:list``
to read, ``providers:update`` to change) in the caller's own org; here an
org other than the caller's is invisible (NOT_FOUND) unless the caller is a
platform administrator, and must exist.

Lists are ordered by provider id or global model id and paged with an
opaque token holding the last id of the previous page.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from typing import TypeVar

from megarouter.auth.caller import Caller
from megarouter.errors import InvalidArgument, NotFound
from megarouter.providers.credentials import (
    CredentialMetadata,
    CredentialSource,
    CredentialStore,
    credential_source,
)
from megarouter.providers.registry import ProviderRegistry, global_model_id
from megarouter.providers.settings import OrgCatalog, ProviderSettings, check_price
from megarouter.providers.spec import (
    Credential,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.store.database import Database
from megarouter.store.tables import OrgRow
from megarouter.tenancy.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

_TOKEN_PREFIX = "after:"

T = TypeVar("T")


class PriceSource(enum.StrEnum):
    """Where a model's effective price comes from."""

    LIST = "list"
    OVERRIDE = "override"
    UNPRICED = "unpriced"


@dataclass(frozen=True, slots=True)
class ProviderView:
    """A registered provider as one org sees it."""

    org_id: str
    spec: ProviderSpec
    plugin: str
    enabled: bool
    credential_source: CredentialSource


@dataclass(frozen=True, slots=True)
class ModelView:
    """A registered model as one org sees it, with its effective price.

    ``price`` is None for an unpriced model: it cannot be called until an
    administrator sets one, and is never charged as free.
    """

    org_id: str
    provider: ProviderSpec
    model: ModelSpec
    enabled: bool
    price: Price | None
    price_source: PriceSource

    @property
    def global_id(self) -> str:
        return global_model_id(self.provider.name, self.model.id)


@dataclass(frozen=True, slots=True)
class Page:
    """Which page of a list to return."""

    size: int
    after: str  # the last id of the previous page; "" for the first

    @classmethod
    def parse(cls, page_size: int, page_token: str) -> Page:
        """Check a List call's page size and token.

        Raises:
            InvalidArgument: a negative size or a token not made here.
        """
        if page_size < 0:
            raise InvalidArgument.for_field("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if not page_token:
            return cls(size, "")
        try:
            text = base64.urlsafe_b64decode(page_token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        if not text.startswith(_TOKEN_PREFIX) or len(text) == len(_TOKEN_PREFIX):
            raise InvalidArgument.for_field(
                "page_token", "is not a token from an earlier List call"
            )
        return cls(size, text.removeprefix(_TOKEN_PREFIX))

    def take(self, items: list[tuple[str, T]]) -> tuple[list[T], str]:
        """This page of ``items`` (sorted by id) and the next page's token."""
        rest = [(key, item) for key, item in items if key > self.after]
        page = rest[: self.size]
        token = ""
        if len(rest) > self.size:
            last = f"{_TOKEN_PREFIX}{page[-1][0]}".encode()
            token = base64.urlsafe_b64encode(last).decode()
        return [item for _, item in page], token


class ProviderAdmin:
    """Providers, models, prices and credentials, per org.

    Args:
        database: the control-plane database (to check that orgs exist).
        registry: the loaded provider registry.
        credentials: the encrypted credential store.
        settings: the per-org enablement and price store.
    """

    def __init__(
        self,
        database: Database,
        registry: ProviderRegistry,
        credentials: CredentialStore,
        settings: ProviderSettings,
    ) -> None:
        self._database = database
        self.registry = registry
        self.credentials = credentials
        self.settings = settings

    # --- for the router and budgets -----------------------------------------

    async def catalog(self, org_id: str) -> OrgCatalog:
        """The org's allowed models and price table, as stored now."""
        return OrgCatalog.of(self.registry, await self.settings.load(org_id))

    async def resolve_credential(self, org_id: str, provider: str) -> Credential | None:
        """The credential to call ``provider`` with for the org, if any.

        Raises:
            NotFound: no such provider is registered.
            ConfigurationError: the stored credential cannot be decrypted.
        """
        return await self.credentials.resolve(org_id, self.registry.provider(provider))

    # --- providers ------------------------------------------------------------

    async def list_providers(
        self, caller: Caller, org_id: str, page: Page
    ) -> tuple[list[ProviderView], str]:
        """One page of the registered providers, as the org sees them."""
        await self._require_org(caller, org_id)
        catalog = await self.catalog(org_id)
        stored = await self.credentials.stored_providers(org_id)
        views = [
            (name, self._provider_view(org_id, name, catalog, stored))
            for name in sorted(self.registry.providers)
        ]
        return page.take(views)

    async def set_provider_enabled(
        self, caller: Caller, org_id: str, provider: str, enabled: bool
    ) -> ProviderView:
        """Turn a provider on or off for the org.

        Raises:
            NotFound: the org or the provider does not exist.
        """
        await self._require_org(caller, org_id)
        self.registry.provider(provider)
        await self.settings.set_provider_enabled(org_id, provider, enabled, caller)
        catalog = await self.catalog(org_id)
        stored = await self.credentials.stored_providers(org_id)
        return self._provider_view(org_id, provider, catalog, stored)

    def _provider_view(
        self, org_id: str, name: str, catalog: OrgCatalog, stored: frozenset[str]
    ) -> ProviderView:
        registered = self.registry.providers[name]
        return ProviderView(
            org_id,
            registered.spec,
            str(registered.origin),
            catalog.provider_enabled(name),
            credential_source(registered.spec, name in stored),
        )

    # --- models ---------------------------------------------------------------

    async def list_models(
        self,
        caller: Caller,
        org_id: str,
        page: Page,
        *,
        provider: str = "",
        mode: ModelMode | None = None,
        show_disabled: bool = False,
    ) -> tuple[list[ModelView], str]:
        """One page of models with the org's enablement and prices.

        Raises:
            NotFound: the org, or the ``provider`` filter, does not exist.
        """
        await self._require_org(caller, org_id)
        if provider:
            self.registry.provider(provider)
        catalog = await self.catalog(org_id)
        views = []
        for entry in catalog.models():
            if provider and entry.provider.name != provider:
                continue
            if mode is not None and entry.model.mode is not mode:
                continue
            view = _model_view(org_id, catalog, entry.provider, entry.model)
            if view.enabled or show_disabled:
                views.append((view.global_id, view))
        views.sort(key=lambda pair: pair[0])
        return page.take(views)

    async def set_model_enabled(
        self, caller: Caller, org_id: str, global_id: str, enabled: bool
    ) -> ModelView:
        """Turn a model on or off for the org.

        Raises:
            NotFound: the org or the model does not exist.
        """
        await self._require_org(caller, org_id)
        spec, model = self._model(global_id)
        key = (spec.name, model.id)
        await self.settings.set_model_enabled(org_id, key, enabled, caller)
        return await self._view_after_change(org_id, spec, model)

    async def set_price(
        self, caller: Caller, org_id: str, global_id: str, price: Price
    ) -> ModelView:
        """Charge the org ``price`` for a model.

        Raises:
            NotFound: the org or the model does not exist.
            InvalidArgument: the price is negative.
        """
        check_price(price)
        await self._require_org(caller, org_id)
        spec, model = self._model(global_id)
        await self.settings.set_price(org_id, (spec.name, model.id), price, caller)
        return await self._view_after_change(org_id, spec, model)

    async def clear_price(
        self, caller: Caller, org_id: str, global_id: str
    ) -> ModelView:
        """Drop the org's price for a model.

        Raises:
            NotFound: the org or the model does not exist.
        """
        await self._require_org(caller, org_id)
        spec, model = self._model(global_id)
        await self.settings.clear_price(org_id, (spec.name, model.id), caller)
        return await self._view_after_change(org_id, spec, model)

    def _model(self, global_id: str) -> tuple[ProviderSpec, ModelSpec]:
        entry = self.registry.find_model(global_id)
        return entry.provider, entry.model

    async def _view_after_change(
        self, org_id: str, spec: ProviderSpec, model: ModelSpec
    ) -> ModelView:
        return _model_view(org_id, await self.catalog(org_id), spec, model)

    # --- credentials ----------------------------------------------------------

    async def set_credential(
        self, caller: Caller, org_id: str, provider: str, credential: Credential
    ) -> CredentialMetadata:
        """Store the org's credential for a provider, replacing any.

        Raises:
            NotFound: the org or the provider does not exist.
            InvalidArgument: the credential is malformed, or the provider
                takes none.
        """
        await self._require_org(caller, org_id)
        spec = self.registry.provider(provider)
        if not spec.needs_credential:
            raise InvalidArgument.for_field(
                "provider", f"provider {provider!r} takes no credential"
            )
        return await self.credentials.set(org_id, provider, credential, caller)

    async def delete_credential(
        self, caller: Caller, org_id: str, provider: str
    ) -> None:
        """Forget the org's stored credential for a provider.

        Raises:
            NotFound: the org does not exist or has no such credential.
        """
        await self._require_org(caller, org_id)
        await self.credentials.delete(org_id, provider, caller)

    async def list_credentials(
        self, caller: Caller, org_id: str
    ) -> list[CredentialMetadata]:
        """The metadata of the org's stored credentials."""
        await self._require_org(caller, org_id)
        return await self.credentials.list_metadata(org_id)

    # --- orgs -----------------------------------------------------------------

    async def _require_org(self, caller: Caller, org_id: str) -> None:
        """NOT_FOUND for an org the caller may not see, or that does not exist."""
        if caller.can_see_org(org_id):
            async with self._database.sessions() as session:
                if await session.get(OrgRow, org_id) is not None:
                    return
        raise NotFound(f"orgs/{org_id} not found")


def _model_view(
    org_id: str, catalog: OrgCatalog, spec: ProviderSpec, model: ModelSpec
) -> ModelView:
    """A model with the org's enablement and the price that applies to it."""
    override = catalog.override(spec.name, model.id)
    if override is not None:
        price, source = override, PriceSource.OVERRIDE
    elif model.price is not None:
        price, source = model.price, PriceSource.LIST
    else:
        price, source = None, PriceSource.UNPRICED
    return ModelView(
        org_id, spec, model, catalog.model_enabled(spec.name, model.id), price, source
    )
