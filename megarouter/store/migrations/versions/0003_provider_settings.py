"""provider settings: credentials, enablement and prices per org

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
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
        "provider_credentials",
        _org_id(),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("extra_keys", sa.String(length=2000), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("create_time"),
        _time("update_time"),
        sa.PrimaryKeyConstraint("org_id", "provider"),
    )
    op.create_table(
        "provider_settings",
        _org_id(),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("update_time"),
        sa.PrimaryKeyConstraint("org_id", "provider"),
    )
    op.create_table(
        "model_settings",
        _org_id(),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("input_micros_per_mtok", sa.BigInteger(), nullable=True),
        sa.Column("output_micros_per_mtok", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("update_time"),
        sa.PrimaryKeyConstraint("org_id", "provider", "model"),
    )


def downgrade() -> None:
    op.drop_table("model_settings")
    op.drop_table("provider_settings")
    op.drop_table("provider_credentials")
