"""usage ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 17:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", _text(64), nullable=False),
        sa.Column("request_id", _text(128), nullable=False),
        sa.Column("client_request_id", _text(128), nullable=True),
        sa.Column("org_id", _text(63), nullable=False),
        sa.Column("team_id", _text(63), nullable=False),
        sa.Column("principal_id", _text(63), nullable=False),
        sa.Column("key_id", _text(63), nullable=False),
        sa.Column("scenario", _text(128), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("requested_model", _text(255), nullable=False),
        sa.Column("model", _text(255), nullable=False),
        sa.Column("provider", _text(128), nullable=False),
        sa.Column("task_type", _text(64), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=False),
        sa.Column("status", _text(32), nullable=False),
        sa.Column("attempts", sa.Text(), nullable=False),
        sa.Column("route_reason", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # client_request_id is NULL when absent, and NULLs never collide.
        sa.UniqueConstraint(
            "org_id", "client_request_id", name="uq_usage_client_request"
        ),
    )
    op.create_index("ix_usage_org_created", "usage_records", ["org_id", "created_at"])
    op.create_index(
        "ix_usage_org_team_created",
        "usage_records",
        ["org_id", "team_id", "created_at"],
    )
    op.create_index("ix_usage_org_model", "usage_records", ["org_id", "model"])
    op.create_index("ix_usage_org_scenario", "usage_records", ["org_id", "scenario"])


def downgrade() -> None:
    op.drop_index("ix_usage_org_scenario", table_name="usage_records")
    op.drop_index("ix_usage_org_model", table_name="usage_records")
    op.drop_index("ix_usage_org_team_created", table_name="usage_records")
    op.drop_index("ix_usage_org_created", table_name="usage_records")
    op.drop_table("usage_records")
