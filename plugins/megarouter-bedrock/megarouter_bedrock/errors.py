"""Bedrock's errors, mapped onto MegaRouter's error tree.

AWS names the error in the ``x-amzn-ErrorType`` header (for example
``ThrottlingException:http://internal.amazon.com/coral/...``) or in the
body's ``__type``, and explains it in the body's ``message``. In an event
stream the same errors arrive as exception events whose
``:exception-type`` header spells the name in lower camel case.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from megarouter.errors import (
    ContextTooLong,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from megarouter.providers.http import ErrorBody, error_for_status, parse_retry_after

_ERRORS: dict[str, type[ProviderError]] = {
    "ThrottlingException": ProviderRateLimited,
    "ServiceQuotaExceededException": ProviderRateLimited,
    "TooManyRequestsException": ProviderRateLimited,
    "ServiceUnavailableException": ProviderOverloaded,
    "ModelNotReadyException": ProviderOverloaded,
    "InternalServerException": ProviderServerError,
    "ModelErrorException": ProviderServerError,
    "ModelStreamErrorException": ProviderServerError,
    "ModelTimeoutException": ProviderTimeout,
    "AccessDeniedException": ProviderAuthError,
    "UnrecognizedClientException": ProviderAuthError,
    "InvalidSignatureException": ProviderAuthError,
    "IncompleteSignatureException": ProviderAuthError,
    "MissingAuthenticationTokenException": ProviderAuthError,
    "ExpiredTokenException": ProviderAuthError,
    "ResourceNotFoundException": ProviderNotFound,
}
_CONTEXT_HINTS = (
    "input is too long",
    "too many input tokens",
    "prompt is too long",
    "context window",
    "context length",
    "maximum context",
)


async def raise_for_aws_status(provider: str, response: httpx.Response) -> None:
    """Raise the MegaRouter error for a failed Bedrock response; no-op on 2xx."""
    if response.is_success:
        return
    payload = await response.aread()
    message, body_type = _read_body(payload)
    raise aws_error(
        provider,
        response.status_code,
        response.headers.get("x-amzn-errortype") or body_type,
        message,
        parse_retry_after(response.headers.get("retry-after")),
    )


def aws_error(
    provider: str,
    status: int | None,
    error_type: str,
    message: str,
    retry_after: float | None = None,
) -> ProviderError:
    """The MegaRouter error for an AWS error name and message.

    Args:
        provider: the provider's name, for the message.
        status: the HTTP status, or None for an error inside a stream.
        error_type: the AWS error name in any of its spellings.
        message: what AWS said.
        retry_after: seconds to wait before retrying, if known.

    Returns:
        The error to raise.
    """
    name = _error_name(error_type)
    text = f"{provider}: {name or 'error'} (HTTP {status}): {message}"
    kwargs: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "retry_after": retry_after,
        "details": {"type": name},
    }

    if name == "ValidationException":
        lowered = message.lower()
        if any(hint in lowered for hint in _CONTEXT_HINTS):
            return ContextTooLong(text, **kwargs)
        return ProviderBadRequest(text, **kwargs)
    error_class = _ERRORS.get(name)
    if error_class is not None:
        return error_class(text, **kwargs)
    if status is None:
        return ProviderServerError(text, **kwargs)
    return error_for_status(provider, status, ErrorBody(message, name), retry_after)


def _error_name(error_type: str) -> str:
    """``ThrottlingException`` from any of the spellings AWS uses."""
    name = error_type.split(":")[0].rpartition("#")[2].strip()
    return name[:1].upper() + name[1:]


def _read_body(payload: bytes) -> tuple[str, str]:
    """The message and ``__type`` of an AWS JSON error body."""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace").strip()[:500] or "no error body", ""
    if not isinstance(data, dict):
        return str(data)[:500], ""
    message = data.get("message") or data.get("Message") or json.dumps(data)[:500]
    return str(message), str(data.get("__type", ""))
