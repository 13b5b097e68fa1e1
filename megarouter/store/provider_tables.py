"""Tables of an org's provider settings: credentials, enablement and prices.

Rows name providers and models by the ids plugins registered; the registry,
not the database, says which providers and models exist. A row whose
provider or model is no longer registered is kept and ignored, so that
reinstalling the plugin brings the org's settings back.

Every row belongs to an org and goes when the org is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from megarouter.store.tables import utcnow

PROVIDER_LENGTH = 64
MODEL_LENGTH = 255


def _timestamp() -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=False)


def _org_id() -> Any:  # a FieldInfo that SQLModel reads as the column
    """The org column: part of the key, deleted with the org."""
    return Field(
        sa_column=Column(
            String(63),
            ForeignKey("orgs.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )


class ProviderCredentialRow(SQLModel, table=True):
    """An org's credential for one provider, encrypted with Fernet.

    ``ciphertext`` holds the whole credential (key and extras); only the
    names of the extras are kept in the clear, to show what is stored.
    """

    __tablename__ = "provider_credentials"

    org_id: str = _org_id()
    provider: str = Field(primary_key=True, max_length=PROVIDER_LENGTH)
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    extra_keys: str = Field(default="", max_length=2000)  # comma-separated names
    version: int = 1
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ProviderSettingRow(SQLModel, table=True):
    """Whether an org may use a provider; no row means it may."""

    __tablename__ = "provider_settings"

    org_id: str = _org_id()
    provider: str = Field(primary_key=True, max_length=PROVIDER_LENGTH)
    enabled: bool = True
    version: int = 1
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ModelSettingRow(SQLModel, table=True):
    """An org's settings for one model: enablement and an optional price.

    No row means the model is enabled at its list price. Prices are integer
    micro-dollars per million tokens, both set or both NULL.
    """

    __tablename__ = "model_settings"

    org_id: str = _org_id()
    provider: str = Field(primary_key=True, max_length=PROVIDER_LENGTH)
    model: str = Field(primary_key=True, max_length=MODEL_LENGTH)
    enabled: bool = True
    input_micros_per_mtok: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    output_micros_per_mtok: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    version: int = 1
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


async def upsert(
    session: AsyncSession,
    model: type[SQLModel],
    keys: dict[str, Any],
    values: dict[str, Any],
    insert_only: dict[str, Any] | None = None,
) -> None:
    """Insert a row, or on a key clash update ``values`` and bump its version.

    One statement on either database, so concurrent writers never collide.
    ``insert_only`` values (a creation time) are written only by an insert.
    """
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    changes = dict(values, update_time=utcnow())
    statement = insert(table).values(**keys, **changes, **(insert_only or {}))
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_=dict(changes, version=table.c.version + 1),
    )
    await session.execute(statement)
