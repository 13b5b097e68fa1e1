"""The table of configured rate limits: requests and tokens per minute.

One row per rate limit of an org, on a team or on an API key. The counters
that enforce them live elsewhere (:mod:`megarouter.store.ratelimit_tables`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from megarouter.store.tables import _timestamp, utcnow


class RateLimitConfigRow(SQLModel, table=True):
    """One rate limit: requests and tokens per minute for a team or a key."""

    __tablename__ = "rate_limit_configs"
    __table_args__ = (
        UniqueConstraint("org_id", "target", name="uq_rate_limit_configs_target"),
    )

    # Part of the key; an org's rate limits go with it.
    org_id: str = Field(
        sa_column=Column(
            String(63), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    id: str = Field(primary_key=True, max_length=63)
    target: str = Field(max_length=255)  # the team's or key's resource name
    target_kind: str = Field(max_length=8)  # team or key
    target_id: str = Field(max_length=63)  # the team id or key id
    requests_per_minute: int | None = Field(default=None, sa_type=BigInteger)
    tokens_per_minute: int | None = Field(default=None, sa_type=BigInteger)
    version: int = 1
    create_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    update_time: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
