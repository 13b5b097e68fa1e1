"""HTTP plumbing shared by every adapter: auth, error mapping, SSE."""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from megarouter.errors import (
    ContentFiltered,
    ContextTooLong,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeout,
)
from megarouter.providers.spec import AuthScheme, Credential, ProviderSpec
from megarouter.providers.transport import AiohttpTransport

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 120.0

TransportKind = Literal["aiohttp", "httpx"]


def new_client(
    spec: ProviderSpec,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_connections: int = 200,
    transport: httpx.AsyncBaseTransport | None = None,
    transport_kind: TransportKind = "aiohttp",
) -> httpx.AsyncClient:
    """The pooled client MegaRouter keeps for one provider.

    Args:
        spec: the provider; its ``base_url`` is the client's.
        connect_timeout: seconds to open a connection.
        read_timeout: seconds of silence allowed while reading, and to wait
            for a free pooled connection.
        max_connections: the most connections open at once; idle ones stay
            pooled for httpx's default keep-alive expiry.
        transport: the transport to use, overriding ``transport_kind``.
        transport_kind: ``"aiohttp"`` puts httpx's API on aiohttp's pool
            (:class:`~megarouter.providers.transport.AiohttpTransport`),
            which costs much less CPU per request; ``"httpx"`` keeps
            httpx's own httpcore pool.
    """
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    if transport is None:
        transport = _transport(transport_kind, limits)
    return httpx.AsyncClient(
        base_url=spec.base_url,
        timeout=timeout,
        limits=limits,
        transport=transport,
        headers={"user-agent": "megarouter"},
    )


def _transport(
    kind: TransportKind, limits: httpx.Limits
) -> httpx.AsyncBaseTransport | None:
    """The transport of ``kind``; None lets httpx build its own."""
    if kind == "aiohttp":
        return AiohttpTransport(limits=limits)
    if kind == "httpx":
        return None
    raise ValueError(f"unknown HTTP transport {kind!r}; use 'aiohttp' or 'httpx'")


def auth_headers(spec: ProviderSpec, credential: Credential | None) -> dict[str, str]:
    """Headers that carry ``credential`` the way ``spec`` says."""
    if credential is None or not credential.api_key:
        return {}
    if spec.auth is AuthScheme.BEARER:
        return {"authorization": f"Bearer {credential.api_key}"}
    if spec.auth is AuthScheme.HEADER:
        return {spec.auth_header or "x-api-key": credential.api_key}
    return {}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What a provider's error body said, whatever its shape."""

    message: str
    type: str = ""
    code: str = ""


def read_error_body(payload: bytes) -> ErrorBody:
    """Extract message, type and code from the common error envelopes."""
    try:
        data: Any = json.loads(payload)
    except ValueError:
        text = payload.decode("utf-8", "replace").strip()
        return ErrorBody(text[:500] or "no error body")
    if isinstance(data, list) and data:  # Gemini streams errors as a list
        data = data[0]
    if not isinstance(data, dict):
        return ErrorBody(str(data)[:500])
    err = data.get("error", data)
    if isinstance(err, str):
        return ErrorBody(err, str(data.get("type", "")), str(data.get("code", "")))
    if not isinstance(err, dict):
        return ErrorBody(str(err)[:500])
    message = err.get("message") or data.get("message") or json.dumps(err)[:500]
    kind = err.get("type") or err.get("status") or data.get("type") or ""
    code = err.get("code") or data.get("code") or ""
    return ErrorBody(str(message), str(kind), str(code))


_CONTEXT_HINTS = (
    "context length",
    "context_length",
    "too many tokens",
    "maximum context",
    "prompt is too long",
    "input is too long",
)
_FILTER_HINTS = ("content_filter", "content filter", "safety", "content_policy")


def error_for_status(
    provider: str,
    status: int,
    body: ErrorBody,
    retry_after: float | None = None,
) -> ProviderError:
    """The MegaRouter error for an HTTP error status and its parsed body."""
    text = f"{provider}: HTTP {status}: {body.message}"
    lowered = f"{body.message} {body.type} {body.code}".lower()
    details = {"type": body.type, "code": body.code}
    kwargs: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "details": details,
    }

    if status in (401, 403):
        return ProviderAuthError(text, **kwargs)
    if status == 404:
        return ProviderNotFound(text, **kwargs)
    if status == 429:
        if "insufficient_quota" in lowered:  # billing, not a passing limit
            return ProviderAuthError(text, **kwargs)
        return ProviderRateLimited(text, retry_after=retry_after, **kwargs)
    if status in (503, 529) or "overloaded" in lowered:
        return ProviderOverloaded(text, retry_after=retry_after, **kwargs)
    if status >= 500:
        return ProviderServerError(text, retry_after=retry_after, **kwargs)
    if any(hint in lowered for hint in _CONTEXT_HINTS):
        return ContextTooLong(text, **kwargs)
    if any(hint in lowered for hint in _FILTER_HINTS):
        return ContentFiltered(text, **kwargs)
    if status == 408:
        return ProviderTimeout(text, **kwargs)
    return ProviderBadRequest(text, **kwargs)


async def raise_for_status(provider: str, response: httpx.Response) -> None:
    """Raise the MegaRouter error for a failed response; no-op on 2xx."""
    if response.is_success:
        return
    payload = await response.aread()
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    raise error_for_status(
        provider, response.status_code, read_error_body(payload), retry_after
    )


@contextlib.contextmanager
def translate_transport_errors(provider: str) -> Iterator[None]:
    """Turn httpx's transport errors into MegaRouter provider errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(
            f"{provider}: timed out ({type(exc).__name__})", provider=provider
        ) from exc
    except (
        httpx.ConnectError,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
    ) as exc:
        raise ProviderConnectionError(
            f"{provider}: connection failed ({type(exc).__name__}: {exc})",
            provider=provider,
        ) from exc
    except httpx.HTTPError as exc:
        raise ProviderConnectionError(
            f"{provider}: {type(exc).__name__}: {exc}", provider=provider
        ) from exc


def parse_json(provider: str, payload: bytes) -> Any:
    """Decode a JSON body, or raise a retryable ProviderResponseError."""
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise ProviderResponseError(
            f"{provider}: response is not JSON: {payload[:200]!r}", provider=provider
        ) from exc


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


async def iter_sse(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """Parse a text/event-stream body into events (per the WHATWG spec)."""
    event, data_lines = "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data_lines:
                yield SSEEvent(event or "message", "\n".join(data_lines))
            event, data_lines = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data_lines.append(value)
    if data_lines:
        yield SSEEvent(event or "message", "\n".join(data_lines))


async def iter_ndjson(response: httpx.Response) -> AsyncIterator[Any]:
    """Parse a newline-delimited JSON body (Ollama's stream format)."""
    async for line in response.aiter_lines():
        if line.strip():
            yield json.loads(line)
