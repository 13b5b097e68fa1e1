"""What one call used, by whom, for what, at what cost.

A :class:`UsageRecord` is written for every completion and embedding call,
successful or not, and the caller is answered only once it is durable (see
:mod:`megarouter.governance.ledger`).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime


class CallKind(enum.StrEnum):
    COMPLETE = "complete"
    STREAM = "stream"
    EMBED = "embed"


class CallStatus(enum.StrEnum):
    """How a call ended; mirrors the gRPC code names where they apply."""

    OK = "OK"
    CANCELLED = "CANCELLED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    STREAM_BROKEN = "STREAM_BROKEN"  # failed after some tokens were sent


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at one provider model during a call."""

    provider: str
    model: str
    ok: bool
    error_kind: str = ""  # the MegaRouter error class, such as ProviderTimeout
    error: str = ""  # its message, without secrets
    latency_ms: float = 0.0


def new_record_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class UsageRecord:
    """One call's usage.

    Attributes:
        id: unique id of the record (hex uuid).
        request_id: the RPC's request id (x-request-id).
        client_request_id: the caller's idempotency key, or "".
        org_id, team_id, principal_id, key_id: who called.
        scenario: the caller's analytics tag, or "".
        kind: complete, stream or embed.
        requested_model: what the caller asked for ("auto", an id, an alias).
        model: the catalog id that answered ("provider/model"), or "".
        provider: the provider that answered, or "".
        task_type: the task type the router saw.
        input_tokens, output_tokens: tokens billed.
        cost_micros: the cost in micro-dollars.
        latency_ms: from the call's start to its end.
        ttft_ms: time to the first token of a stream (0 otherwise).
        status: how the call ended.
        attempts: every provider attempt, in order.
        route_reason: the router's one-line reason for its choice.
        response: the answer, serialised, kept for idempotent retries when
            ``client_request_id`` is set ("" otherwise).
        created_at: when the call started (UTC).
    """

    org_id: str
    principal_id: str
    key_id: str
    kind: CallKind
    requested_model: str
    status: CallStatus
    team_id: str = ""
    request_id: str = ""
    client_request_id: str = ""
    scenario: str = ""
    model: str = ""
    provider: str = ""
    task_type: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    route_reason: str = ""
    response: str = ""
    id: str = field(default_factory=new_record_id)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
