"""What the current call is, for code that must not import gRPC.

The request interceptor binds the request id of each RPC here when the call
starts; each RPC runs in its own task, so the binding ends with the call.
Domain code (the audit trail, for one) reads it without knowing about gRPC.
"""

from __future__ import annotations

from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("megarouter_request_id", default="")


def bind_request_id(request_id: str) -> None:
    """Make ``request_id`` the current call's request id."""
    _request_id.set(request_id)


def current_request_id() -> str:
    """The current call's request id; "" outside a call."""
    return _request_id.get()
