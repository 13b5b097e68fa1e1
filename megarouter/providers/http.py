"""HTTP plumbing shared by every adapter: auth, error mapping, SSE."""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal

import httpx
from httpx._client import UseClientDefault
from httpx._types import TimeoutTypes
from yarl import URL

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
    client = httpx.AsyncClient(
        base_url=spec.base_url,
        timeout=timeout,
        limits=limits,
        transport=transport,
        headers={"user-agent": "megarouter"},
        cookies=_no_cookies(),
    )
    if isinstance(transport, AiohttpTransport):
        _SHORT_PATHS[client] = _ShortPath(transport)
    return client


def _no_cookies() -> CookieJar:
    """A jar that keeps nothing.

    A provider client serves every caller of an org; a cookie one call
    received must not ride along on another caller's call. Provider APIs
    authenticate by header, so refusing cookies loses nothing.
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class _ShortPath:
    """What :func:`post_json` needs to skip httpx for one client.

    The final URL and Host header of each (path, query) the client's
    adapter uses are computed once, by httpx itself, so they are the ones
    ``client.post`` would send.
    """

    def __init__(self, transport: AiohttpTransport) -> None:
        self.transport = transport
        self._targets: dict[
            tuple[str, tuple[tuple[str, str], ...]], _Target | None
        ] = {}

    def target(
        self, client: httpx.AsyncClient, url: str, params: Mapping[str, str]
    ) -> _Target | None:
        """Where to send, or None when only httpx knows how (credentials in
        the URL become an Authorization header there)."""
        key = (url, tuple(params.items()))
        found = self._targets.get(key, _UNSEEN)
        if found is _UNSEEN:
            request = client.build_request("POST", url, params=params)
            found = None
            if not request.url.userinfo:
                wire_url = URL(str(request.url), encoded=True)
                found = _Target(wire_url, request.headers["host"])
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()  # model ids in paths: bounded, but be safe
            self._targets[key] = found
        return found


@dataclass(frozen=True, slots=True)
class _Target:
    url: URL
    host: str


_MAX_TARGETS = 4096
_UNSEEN = _Target(URL(), "")
_SHORT_PATHS: weakref.WeakKeyDictionary[httpx.AsyncClient, _ShortPath] = (
    weakref.WeakKeyDictionary()
)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Any,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: TimeoutTypes | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
) -> httpx.Response:
    """POST ``body`` as JSON and return the whole response.

    The same request, byte for byte, as ``await client.post(url,
    json=body, params=params, headers=headers, timeout=timeout)``, and the
    same response and errors (errors carry no request; the response's
    ``request`` is built the first time it is read). On a client from
    :func:`new_client` with the aiohttp transport it goes straight to
    aiohttp and skips building httpx's request and running its send
    pipeline, which is most of httpx's CPU per call. Any other client (a
    test's ``MockTransport``, say), or one with event hooks or auth, takes
    ``client.post``.
    """
    short, target = _short_path(client, url, params or {})
    if short is None or target is None:
        return await client.post(
            url, json=body, params=params, headers=headers, timeout=timeout
        )
    content, wire = _json_request(client, body, headers, target)
    timeouts = _timeouts(client, timeout)
    return await short.transport.send_whole(
        "POST",
        target.url,
        wire,
        content,
        timeouts,
        _request_factory(target, wire, content, timeouts),
    )


@contextlib.asynccontextmanager
async def stream_json(
    client: httpx.AsyncClient,
    url: str,
    body: Any,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: TimeoutTypes | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` as JSON and stream the response, as ``client.stream``.

    ``async with stream_json(client, url, body) as response`` sends what
    ``client.stream("POST", url, json=body, ...)`` sends and yields a
    response whose body is read as it arrives; leaving the block early drops
    the connection, which tells the provider to stop. The same short path
    and the same fallback as :func:`post_json`.
    """
    short, target = _short_path(client, url, params or {})
    if short is None or target is None:
        async with client.stream(
            "POST", url, json=body, params=params, headers=headers, timeout=timeout
        ) as response:
            yield response
        return
    content, wire = _json_request(client, body, headers, target)
    timeouts = _timeouts(client, timeout)
    response = await short.transport.open_stream(
        "POST",
        target.url,
        wire,
        content,
        timeouts,
        _request_factory(target, wire, content, timeouts),
    )
    try:
        yield response
    finally:
        await response.aclose()


def _short_path(
    client: httpx.AsyncClient, url: str, params: Mapping[str, str]
) -> tuple[_ShortPath | None, _Target | None]:
    short = _SHORT_PATHS.get(client)
    if (
        short is None
        or client.auth is not None
        or client.event_hooks["request"]
        or client.event_hooks["response"]
    ):
        return None, None
    return short, short.target(client, url, params)


def _request_factory(
    target: _Target,
    headers: list[tuple[str, str]],
    content: bytes,
    timeouts: dict[str, float | None],
) -> Callable[[], httpx.Request]:
    """Builds, when asked, the httpx request equal to what was sent."""

    def build() -> httpx.Request:
        return httpx.Request(
            "POST",
            httpx.URL(str(target.url)),
            headers=headers,
            content=content,
            extensions={"timeout": timeouts},
        )

    return build


def _json_request(
    client: httpx.AsyncClient,
    body: Any,
    headers: Mapping[str, str] | None,
    target: _Target,
) -> tuple[bytes, list[tuple[str, str]]]:
    """The body as httpx encodes ``json=``, and the headers to send with it."""
    content = json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    return content, _wire_headers(
        client.headers, headers or {}, target.host, len(content)
    )


def _timeouts(
    client: httpx.AsyncClient, timeout: TimeoutTypes | UseClientDefault
) -> dict[str, float | None]:
    """httpx's reading of ``timeout``: None means none, not the client's."""
    if isinstance(timeout, UseClientDefault):
        return client.timeout.as_dict()
    return httpx.Timeout(timeout).as_dict()


def _wire_headers(
    defaults: httpx.Headers, extra: Mapping[str, str], host: str, length: int
) -> list[tuple[str, str]]:
    """The headers ``client.post(json=...)`` sends, in the order it sends them.

    httpx puts Host first, then the client's headers less those the request
    sets, then the request's, then Content-Length and Content-Type unless
    the request set them.
    """
    given = {name.lower() for name in extra}
    wire = [] if "host" in given else [("Host", host)]
    wire.extend(
        (name.decode(), value.decode())
        for name, value in defaults.raw
        if name.decode().lower() not in given
    )
    wire.extend(extra.items())
    if "content-length" not in given and "transfer-encoding" not in given:
        wire.append(("Content-Length", str(length)))
    if "content-type" not in given:
        wire.append(("Content-Type", "application/json"))
    return wire


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
