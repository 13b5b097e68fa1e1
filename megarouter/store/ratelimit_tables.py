"""The table of rate-limit leases: what replicas took from each minute.

One row per (subject, minute): the requests and tokens that replicas have
leased from that minute's allowance, between them. A replica leases with a
conditional UPDATE that keeps both under the limit, then spends its share
in memory (see :mod:`megarouter.governance.ratelimit_leases`). Rows of
minutes that have ended are deleted as replicas move on.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

SUBJECT_LENGTH = 255


class RateLimitWindowRow(SQLModel, table=True):
    """Requests and tokens leased from one subject's allowance in one minute."""

    __tablename__ = "rate_limit_windows"
    __table_args__ = (Index("ix_rate_limit_windows_minute", "minute"),)

    subject: str = Field(primary_key=True, max_length=SUBJECT_LENGTH)
    # Minutes since the Unix epoch; a BIGINT so it can never overflow.
    minute: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False)
    )
    requests: int = Field(default=0, sa_type=BigInteger)
    tokens: int = Field(default=0, sa_type=BigInteger)
