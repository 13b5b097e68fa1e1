"""The prompt samples table: the text the router read, for a sample of calls.

Stored only when an operator opts in (``outcome_prompt_sample_rate``), so
that callers' feedback can later be turned into training rows for the
quality predictor (``megarouter router fit --from-store``). A sample is keyed
like the usage record and the feedback it joins: ``(org_id, request_id)``.
Rows go when their org is deleted, when they pass the retention period, or
when an operator prunes them (``megarouter db prune-prompts``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from megarouter.store.tables import _timestamp


def _org_id() -> Any:  # a FieldInfo that SQLModel reads as the column
    """The org column: part of the key, deleted with the org."""
    return Field(
        sa_column=Column(
            String(63), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
        )
    )


class PromptSampleRow(SQLModel, table=True):
    """The prompt text of one sampled call (the tail the router featurises)."""

    __tablename__ = "prompt_samples"
    __table_args__ = (Index("ix_prompt_samples_created", "created_at"),)

    org_id: str = _org_id()
    request_id: str = Field(primary_key=True, max_length=128)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_timestamp())
