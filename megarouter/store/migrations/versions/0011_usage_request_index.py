"""usage records: index (org_id, request_id) for feedback and outcome joins

SubmitFeedback finds the record of a call by its request id, and
``megarouter router fit --from-store`` joins prompt samples to records the
same way; without this index both scan the org's whole ledger.

Revision ID: 0011
Revises: 0002
Create Date: 2026-12-04 16:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_usage_org_request", "usage_records", ["org_id", "request_id"])


def downgrade() -> None:
    op.drop_index("ix_usage_org_request", table_name="usage_records")
