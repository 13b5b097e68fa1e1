"""budgets: definitions, per-period spend windows and replica leases

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _micros(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column(
            "org_id",
            sa.String(length=63),
            sa.ForeignKey("orgs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_value", sa.String(length=128), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        _micros("limit_micros"),
        sa.Column("hard", sa.Boolean(), nullable=False),
        _micros("prefer_cheaper_below_micros", nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("create_time"),
        _time("update_time"),
        sa.PrimaryKeyConstraint("org_id", "id"),
    )
    op.create_index(
        "ix_budgets_scope", "budgets", ["org_id", "scope_kind", "scope_value"]
    )
    op.create_table(
        "budget_windows",
        sa.Column("org_id", sa.String(length=63), nullable=False),
        sa.Column("budget_id", sa.String(length=63), nullable=False),
        _time("window_start"),
        _time("window_end", nullable=True),
        _micros("spent_micros"),
        _micros("leased_micros"),
        _micros("written_off_micros"),
        _time("alert_time", nullable=True),
        sa.PrimaryKeyConstraint("org_id", "budget_id", "window_start"),
        sa.ForeignKeyConstraint(
            ["org_id", "budget_id"],
            ["budgets.org_id", "budgets.id"],
            ondelete="CASCADE",
            name="fk_budget_windows_budget",
        ),
    )
    op.create_table(
        "budget_leases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=63), nullable=False),
        sa.Column("budget_id", sa.String(length=63), nullable=False),
        _time("window_start"),
        sa.Column("replica_id", sa.String(length=128), nullable=False),
        _micros("amount_micros"),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["org_id", "budget_id", "window_start"],
            [
                "budget_windows.org_id",
                "budget_windows.budget_id",
                "budget_windows.window_start",
            ],
            ondelete="CASCADE",
            name="fk_budget_leases_window",
        ),
    )
    op.create_index("ix_budget_leases_expires", "budget_leases", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_budget_leases_expires", table_name="budget_leases")
    op.drop_table("budget_leases")
    op.drop_table("budget_windows")
    op.drop_index("ix_budgets_scope", table_name="budgets")
    op.drop_table("budgets")
