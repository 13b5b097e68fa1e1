"""Budget tables: definitions, one spend row per budget period, and leases.

``budget_windows`` holds, for each budget and period (window), the settled
spend and the sum of the slices replicas have leased and not yet settled or
returned. A replica leases with one conditional UPDATE of that row, so
``spent_micros + leased_micros`` never passes a hard budget's limit. Each
outstanding lease is a ``budget_leases`` row that its replica renews; one
whose replica died expires and is written off as spent (see
:mod:`megarouter.governance.budget_leases`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
)
from sqlmodel import Field, SQLModel

from megarouter.store.tables import _timestamp, utcnow


class BudgetRow(SQLModel, table=True):
    """One budget: a spending limit on one scope of an org, per period."""

    __tablename__ = "budgets"
    __table_args__ = (Index("ix_budgets_scope", "org_id", "scope_kind", "scope_value"),)

    # Part of the key; an org's budgets, windows and leases go with it.
    org_id: str = Field(
        sa_column=Column(
            String(63), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    id: str = Field(primary_key=True, max_length=63)
    scope_kind: str = Field(max_length=16)  # org, team, principal, key, scenario
    scope_value: str = Field(default="", max_length=128)  # "" for the org
    period: str = Field(max_length=16)  # daily, weekly, monthly, lifetime
    limit_micros: int = Field(sa_type=BigInteger)
    hard: bool = True
    prefer_cheaper_below_micros: int | None = Field(default=None, sa_type=BigInteger)
    display_name: str = Field(default="", max_length=200)
    version: int = 1
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class BudgetWindowRow(SQLModel, table=True):
    """A budget's spend in one period, starting at ``window_start`` (UTC)."""

    __tablename__ = "budget_windows"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "budget_id"],
            ["budgets.org_id", "budgets.id"],
            ondelete="CASCADE",
            name="fk_budget_windows_budget",
        ),
    )

    org_id: str = Field(primary_key=True, max_length=63)
    budget_id: str = Field(primary_key=True, max_length=63)
    window_start: datetime = Field(
        sa_column=Column(DateTime(timezone=True), primary_key=True)
    )
    window_end: datetime | None = Field(
        default=None, sa_column=_timestamp(nullable=True)
    )
    spent_micros: int = Field(default=0, sa_type=BigInteger)  # settled
    leased_micros: int = Field(default=0, sa_type=BigInteger)  # outstanding
    # The part of spent_micros written off from leases whose replica died.
    written_off_micros: int = Field(default=0, sa_type=BigInteger)
    alert_time: datetime | None = Field(
        default=None, sa_column=_timestamp(nullable=True)
    )


class BudgetLeaseRow(SQLModel, table=True):
    """The slice of one budget window that one replica holds."""

    __tablename__ = "budget_leases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "budget_id", "window_start"],
            [
                "budget_windows.org_id",
                "budget_windows.budget_id",
                "budget_windows.window_start",
            ],
            ondelete="CASCADE",
            name="fk_budget_leases_window",
        ),
        Index("ix_budget_leases_expires", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    org_id: str = Field(max_length=63)
    budget_id: str = Field(max_length=63)
    window_start: datetime = Field(sa_column=_timestamp())
    replica_id: str = Field(max_length=128)
    amount_micros: int = Field(default=0, sa_type=BigInteger)
    expires_at: datetime = Field(sa_column=_timestamp())
