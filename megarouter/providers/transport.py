"""httpx's API on aiohttp's connection pool.

Every adapter speaks to its provider through :class:`httpx.AsyncClient`,
which is the API plugin authors know. Under it, httpcore's connection pool
checks every pooled connection and polls idle sockets on each request; on
loopback that costs several times the CPU of aiohttp's pool for the same
request (``scripts/bench_http_clients.py`` has the figures). This transport
keeps httpx's client, request and response objects and hands the wire to
aiohttp.

It changes nothing that a provider could see. The request's headers are
sent as httpx built them, names, values and order (AWS SigV4 signs some of
them), and aiohttp adds none of its own; the request target is the path and
query exactly as httpx encoded them (SigV4 signs the path too); a compressed
response body reaches httpx still compressed, so httpx decodes it as on its
own transport. aiohttp's errors become the httpx errors that httpx's own
transport raises for the same failure (a refused connection is
``ConnectError``, a silent server ``ReadTimeout``, a body cut short
``RemoteProtocolError``), so adapters translate them as before.

:meth:`AiohttpTransport.send_whole` and :meth:`AiohttpTransport.open_stream`
take a request already in wire form, for :func:`megarouter.providers.http.post_json`
and ``stream_json``, which skip httpx's request building and send pipeline on
the hot path and send the same bytes.

Proxies come from the environment as httpx's own transport takes them
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, read when the
transport is made). httpx itself ignores them once it is given a transport,
so this transport applies them.

Two of httpx's knobs have no aiohttp counterpart: the ``write`` timeout
(aiohttp buffers writes without one; request bodies here are small) and
``Limits.max_keepalive_connections`` (aiohttp keeps every idle connection up
to ``max_connections``, for ``keepalive_expiry`` seconds; 0 still turns
keep-alive off).
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType

import aiohttp
import httpx
from yarl import URL

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

# aiohttp adds these when a request lacks them; httpx's request is sent as is.
_SKIP_AUTO_HEADERS = frozenset(
    {"Accept", "Accept-Encoding", "Content-Type", "User-Agent"}
)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An :class:`httpx.AsyncBaseTransport` over one pooled aiohttp session.

    The session is opened on first use, on the event loop that uses it, and
    closed by :meth:`aclose` (which ``httpx.AsyncClient.aclose`` calls).

    Args:
        limits: ``max_connections`` caps the connections open at once over
            all hosts (None: no cap); ``keepalive_expiry`` is how long an
            idle connection stays pooled; ``max_keepalive_connections=0``
            closes every connection after its response.

    TLS is verified against the certificates httpx itself would use.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        # scheme (or "all", "no") -> proxy URL, as urllib reads them from
        # HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY.
        self._proxies = dict(
            urllib.request.getproxies_environment() if proxies is None else proxies
        )
        self._proxy_for: dict[tuple[str, str], URL | None] = {}

    async def __aenter__(self) -> AiohttpTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its response, body not yet read."""
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        headers, chunked = _wire_headers(request)
        response = await self._send(
            request.method,
            _wire_url(request.url),
            headers,
            _wire_body(request),
            timeouts,
            chunked=chunked,
            request=request,
        )
        return _response(response, _ResponseStream(request, response))

    async def open_stream(
        self,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeouts: Mapping[str, float | None],
        request: Callable[[], httpx.Request] | None = None,
    ) -> httpx.Response:
        """Send a request already in wire form; its body is read as it comes.

        The short path under :func:`megarouter.providers.http.stream_json`:
        no :class:`httpx.Request` is built. ``headers`` go out as given, in
        order; aiohttp adds only what is missing of Host and Content-Length.
        Errors are the httpx errors :meth:`handle_async_request` raises,
        without a request attached. ``request`` builds the
        :class:`httpx.Request` that ``response.request`` returns, the first
        time it is read. Close the response when done.
        """
        response = await self._send(method, url, headers, body, timeouts)
        return _response(response, _ResponseStream(None, response), request)

    async def send_whole(
        self,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeouts: Mapping[str, float | None],
        request: Callable[[], httpx.Request] | None = None,
    ) -> httpx.Response:
        """As :meth:`open_stream`, with the whole body read before it returns.

        The short path under :func:`megarouter.providers.http.post_json`.
        The connection is back in the pool when this returns, or dropped
        when the caller is cancelled half way.
        """
        response = await self._send(method, url, headers, body, timeouts)
        try:
            with _translate_errors(None, reading=True):
                content = await response.read()
        except BaseException:
            response.close()  # mid-body: the connection cannot be reused
            raise
        response.release()
        # Still encoded: httpx decodes it by the response's own headers.
        return _response(response, content, request)

    async def _send(
        self,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterable[bytes] | None,
        timeouts: Mapping[str, float | None],
        *,
        chunked: bool = False,
        request: httpx.Request | None = None,
    ) -> aiohttp.ClientResponse:
        session = self._session or self._open()
        started = time.monotonic()
        with _translate_errors(request, reading=False):
            try:
                return await session.request(
                    method,
                    url,
                    proxy=self._proxy(url),
                    headers=headers,
                    data=body,
                    chunked=chunked or None,  # aiohttp chunks on any non-None
                    timeout=_client_timeout(timeouts),
                    allow_redirects=False,  # httpx follows redirects itself
                )
            except aiohttp.ConnectionTimeoutError as exc:
                waited = time.monotonic() - started
                raise _connect_timeout(request, timeouts, waited) from exc

    def _proxy(self, url: URL) -> URL | None:
        """The proxy for ``url``'s scheme and host, None when it goes direct."""
        key = (url.scheme, url.host_port_subcomponent or "")
        if key not in self._proxy_for:
            address = self._proxies.get(url.scheme) or self._proxies.get("all")
            # NO_PROXY as urllib matches it (suffixes, host:port, "*");
            # in the standard library, if not in typeshed.
            bypass = address and urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
                key[1], self._proxies
            )
            self._proxy_for[key] = URL(address) if address and not bypass else None
        return self._proxy_for[key]

    async def aclose(self) -> None:
        """Close every pooled connection."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        limits = self._limits
        no_keepalive = limits.max_keepalive_connections == 0
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,  # 0: no cap
            limit_per_host=0,
            force_close=no_keepalive,
            keepalive_timeout=None if no_keepalive else limits.keepalive_expiry,
            ssl=httpx.create_ssl_context(),  # httpx's CA bundle, not the OS's
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps cookies itself
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            trust_env=False,  # proxies from _proxy(); no ~/.netrc credentials
        )
        return self._session


def _response(
    response: aiohttp.ClientResponse,
    body: bytes | httpx.AsyncByteStream,
    request: Callable[[], httpx.Request] | None = None,
) -> httpx.Response:
    """httpx's response for aiohttp's: a body in memory, or one to stream."""
    version = response.version or aiohttp.HttpVersion11
    extensions = {
        "http_version": f"HTTP/{version.major}.{version.minor}".encode(),
        "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
    }
    kind = httpx.Response if request is None else _LazyRequestResponse
    if isinstance(body, bytes):
        built = kind(
            response.status,
            headers=response.raw_headers,
            content=body,
            extensions=extensions,
        )
    else:
        built = kind(
            response.status,
            headers=response.raw_headers,
            stream=body,
            extensions=extensions,
        )
    if isinstance(built, _LazyRequestResponse):
        built.request_factory = request
    return built


class _LazyRequestResponse(httpx.Response):
    """A response whose ``request`` is built only if someone reads it.

    The short path sends no :class:`httpx.Request`; building one for every
    call would cost much of what the path saves, and adapters rarely look.
    ``raise_for_status()`` and error messages that name the URL do.
    """

    request_factory: Callable[[], httpx.Request] | None = None

    @property
    def request(self) -> httpx.Request:
        if self._request is None and self.request_factory is not None:
            self._request = self.request_factory()
        return super().request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value

    def raise_for_status(self) -> httpx.Response:
        _ = self.request  # httpx reads the attribute behind the property
        return super().raise_for_status()


class _ResponseStream(httpx.AsyncByteStream):
    """A response body handed on from aiohttp as each piece arrives.

    A chunked body comes one HTTP chunk at a time, as httpx's own transport
    hands it on, even when several chunks arrived in one read: stream
    parsers see an event the moment its chunk is complete, and see the
    events before a failing one before the failure.
    """

    def __init__(
        self, request: httpx.Request | None, response: aiohttp.ClientResponse
    ) -> None:
        self._request = request
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _translate_errors(self._request, reading=True):
            async for data, _ in self._response.content.iter_chunks():
                if data:  # b"" only marks the end of an HTTP chunk
                    yield data

    async def aclose(self) -> None:
        # Read to the end, the connection goes back to the pool. Closed
        # before the end, the connection is dropped: that is how a provider
        # learns that the caller is gone, and stops generating.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _wire_headers(request: httpx.Request) -> tuple[list[tuple[str, str]], bool]:
    """The request's headers for aiohttp, and whether to send it chunked.

    aiohttp writes ``Transfer-Encoding: chunked`` itself when asked to chunk,
    and refuses the header otherwise, so that one header is left to it; it
    puts it last, where httpx puts it too.
    """
    headers = []
    chunked = False
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
            continue
        headers.append((_text(name), _text(value)))
    return headers, chunked


def _text(raw: bytes) -> str:
    """A header's bytes as the str aiohttp encodes back to the same bytes."""
    try:
        return raw.decode("utf-8")  # aiohttp writes headers as UTF-8
    except UnicodeDecodeError:  # not UTF-8: the closest HTTP allows
        return raw.decode("latin-1")


