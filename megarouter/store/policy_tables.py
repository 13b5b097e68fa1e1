"""Tables of named routing policies and where they are attached.

A policy belongs to an org and is named ``orgs/{org}/routingPolicies/{id}``.
An attachment says which policy applies to one target of the same org: the
org itself, a team or an API key, each named by its resource name. A target
has at most one policy, and a policy cannot be deleted while attached (the
foreign key refuses it even if a check is ever skipped).

Money is integer micro-dollars: the cost cap and the willingness to pay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from megarouter.store.tables import utcnow

TARGET_LENGTH = 255


def _timestamp() -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=False)


def _org_id() -> Any:  # a FieldInfo that SQLModel reads as the column
    """The org column: part of the key, deleted with the org."""
    return Field(
        sa_column=Column(
            String(63), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
        )
    )


class RoutingPolicyRow(SQLModel, table=True):
    """One named policy; ``allowed_models`` is a JSON list of patterns."""

    __tablename__ = "routing_policies"

    org_id: str = _org_id()
    id: str = Field(primary_key=True, max_length=63)
    description: str = Field(default="", max_length=2000)
    strategy: str = Field(max_length=32)
    min_quality: float | None = None
    max_cost_micros: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    max_latency_ms: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    willingness_to_pay_micros: int = Field(sa_column=Column(BigInteger, nullable=False))
    allowed_models: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    max_attempts: int
    version: int = 1
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class RoutingPolicyAttachmentRow(SQLModel, table=True):
    """The policy that applies to one org, team or API key."""

    __tablename__ = "routing_policy_attachments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "policy_id"],
            ["routing_policies.org_id", "routing_policies.id"],
            name="fk_routing_policy_attachments_policy",
        ),
        Index("ix_routing_policy_attachments_policy", "org_id", "policy_id"),
    )

    org_id: str = _org_id()
    target: str = Field(primary_key=True, max_length=TARGET_LENGTH)
    policy_id: str = Field(max_length=63)
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
