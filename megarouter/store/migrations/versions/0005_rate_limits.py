"""rate limit leases

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-03 18:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column(
            "subject", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        ),
        sa.Column("minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "minute"),
    )
    op.create_index("ix_rate_limit_windows_minute", "rate_limit_windows", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_windows_minute", table_name="rate_limit_windows")
    op.drop_table("rate_limit_windows")