def _wire_url(url: httpx.URL) -> URL:
    """The URL as httpx encoded it, credentials left out.

    httpx has already turned userinfo into an Authorization header; aiohttp
    would refuse that header beside a URL that still carries credentials.
    """
    wire = URL(str(url), encoded=True)
    if wire.raw_user is not None or wire.raw_password is not None:
        wire = wire.with_user(None)
    return wire


def _wire_body(request: httpx.Request) -> bytes | AsyncIterable[bytes] | None:
    """The body already in memory, or the stream to send as it comes."""
    try:
        return request.content or None
    except httpx.RequestNotRead:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        return request.stream


def _client_timeout(timeouts: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's timeouts as aiohttp's.

    aiohttp's ``connect`` covers the wait for a free pooled connection and
    opening one, so it gets httpx's ``pool`` plus ``connect``;
    ``sock_connect`` is the connect alone; ``sock_read`` is the longest
    silence between two reads, as httpx's ``read`` is. No total: a stream
    may rightly last longer than any one timeout.
    """
    pool, connect = timeouts.get("pool"), timeouts.get("connect")
    return aiohttp.ClientTimeout(
        total=None,
        connect=None if pool is None or connect is None else pool + connect,
        sock_connect=connect,
        sock_read=timeouts.get("read"),
    )


def _connect_timeout(
    request: httpx.Request | None, timeouts: Mapping[str, float | None], waited: float
) -> httpx.TimeoutException:
    """PoolTimeout when the pool's budget ran out, else ConnectTimeout.

    aiohttp raises one error for both. The connect alone has its own shorter
    limit (``sock_connect``), so a wait that reached pool plus connect was
    spent mostly waiting for a free connection.
    """
    pool, connect = timeouts.get("pool"), timeouts.get("connect")
    if pool is not None and connect is not None and waited >= pool + connect:
        return httpx.PoolTimeout("no connection free in time", request=request)
    return httpx.ConnectTimeout("connect timed out", request=request)


@contextlib.contextmanager
def _translate_errors(
    request: httpx.Request | None, *, reading: bool
) -> Iterator[None]:
    """aiohttp's errors as the httpx errors httpx's own transport raises."""
    try:
        yield
    except aiohttp.ServerTimeoutError as exc:  # no data within sock_read
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except TimeoutError as exc:  # only under a total timeout, which is never set
        raise httpx.ReadTimeout("timed out", request=request) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake
        raise httpx.ConnectError(str(exc), request=request) from exc
    except aiohttp.ServerDisconnectedError as exc:
        message = "Server disconnected without sending a response."
        raise httpx.RemoteProtocolError(message, request=request) from exc
    except aiohttp.ClientPayloadError as exc:  # body cut short, reset, malformed
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except aiohttp.ClientResponseError as exc:  # a malformed status line, say
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except (aiohttp.ClientOSError, ConnectionError) as exc:
        writing = not reading and isinstance(exc, aiohttp.ClientConnectionResetError)
        error = httpx.WriteError if writing else httpx.ReadError
        raise error(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.NonHttpUrlClientError as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(str(exc), request=request) from exc
