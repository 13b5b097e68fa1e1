"""The audit log's table: one row per administrative change.

Rows are written in the transaction of the change they describe and never
updated. An event's id starts with its time (microseconds since the epoch,
16 hex digits), so ordering, paging and time ranges all use one index on
``(org_id, id)``. Rows outlive the org they belong to: a deleted org's
history stays readable by platform administrators.

``before`` and ``after`` hold the resource as JSON text with every secret
removed (see :mod:`megarouter.governance.audit`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from megarouter.store.tables import utcnow

AUDIT_ID_LENGTH = 24  # 16 hex digits of time, 8 random


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_id", "org_id", "id"),)

    id: str = Field(primary_key=True, max_length=AUDIT_ID_LENGTH)
    org_id: str = Field(max_length=63)
    time: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False),
    )
    actor: str = Field(max_length=200)  # orgs/{org}/principals/{p}, or ""
    actor_key: str = Field(default="", max_length=255)
    action: str = Field(max_length=64)  # such as "teams.create"
    resource: str = Field(max_length=1024)
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    request_id: str = Field(default="", max_length=128)
