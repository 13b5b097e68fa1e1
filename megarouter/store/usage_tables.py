"""The usage ledger's table: one row per completion or embedding call.

Rows are only ever inserted (see :mod:`megarouter.governance.ledger`). The
indexes serve the usage reports, which always filter by organisation and
usually by a time range, a team, a model or a scenario.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from megarouter.store.tables import _timestamp


class UsageRow(SQLModel, table=True):
    """One call's usage, as stored.

    ``client_request_id`` is NULL when the caller gave no idempotency key, so
    that the unique constraint on ``(org_id, client_request_id)`` holds only
    among calls that did: both SQLite and PostgreSQL treat NULLs as distinct.
    """

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("org_id", "client_request_id", name="uq_usage_client_request"),
        Index("ix_usage_org_created", "org_id", "created_at"),
        Index("ix_usage_org_team_created", "org_id", "team_id", "created_at"),
        Index("ix_usage_org_model", "org_id", "model"),
        Index("ix_usage_org_scenario", "org_id", "scenario"),
        # Feedback and outcome joins find a call by its request id.
        Index("ix_usage_org_request", "org_id", "request_id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    request_id: str = Field(default="", max_length=128)
    client_request_id: str | None = Field(default=None, max_length=128)
    org_id: str = Field(max_length=63)
    team_id: str = Field(default="", max_length=63)
    principal_id: str = Field(max_length=63)
    key_id: str = Field(max_length=63)
    scenario: str = Field(default="", max_length=128)
    kind: str = Field(max_length=16)
    requested_model: str = Field(max_length=255)
    model: str = Field(default="", max_length=255)
    provider: str = Field(default="", max_length=128)
    task_type: str = Field(default="", max_length=64)
    input_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    cost_micros: int = Field(default=0, sa_type=BigInteger)
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    status: str = Field(max_length=32)
    attempts: str = Field(default="[]", sa_type=Text)  # JSON list of attempts
    route_reason: str = Field(default="", sa_type=Text)
    response: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_column=_timestamp())
