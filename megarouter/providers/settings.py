"""Which providers and models an org may use, and the prices it sets.

Every registered provider and model is enabled for every org until an
administrator disables it. A model is usable when both it and its provider
are enabled. An administrator may also set a model's price (integer
micro-dollars per million tokens), which wins over the provider's list
price; a model with neither stays unpriced and can never be charged as free.

:class:`ProviderSettings` keeps these choices in the database;
:class:`OrgCatalog` joins one org's choices with the registry into what the
router and budgets need: the allowed model ids and a :class:`PriceTable`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from megarouter.auth.caller import Caller
from megarouter.catalog.prices import ModelKey, PriceTable
from megarouter.errors import InvalidArgument
from megarouter.governance.audit import NO_AUDIT, AuditTrail
from megarouter.providers.registry import (
    ProviderRegistry,
    RegisteredModel,
    global_model_id,
)
from megarouter.providers.spec import Price, ProviderSpec
from megarouter.store.database import Database
from megarouter.store.provider_tables import (
    ModelSettingRow,
    ProviderSettingRow,
    upsert,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrgSettings:
    """One org's stored choices, as read from the database.

    Attributes:
        disabled_providers: provider names the org turned off.
        disabled_models: ``(provider, model id)`` pairs the org turned off.
        prices: the org's prices by ``(provider, model id)``.
    """

    disabled_providers: frozenset[str] = frozenset()
    disabled_models: frozenset[ModelKey] = frozenset()
    prices: Mapping[ModelKey, Price] = field(default_factory=dict)


class ProviderSettings:
    """Reads and writes every org's provider and model settings.

    Models are named by ``(provider, model id)``; callers resolve aliases
    through the registry first.

    Args:
        database: where the settings rows live.
        audit: records every change in the audit log; None records nothing.
    """

    def __init__(self, database: Database, audit: AuditTrail | None = None) -> None:
        self._database = database
        self._audit = audit or NO_AUDIT

    async def load(self, org_id: str) -> OrgSettings:
        """The org's choices; defaults (all enabled, list prices) when none."""
        async with self._database.sessions() as session:
            providers = await session.scalars(
                select(ProviderSettingRow).where(
                    col(ProviderSettingRow.org_id) == org_id,
                    col(ProviderSettingRow.enabled).is_(False),
                )
            )
            disabled_providers = frozenset(row.provider for row in providers)
            models = list(
                await session.scalars(
                    select(ModelSettingRow).where(col(ModelSettingRow.org_id) == org_id)
                )
            )
        return OrgSettings(
            disabled_providers,
            frozenset((m.provider, m.model) for m in models if not m.enabled),
            {(m.provider, m.model): price for m in models if (price := _price(m))},
        )

    async def set_provider_enabled(
        self, org_id: str, provider: str, enabled: bool, actor: Caller | None = None
    ) -> None:
        """Let the org use ``provider`` (its enabled models), or stop it."""
        async with self._database.transaction() as session:
            row = await session.get(ProviderSettingRow, (org_id, provider))
            before = {"enabled": row.enabled if row else True}
            await upsert(
                session,
                ProviderSettingRow,
                {"org_id": org_id, "provider": provider},
                {"enabled": enabled},
                insert_only={"version": 1},
            )
            action = "providers.enable" if enabled else "providers.disable"
            name = f"orgs/{org_id}/providers/{provider}"
            after = {"enabled": enabled}
            self._audit.record(session, actor, action, name, before, after)
        logger.info("org=%s provider=%s enabled=%s", org_id, provider, enabled)

    async def set_model_enabled(
        self, org_id: str, key: ModelKey, enabled: bool, actor: Caller | None = None
    ) -> None:
        """Let the org use a model, or stop it."""
        action = "models.enable" if enabled else "models.disable"
        await self._write_model(org_id, key, {"enabled": enabled}, actor, action)
        logger.info("org=%s model=%s/%s enabled=%s", org_id, *key, enabled)

    async def set_price(
        self, org_id: str, key: ModelKey, price: Price, actor: Caller | None = None
    ) -> None:
        """Charge the org ``price`` for a model, over its list price.

        Raises:
            InvalidArgument: a part of the price is negative.
        """
        check_price(price)
        await self._write_model(
            org_id,
            key,
            {
                "input_micros_per_mtok": price.input_per_mtok,
                "output_micros_per_mtok": price.output_per_mtok,
            },
            actor,
            "models.set_price",
        )
        logger.info(
            "org=%s model=%s/%s price set to %d/%d micro-USD per Mtok",
            org_id,
            *key,
            price.input_per_mtok,
            price.output_per_mtok,
        )

    async def clear_price(
        self, org_id: str, key: ModelKey, actor: Caller | None = None
    ) -> None:
        """Drop the org's price for a model; its list price applies again."""
        await self._write_model(
            org_id,
            key,
            {"input_micros_per_mtok": None, "output_micros_per_mtok": None},
            actor,
            "models.clear_price",
        )
        logger.info("org=%s model=%s/%s price cleared", org_id, *key)

    async def _write_model(
        self,
        org_id: str,
        key: ModelKey,
        values: dict[str, object],
        actor: Caller | None,
        action: str,
    ) -> None:
        """Change some columns of a model's row, creating it if need be."""
        provider, model = key
        insert_only: dict[str, object] = {"version": 1}
        if "enabled" not in values:
            insert_only["enabled"] = True
        async with self._database.transaction() as session:
            before = await _model_state(session, org_id, key)
            await upsert(
                session,
                ModelSettingRow,
                {"org_id": org_id, "provider": provider, "model": model},
                values,
                insert_only,
            )
            after = await _model_state(session, org_id, key)
            name = f"orgs/{org_id}/models/{global_model_id(provider, model)}"
            self._audit.record(session, actor, action, name, before, after)


