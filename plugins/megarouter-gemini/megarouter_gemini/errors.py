"""Google's error bodies, mapped onto MegaRouter's error tree.

Google APIs answer errors as ``{"error": {"code": 429, "message": "...",
"status": "RESOURCE_EXHAUSTED", "details": [...]}}``, where ``details``
holds typed messages such as ``google.rpc.RetryInfo`` (how long to wait)
and ``google.rpc.ErrorInfo`` (a machine-readable reason).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import httpx

from megarouter.errors import (
    ContextTooLong,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
)
from megarouter.providers.http import (
    error_for_status,
    parse_retry_after,
    read_error_body,
)

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_AUTH_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_SERVICE_BLOCKED",
        "ACCESS_TOKEN_EXPIRED",
        "CREDENTIALS_MISSING",
        "SERVICE_DISABLED",
        "CONSUMER_SUSPENDED",
    }
)
_TOKEN_LIMIT = re.compile(r"token count.*exceeds|exceeds the maximum number of tokens")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


async def raise_for_google_status(provider: str, response: httpx.Response) -> None:
    """Raise the MegaRouter error for a failed Google response; no-op on 2xx."""
    if response.is_success:
        return
    payload = await response.aread()
    header_delay = parse_retry_after(response.headers.get("retry-after"))
    raise google_error(provider, response.status_code, payload, header_delay)


def google_error(
    provider: str, status: int, payload: bytes, header_delay: float | None = None
) -> ProviderError:
    """The MegaRouter error for an HTTP error status and a Google error body.

    Args:
        provider: the provider's name, for the message.
        status: the HTTP status code.
        payload: the raw error body.
        header_delay: seconds from a Retry-After header, which wins over the
            body's ``RetryInfo``.

    Returns:
        The error to raise.
    """
    body = read_error_body(payload)
    details = _details(payload)
    retry_after = header_delay if header_delay is not None else _retry_delay(details)
    text = f"{provider}: HTTP {status}: {body.message}"
    kwargs: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "details": {"type": body.type, "code": body.code},
    }

    if _reasons(details) & _AUTH_REASONS or body.type == "UNAUTHENTICATED":
        return ProviderAuthError(text, **kwargs)
    if body.type == "INVALID_ARGUMENT" and _TOKEN_LIMIT.search(body.message):
        return ContextTooLong(text, **kwargs)
    if status == 504 or body.type == "DEADLINE_EXCEEDED":
        return ProviderTimeout(text, retry_after=retry_after, **kwargs)
    return error_for_status(provider, status, body, retry_after)


def _details(payload: bytes) -> Sequence[dict[str, Any]]:
    """The ``error.details`` list, or nothing when the body has none."""
    try:
        data = json.loads(payload)
    except ValueError:
        return ()
    if isinstance(data, list) and data:  # non-SSE streams wrap it in a list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return ()
    return [item for item in details if isinstance(item, dict)]


def _retry_delay(details: Sequence[dict[str, Any]]) -> float | None:
    """Seconds from a ``RetryInfo`` detail (a protobuf Duration like "30s")."""
    for item in details:
        if item.get("@type") == _RETRY_INFO:
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _reasons(details: Sequence[dict[str, Any]]) -> set[str]:
    return {
        str(item.get("reason", ""))
        for item in details
        if item.get("@type") == _ERROR_INFO
    }
