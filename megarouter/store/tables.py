"""SQLModel tables of the control plane.

Ids are the last segment of a resource name (``orgs/{org_id}/teams/{id}``)
and are unique within their parent. Every mutable row carries a ``version``
that optimistic updates compare and increment; the API shows it as an etag.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _timestamp(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


class OrgRow(SQLModel, table=True):
    __tablename__ = "orgs"

    id: str = Field(primary_key=True, max_length=63)
    display_name: str = Field(default="", max_length=200)
    time_zone: str = Field(default="UTC", max_length=64)
    version: int = 1
    request_id: str | None = Field(default=None, max_length=128, index=True)
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class TeamRow(SQLModel, table=True):
    __tablename__ = "teams"

    org_id: str = Field(primary_key=True, foreign_key="orgs.id", max_length=63)
    id: str = Field(primary_key=True, max_length=63)
    display_name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    version: int = 1
    request_id: str | None = Field(default=None, max_length=128)
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class PrincipalRow(SQLModel, table=True):
    __tablename__ = "principals"
    __table_args__ = (Index("ix_principals_team", "org_id", "team_id"),)

    org_id: str = Field(primary_key=True, foreign_key="orgs.id", max_length=63)
    id: str = Field(primary_key=True, max_length=63)
    kind: str = Field(max_length=32)  # "user" or "service_account"
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    team_id: str | None = Field(default=None, max_length=63)
    disabled: bool = False
    version: int = 1
    request_id: str | None = Field(default=None, max_length=128)
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ix_api_keys_principal", "org_id", "principal_id"),
        UniqueConstraint("key_hash", name="uq_api_keys_hash"),
    )

    org_id: str = Field(primary_key=True, foreign_key="orgs.id", max_length=63)
    id: str = Field(primary_key=True, max_length=63)
    principal_id: str = Field(max_length=63)
    display_name: str = Field(default="", max_length=200)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=128)  # keyed hash of the secret, hex
    request_id: str | None = Field(default=None, max_length=128)
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expire_time: datetime | None = Field(
        default=None, sa_column=_timestamp(nullable=True)
    )
    revoke_time: datetime | None = Field(
        default=None, sa_column=_timestamp(nullable=True)
    )


class RoleBindingRow(SQLModel, table=True):
    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "principal_id", "role", "team_id", name="uq_role_bindings_grant"
        ),
        Index("ix_role_bindings_principal", "org_id", "principal_id"),
    )

    org_id: str = Field(primary_key=True, foreign_key="orgs.id", max_length=63)
    id: str = Field(primary_key=True, max_length=63)
    principal_id: str = Field(max_length=63)
    role: str = Field(max_length=32)
    # "" for an org-wide grant (not NULL, so the unique constraint holds).
    team_id: str = Field(default="", max_length=63)
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class CasbinRuleRow(SQLModel, table=True):
    """Casbin policy lines, read by the async SQLAlchemy adapter."""

    __tablename__ = "casbin_rule"

    id: int | None = Field(default=None, primary_key=True)
    ptype: str = Field(max_length=255)
    v0: str | None = Field(default=None, max_length=255)
    v1: str | None = Field(default=None, max_length=255)
    v2: str | None = Field(default=None, max_length=255)
    v3: str | None = Field(default=None, max_length=255)
    v4: str | None = Field(default=None, max_length=255)
    v5: str | None = Field(default=None, max_length=255)

    def __str__(self) -> str:
        # The adapter parses this "ptype, v0, v1, ..." form when loading.
        values = [self.v0, self.v1, self.v2, self.v3, self.v4, self.v5]
        present = [v for v in values if v is not None]
        return ", ".join([self.ptype, *present])


class AuthEpochRow(SQLModel, table=True):
    """One row whose counter every key, role or policy change increments.

    Every process polls it and drops its auth caches when it moves, so a
    revocation or role change made anywhere takes effect everywhere.
    """

    __tablename__ = "auth_epoch"

    id: int = Field(default=1, primary_key=True)
    epoch: int = 0
