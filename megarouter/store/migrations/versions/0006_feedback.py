"""feedback scores per request

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-03 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sa.types.TypeEngine[str]:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", _text(63), nullable=False),
        sa.Column("request_id", _text(128), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("label", _text(128), nullable=False),
        sa.Column("principal_id", _text(63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "request_id", name="uq_feedback_request"),
        sa.CheckConstraint("score >= 0 AND score <= 1", name="ck_feedback_score"),
    )
    op.create_index("ix_feedback_org_created", "feedback", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_org_created", table_name="feedback")
    op.drop_table("feedback")