async def _model_state(
    session: AsyncSession, org_id: str, key: ModelKey
) -> dict[str, object]:
    """A model's settings as the audit log shows them."""
    row = await session.get(ModelSettingRow, (org_id, *key), populate_existing=True)
    state: dict[str, object] = {"enabled": row is None or row.enabled, "price": None}
    price = _price(row) if row else None
    if price is not None:
        state["price"] = {
            "input_micros_per_mtok": price.input_per_mtok,
            "output_micros_per_mtok": price.output_per_mtok,
        }
    return state


def check_price(price: Price) -> Price:
    """``price`` if no part of it is negative, else INVALID_ARGUMENT."""
    for part, value in (
        ("price.input_micros_per_mtok", price.input_per_mtok),
        ("price.output_micros_per_mtok", price.output_per_mtok),
    ):
        if value < 0:
            raise InvalidArgument.for_field(part, "must not be negative")
    return price


def _price(row: ModelSettingRow) -> Price | None:
    if row.input_micros_per_mtok is None or row.output_micros_per_mtok is None:
        return None
    return Price(row.input_micros_per_mtok, row.output_micros_per_mtok)


class OrgCatalog:
    """What one org may call, and at what price: the registry seen through
    the org's settings.

    Args:
        providers: the registered provider specs.
        settings: the org's stored choices. Choices about providers or
            models that are no longer registered are ignored.
    """

    def __init__(
        self, providers: Iterable[ProviderSpec], settings: OrgSettings
    ) -> None:
        self._providers = {spec.name: spec for spec in providers}
        self._settings = settings
        known = {
            (spec.name, model.id)
            for spec in self._providers.values()
            for model in spec.models
        }
        self._overrides = {
            key: price for key, price in settings.prices.items() if key in known
        }

    @classmethod
    def of(cls, registry: ProviderRegistry, settings: OrgSettings) -> OrgCatalog:
        """The catalog of a loaded registry under ``settings``."""
        return cls((entry.spec for entry in registry.providers.values()), settings)

    def provider_enabled(self, provider: str) -> bool:
        return provider not in self._settings.disabled_providers

    def model_enabled(self, provider: str, model_id: str) -> bool:
        """Whether the org may call the model: it and its provider are on."""
        return (
            self.provider_enabled(provider)
            and (provider, model_id) not in self._settings.disabled_models
        )

    def override(self, provider: str, model_id: str) -> Price | None:
        """The org's own price for a model, if it set one."""
        return self._overrides.get((provider, model_id))

    def price_table(self) -> PriceTable:
        """Every registered model at the org's effective price.

        Disabled models are still priced, so that their past usage can be.
        """
        return PriceTable(self._providers.values(), self._overrides)

    def allowed_models(self) -> frozenset[str]:
        """The global ids (``provider/model``) of every model the org may call."""
        return frozenset(
            global_model_id(entry.provider.name, entry.model.id)
            for entry in self.models()
            if self.model_enabled(entry.provider.name, entry.model.id)
        )

    def models(self) -> Iterator[RegisteredModel]:
        """Every registered model, enabled or not, by provider then catalog order."""
        for name in sorted(self._providers):
            spec = self._providers[name]
            for model in spec.models:
                yield RegisteredModel(spec, model)
