"""routing policies and their attachments to orgs, teams and keys

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "org_id",
        sa.String(length=63),
        sa.ForeignKey("orgs.id", ondelete="CASCADE"),
        nullable=False,
    )


def _time(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "routing_policies",
        _org_id(),
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("min_quality", sa.Float(), nullable=True),
        sa.Column("max_cost_micros", sa.BigInteger(), nullable=True),
        sa.Column("max_latency_ms", sa.BigInteger(), nullable=True),
        sa.Column("willingness_to_pay_micros", sa.BigInteger(), nullable=False),
        sa.Column("allowed_models", sa.Text(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("create_time"),
        _time("update_time"),
        sa.PrimaryKeyConstraint("org_id", "id"),
    )
    op.create_table(
        "routing_policy_attachments",
        _org_id(),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("policy_id", sa.String(length=63), nullable=False),
        _time("create_time"),
        sa.PrimaryKeyConstraint("org_id", "target"),
        sa.ForeignKeyConstraint(
            ["org_id", "policy_id"],
            ["routing_policies.org_id", "routing_policies.id"],
            name="fk_routing_policy_attachments_policy",
        ),
    )
    op.create_index(
        "ix_routing_policy_attachments_policy",
        "routing_policy_attachments",
        ["org_id", "policy_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_routing_policy_attachments_policy",
        table_name="routing_policy_attachments",
    )
    op.drop_table("routing_policy_attachments")
    op.drop_table("routing_policies")
