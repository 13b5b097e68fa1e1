"""The feedback table: one score per answered request, from the caller.

A caller rates an earlier response through ``SubmitFeedback``; the score
teaches the router and feeds the value-per-scenario report (see
:mod:`megarouter.governance.analytics`). A request is rated at most once per
org: the row is keyed by ``(org_id, request_id)``, the same request id the
usage ledger stores, which is how a score finds its call's cost.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from megarouter.store.tables import _timestamp, utcnow


class FeedbackRow(SQLModel, table=True):
    """One caller's score for one earlier response.

    ``score`` runs from 0 (useless) to 1 (exactly what was needed); a
    response scoring 0.5 or more counts as a good outcome in the reports.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("org_id", "request_id", name="uq_feedback_request"),
        CheckConstraint("score >= 0 AND score <= 1", name="ck_feedback_score"),
        Index("ix_feedback_org_created", "org_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(max_length=63)
    request_id: str = Field(max_length=128)
    score: float
    label: str = Field(default="", max_length=128)
    principal_id: str = Field(default="", max_length=63)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
