"""prompt samples: opt-in prompt texts that feedback turns into training rows

Revision ID: 0010
Revises: 0003
Create Date: 2026-12-04 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prompt_samples",
        sa.Column(
            "org_id",
            sa.String(length=63),
            sa.ForeignKey("orgs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "request_id"),
    )
    # Retention deletes by age across every org.
    op.create_index("ix_prompt_samples_created", "prompt_samples", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_prompt_samples_created", table_name="prompt_samples")
    op.drop_table("prompt_samples")
