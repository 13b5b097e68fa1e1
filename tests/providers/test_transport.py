"""The aiohttp transport under httpx, against a raw HTTP/1.1 server on loopback.

The server records every request's bytes as they came off the socket and
answers with bytes each test writes itself, so the tests see exactly what a
provider would: header order and case, the encoded path, chunk boundaries,
connections opened, reused and dropped. Where behaviour must match httpx's
own transport, the same test runs on both (``TransportKind``) and expects
the same outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import ipaddress
import json
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from megarouter.errors import ProviderConnectionError, ProviderTimeout
from megarouter.providers.http import (
    TransportKind,
    new_client,
    post_json,
    stream_json,
    translate_transport_errors,
)
from megarouter.providers.spec import ProviderSpec
from megarouter.providers.transport import AiohttpTransport
from megarouter.testing.fake_http import free_port

KINDS = get_args(TransportKind)
WAIT = 5.0  # seconds a test waits for something that should happen at once
SHORT = 0.2  # seconds: the timeouts that tests run out


@dataclass(slots=True)
class RawRequest:
    head: bytes  # the request line and headers, through the blank line
    body: bytes  # as framed on the wire (chunk sizes included)
    connection: int  # which connection, counted from 1, carried it

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    @property
    def header_lines(self) -> list[bytes]:
        return self.head.rstrip(b"\r\n").split(b"\r\n")[1:]


Respond = Callable[
    [RawRequest, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]
]


class RawServer:
    """An HTTP/1.1 server that records raw requests and writes raw answers.

    Attributes:
        requests: every request, in order of arrival.
        connections: how many connections were accepted.
        closed: numbers of the connections the client closed.
    """

    def __init__(self, respond: Respond, tls: ssl.SSLContext | None = None) -> None:
        self._respond = respond
        self._tls = tls
        self.requests: list[RawRequest] = []
        self.connections = 0
        self.closed: list[int] = []
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self._tls
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._handlers.values():
            writer.transport.abort()  # handlers waiting on the client end now
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=WAIT)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        number = self.connections
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        try:
            while not writer.is_closing():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break  # the client closed the connection
                request = RawRequest(head, await read_body(reader, head), number)
                self.requests.append(request)
                await self._respond(request, reader, writer)
        finally:
            self.closed.append(number)
            writer.close()


async def read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """The request body as framed on the wire."""
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        raw = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.strip(), 16)
            raw += size_line + await reader.readexactly(size + 2)
            if size == 0:
                return raw
    for line in lowered.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    return b""


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    """A whole response with a Content-Length."""
    lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


END = b"0\r\n\r\n"


async def until_client_leaves(reader: asyncio.StreamReader) -> None:
    """Wait, answering nothing, until the client closes the connection."""
    with contextlib.suppress(ConnectionResetError):  # a reset is a close too
        while await reader.read(1024):
            pass


async def answer_ok(
    request: RawRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(answer(b'{"ok": true}', "Content-Type: application/json"))
    await writer.drain()


def client(
    server_url: str, kind: TransportKind = "aiohttp", **options: Any
) -> httpx.AsyncClient:
    spec = ProviderSpec(name="raw", family="raw", base_url=server_url)
    return new_client(spec, transport_kind=kind, **options)


async def eventually(check: Callable[[], bool]) -> bool:
    """Whether ``check`` comes true within WAIT seconds."""
    for _ in range(int(WAIT / 0.02)):
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


# --- what goes on the wire ---------------------------------------------------


async def two_parts() -> AsyncIterator[bytes]:
    yield b"part one, "
    yield b"part two"


SIGV4_HEADERS = {
    "X-Amz-Date": "20260101T000000Z",
    "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb924",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/"
    "bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
}

REQUESTS: dict[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]] = {
    "signed JSON to an encoded model path": lambda c: c.post(
        "/model/anthropic.claude-3%3A0/converse",
        json={"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        headers=SIGV4_HEADERS,
    ),
    "raw ':' and '%2F' in path and query": lambda c: c.get(
        "/model/arn:aws:bedrock:us-east-1::a%2Fb/anthropic.claude-3:0/invoke"
        "?q=a%20b&r=c%2Fd&s=:"
    ),
    "streamed body": lambda c: c.post(
        "/upload", content=two_parts(), headers={"Content-Type": "text/plain"}
    ),
    "repeated and mixed-case headers": lambda c: c.post(
        "/h",
        content=b"x",
        headers=[("X-Dup", "1"), ("x-MIXED-Case", "v"), ("X-Dup", "2")],
    ),
    "empty POST": lambda c: c.post("/empty"),
}


@pytest.mark.parametrize("shape", list(REQUESTS))
async def test_request_bytes_are_those_httpx_own_transport_sends(shape: str) -> None:
    async with RawServer(answer_ok) as server:
        for kind in ("httpx", "aiohttp"):
            async with client(server.url, kind) as http:
                response = await REQUESTS[shape](http)
                assert response.json() == {"ok": True}

    theirs, ours = server.requests
    assert ours.head == theirs.head
    assert ours.body == theirs.body


async def test_signed_request_keeps_path_header_order_and_case() -> None:
    async with RawServer(answer_ok) as server, client(server.url) as http:
        await REQUESTS["signed JSON to an encoded model path"](http)
        await REQUESTS["repeated and mixed-case headers"](http)

    signed, mixed = server.requests
    assert signed.request_line == (
        b"POST /model/anthropic.claude-3%3A0/converse HTTP/1.1"
    )
    names = [line.split(b":")[0] for line in signed.header_lines]
    assert names == [
        b"Host", b"Accept", b"Accept-Encoding", b"Connection", b"user-agent",
        b"X-Amz-Date", b"x-amz-content-sha256", b"Authorization",
        b"Content-Length", b"Content-Type",
    ]  # fmt: skip
    assert b"user-agent: megarouter" in signed.header_lines
    custom = [line for line in mixed.header_lines if line.lower().startswith(b"x-")]
    assert custom == [b"X-Dup: 1", b"x-MIXED-Case: v", b"X-Dup: 2"]


async def test_raw_colon_and_encoded_slash_reach_the_server_unchanged() -> None:
    async with RawServer(answer_ok) as server, client(server.url) as http:
        await REQUESTS["raw ':' and '%2F' in path and query"](http)

    assert server.requests[0].request_line == (
        b"GET /model/arn:aws:bedrock:us-east-1::a%2Fb/anthropic.claude-3:0/invoke"
        b"?q=a%20b&r=c%2Fd&s=: HTTP/1.1"
    )


async def test_streamed_request_body_is_sent_chunked() -> None:
    async with RawServer(answer_ok) as server, client(server.url) as http:
        await REQUESTS["streamed body"](http)

    request = server.requests[0]
    assert request.header_lines[-1] == b"Transfer-Encoding: chunked"
    assert request.body == chunk(b"part one, ") + chunk(b"part two") + END


# --- what comes back -----------------------------------------------------------


async def test_gzip_body_reaches_httpx_compressed_and_is_decoded() -> None:
    text = b"the same words again " * 200
    packed = gzip.compress(text)

    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        writer.write(answer(packed, "Content-Encoding: gzip"))
        await writer.drain()

    async with RawServer(respond) as server, client(server.url) as http:
        response = await http.get("/")

    assert response.content == text
    assert response.num_bytes_downloaded == len(packed) < len(text)


async def test_sse_event_arrives_before_the_stream_ends() -> None:
    release = asyncio.Event()

    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        writer.write(STREAM_HEAD + chunk(b"data: first\n\n"))
        await writer.drain()
        await release.wait()  # the rest comes only once the first was seen
        writer.write(chunk(b"data: second\n\n") + END)
        await writer.drain()

    async with (
        RawServer(respond) as server,
        client(server.url) as http,
        http.stream("POST", "/stream") as response,
    ):
        lines = response.aiter_lines()
        first = await asyncio.wait_for(anext(lines), WAIT)
        release.set()
        rest = [line async for line in lines]

    assert first == "data: first"
    assert rest == ["", "data: second", ""]


@pytest.mark.parametrize("kind", KINDS)
async def test_chunks_written_together_are_handed_on_one_by_one(
    kind: TransportKind,
) -> None:
    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        writer.write(STREAM_HEAD + chunk(b"event one") + chunk(b"event two") + END)
        await writer.drain()

    async with (
        RawServer(respond) as server,
        client(server.url, kind) as http,
        http.stream("POST", "/stream") as response,
    ):
        pieces = [piece async for piece in response.aiter_raw()]

    assert pieces == [b"event one", b"event two"]


# --- connections -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_closing_a_stream_early_drops_its_connection(kind: TransportKind) -> None:
    left = asyncio.Event()

    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        if request.request_line.startswith(b"GET"):
            await answer_ok(request, reader, writer)
            return
        writer.write(STREAM_HEAD + chunk(b"data: first\n\n"))
        await writer.drain()
        await until_client_leaves(reader)
        left.set()

    async with RawServer(respond) as server, client(server.url, kind) as http:
        async with http.stream("POST", "/stream") as response:
            await anext(response.aiter_raw())
        await asyncio.wait_for(left.wait(), WAIT)
        await http.get("/after")

    assert server.closed[0] == 1
    assert server.requests[-1].connection == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_call_drops_its_connection(kind: TransportKind) -> None:
    left = asyncio.Event()

    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        await until_client_leaves(reader)  # never answers
        left.set()

    async with RawServer(respond) as server, client(server.url, kind) as http:
        call = asyncio.create_task(http.post("/v1/chat", json={}))
        assert await eventually(lambda: bool(server.requests))
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await asyncio.wait_for(left.wait(), WAIT)

    assert server.closed[0] == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_fully_read_responses_leave_their_connection_for_the_next(
    kind: TransportKind,
) -> None:
    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        if request.request_line.startswith(b"POST"):
            writer.write(STREAM_HEAD + chunk(b"data: x\n\n") + END)
        else:
            writer.write(answer(b"{}"))
        await writer.drain()

    async with RawServer(respond) as server, client(server.url, kind) as http:
        await http.get("/one")
        async with http.stream("POST", "/two") as response:
            await response.aread()
        await http.get("/three")

    assert [r.connection for r in server.requests] == [1, 1, 1]
    assert server.connections == 1


async def test_idle_connection_is_closed_after_keepalive_expiry() -> None:
    limits = httpx.Limits(max_connections=10, keepalive_expiry=SHORT)

    async with (
        RawServer(answer_ok) as server,
        httpx.AsyncClient(transport=AiohttpTransport(limits=limits)) as http,
    ):
        await http.get(server.url)
        assert await eventually(lambda: server.closed == [1])


async def test_no_keepalive_opens_a_connection_per_request() -> None:
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=0)

    async with (
        RawServer(answer_ok) as server,
        httpx.AsyncClient(transport=AiohttpTransport(limits=limits)) as http,
    ):
        await http.get(server.url)
        await http.get(server.url)

    assert [r.connection for r in server.requests] == [1, 2]


def test_session_opens_on_the_loop_that_uses_it_and_closes_with_the_client() -> None:
    http = new_client(ProviderSpec(name="raw", family="raw"))  # no loop runs here

    async def use() -> list[int]:
        async with RawServer(answer_ok) as server:
            await http.get(server.url)
            await http.aclose()
            await eventually(lambda: bool(server.closed))
            return server.closed

    assert asyncio.run(use()) == [1]


def test_new_client_takes_aiohttp_by_default_and_httpx_on_request() -> None:
    spec = ProviderSpec(name="raw", family="raw")

    default = new_client(spec)
    plain = new_client(spec, transport_kind="httpx")

    assert isinstance(default._transport, AiohttpTransport)  # what the kit runs on
    assert isinstance(plain._transport, httpx.AsyncHTTPTransport)
    with pytest.raises(ValueError, match="unknown HTTP transport"):
        new_client(spec, transport_kind="curl")  # type: ignore[arg-type]


# --- failures ----------------------------------------------------------------------


async def no_answer(request: RawRequest, reader: Any, writer: Any) -> None:
    await until_client_leaves(reader)


async def stall_mid_body(request: RawRequest, reader: Any, writer: Any) -> None:
    writer.write(STREAM_HEAD + chunk(b"data: first\n\n"))
    await writer.drain()
    await until_client_leaves(reader)


async def close_before_answering(request: RawRequest, reader: Any, writer: Any) -> None:
    writer.close()


async def cut_chunked_body(request: RawRequest, reader: Any, writer: Any) -> None:
    writer.write(STREAM_HEAD + chunk(b"data: first\n\n"))
    await writer.drain()
    writer.close()


async def cut_short_of_length(request: RawRequest, reader: Any, writer: Any) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    await writer.drain()
    writer.close()


async def reset_mid_body(request: RawRequest, reader: Any, writer: Any) -> None:
    writer.write(STREAM_HEAD + chunk(b"data: first\n\n"))
    await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # linger 0: the close sends a reset


async def garbage_status_line(request: RawRequest, reader: Any, writer: Any) -> None:
    writer.write(b"HTTZ/1.1 200 OK\r\n\r\n")
    await writer.drain()
    writer.close()


FAILURES: dict[str, tuple[Respond, type[httpx.TransportError]]] = {
    "no answer": (no_answer, httpx.ReadTimeout),
    "stall mid-body": (stall_mid_body, httpx.ReadTimeout),
    "closed before answering": (close_before_answering, httpx.RemoteProtocolError),
    "chunked body cut": (cut_chunked_body, httpx.RemoteProtocolError),
    "body short of its length": (cut_short_of_length, httpx.RemoteProtocolError),
    "reset mid-body": (reset_mid_body, httpx.ReadError),
    "garbage status line": (garbage_status_line, httpx.RemoteProtocolError),
}
# aiohttp reports a reset mid-body as the body left incomplete, and says
# nothing more that could tell it from a close; adapters treat both alike.
AIOHTTP_DIFFERS = {"reset mid-body": httpx.RemoteProtocolError}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("failure", list(FAILURES))
async def test_server_failure_raises_what_httpx_raises(
    failure: str, kind: TransportKind
) -> None:
    respond, expected = FAILURES[failure]
    if kind == "aiohttp":
        expected = AIOHTTP_DIFFERS.get(failure, expected)

    async with RawServer(respond) as server, client(server.url, kind) as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.post("/v1/chat", json={}, timeout=httpx.Timeout(SHORT))

    assert type(caught.value) is expected
    adapters_raise = (
        ProviderTimeout if failure in ("no answer", "stall mid-body")
        else ProviderConnectionError
    )  # fmt: skip
    with pytest.raises(adapters_raise), translate_transport_errors("raw"):
        raise caught.value


@pytest.mark.parametrize("kind", KINDS)
async def test_refused_connection_is_connect_error(kind: TransportKind) -> None:
    async with client(f"http://127.0.0.1:{free_port()}", kind) as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.post("/v1/chat", json={})

    assert type(caught.value) is httpx.ConnectError
    with pytest.raises(ProviderConnectionError), translate_transport_errors("raw"):
        raise caught.value


@pytest.fixture
def unanswering_port() -> Iterator[int]:
    """A loopback port whose listen queue is full, so connects hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
    yield port
    for sock in (*fillers, listener):
        sock.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_connect_that_hangs_is_connect_timeout(
    kind: TransportKind, unanswering_port: int
) -> None:
    url = f"http://127.0.0.1:{unanswering_port}"

    async with client(url, kind, connect_timeout=SHORT) as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.post("/v1/chat", json={})

    assert type(caught.value) is httpx.ConnectTimeout
    with pytest.raises(ProviderTimeout), translate_transport_errors("raw"):
        raise caught.value


async def test_full_pool_is_pool_timeout() -> None:
    timeout = httpx.Timeout(WAIT, connect=SHORT, pool=SHORT)

    async with (
        RawServer(stall_mid_body) as server,
        client(server.url, max_connections=1) as http,
        http.stream("POST", "/held") as held,  # takes the one connection
    ):
        await anext(held.aiter_raw())
        with pytest.raises(httpx.TransportError) as caught:
            await http.post("/v1/chat", json={}, timeout=timeout)

    assert type(caught.value) is httpx.PoolTimeout
    assert server.connections == 1


# --- TLS ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "megarouter test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def tls_server(tls_certificate: tuple[Path, Path]) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_certificate)
    return RawServer(answer_ok, tls=context)


@pytest.mark.parametrize("kind", KINDS)
async def test_tls_trusts_the_certificates_httpx_trusts(
    kind: TransportKind,
    tls_certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))  # as httpx reads

    async with tls_server(tls_certificate) as server, client(server.url, kind) as http:
        response = await http.get("/v1/models")

    assert response.json() == {"ok": True}


@pytest.mark.parametrize("kind", KINDS)
async def test_untrusted_tls_certificate_is_connect_error(
    kind: TransportKind,
    tls_certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async with tls_server(tls_certificate) as server, client(server.url, kind) as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.get("/v1/models")

    assert type(caught.value) is httpx.ConnectError
    assert server.requests == []


# --- post_json: the short path under the adapters ------------------------------

POSTS: dict[str, dict[str, Any]] = {
    "plain": {"url": "/v1/chat/completions", "body": {"model": "m", "n": 1}},
    "unicode, nesting and a query": {
        "url": "v1/models/gemini:generateContent",
        "body": {"text": "héllo ✓ \u2028", "parts": [{"a": None}, 1.5, True]},
        "params": {"api-version": "2024-06-01", "key": "a b/c"},
    },
    "headers overriding the client's, one content type": {
        "url": "/v1/messages",
        "body": [],
        "headers": {
            "User-Agent": "someone-else",
            "x-api-key": "k",
            "content-type": "application/json; charset=utf-8",
        },
    },
}


def short_path_client(server_url: str) -> httpx.AsyncClient:
    """A client whose base URL has a path, as most providers' do."""
    return client(server_url + "/base/")


@pytest.mark.parametrize("shape", list(POSTS))
async def test_post_json_sends_the_bytes_client_post_sends(shape: str) -> None:
    call = POSTS[shape]
    options = {k: call[k] for k in ("params", "headers") if k in call}

    async with RawServer(answer_ok) as server:
        async with short_path_client(server.url) as http:
            theirs = await http.post(call["url"], json=call["body"], **options)
            ours = await post_json(http, call["url"], call["body"], **options)
        async with client(server.url + "/base/", "httpx") as reference:
            await reference.post(call["url"], json=call["body"], **options)

    assert ours.status_code == theirs.status_code == 200
    assert ours.json() == theirs.json() == {"ok": True}
    via_aiohttp, short, via_httpx = server.requests
    assert short.head == via_aiohttp.head == via_httpx.head
    assert short.body == via_aiohttp.body == via_httpx.body
    assert short.connection == via_aiohttp.connection  # the same pooled socket


async def test_post_json_response_is_decoded_with_headers_and_status() -> None:
    text = json.dumps({"error": {"message": "slow down " * 50}}).encode()

    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        head = ("Content-Encoding: gzip", "Retry-After: 7", "X-Dup: 1", "X-Dup: 2")
        writer.write(answer(gzip.compress(text), *head, status="429 Too Many"))
        await writer.drain()

    async with RawServer(respond) as server, client(server.url) as http:
        response = await post_json(http, "/v1/chat", {})

    assert response.status_code == 429
    assert not response.is_success
    assert response.reason_phrase == "Too Many"
    assert response.content == await response.aread() == text
    assert response.headers["retry-after"] == "7"
    assert response.headers.get_list("x-dup") == ["1", "2"]


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_post_json_fails_as_client_post_fails(failure: str) -> None:
    respond, _ = FAILURES[failure]
    raised: list[type[BaseException]] = []

    timeout = httpx.Timeout(SHORT)
    async with RawServer(respond) as server, client(server.url) as http:
        for send in (
            functools.partial(http.post, json={}, timeout=timeout),
            functools.partial(post_json, http, body={}, timeout=timeout),
        ):
            with pytest.raises(httpx.TransportError) as caught:
                await send("/v1/chat")
            raised.append(type(caught.value))

    assert raised[0] is raised[1]


async def test_post_json_refused_connection_is_connect_error() -> None:
    async with client(f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(httpx.ConnectError):
            await post_json(http, "/v1/chat", {})


async def test_post_json_reuses_a_connection_and_drops_it_when_cancelled() -> None:
    left = asyncio.Event()

    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        if request.request_line.startswith(b"POST /hang"):
            await until_client_leaves(reader)
            left.set()
        else:
            await answer_ok(request, reader, writer)

    async with RawServer(respond) as server, client(server.url) as http:
        await post_json(http, "/one", {})
        await post_json(http, "/two", {})
        call = asyncio.create_task(post_json(http, "/hang", {}))
        assert await eventually(lambda: len(server.requests) == 3)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await asyncio.wait_for(left.wait(), WAIT)
        await post_json(http, "/after", {})

    assert [r.connection for r in server.requests] == [1, 1, 1, 2]
    assert server.closed[0] == 1


async def test_post_json_takes_client_post_where_httpx_must_do_the_work() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    # Not a client of new_client: a test's MockTransport, say.
    async with httpx.AsyncClient(
        base_url="http://mock", transport=httpx.MockTransport(handler)
    ) as mocked:
        assert (await post_json(mocked, "/x", {"a": 1})).json() == {"ok": True}
    assert seen[0].url == "http://mock/x" and seen[0].content == b'{"a":1}'

    hooked: list[str] = []

    async def hook(request: httpx.Request) -> None:
        hooked.append(str(request.url))

    async with RawServer(answer_ok) as server:
        url = server.url
        async with client(url) as http:
            http.event_hooks["request"] = [hook]
            await post_json(http, "/hooked", {})
        async with client(url.replace("://", "://user:secret@")) as http:
            await post_json(http, "/credentials", {})

    assert hooked == [f"{url}/hooked"]
    assert b"Authorization: Basic dXNlcjpzZWNyZXQ=" in server.requests[1].header_lines


async def test_provider_clients_keep_no_cookies() -> None:
    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        writer.write(answer(b"{}", "Set-Cookie: session=abc; Path=/"))
        await writer.drain()

    async with RawServer(respond) as server, client(server.url) as http:
        await http.post("/first", json={})
        await post_json(http, "/second", {})
        await http.post("/third", json={})

    assert not http.cookies
    assert all(b"cookie" not in r.head.lower() for r in server.requests)


async def test_stream_json_sends_what_client_stream_sends_and_streams_back() -> None:
    released = asyncio.Event()

    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        writer.write(STREAM_HEAD + chunk(b"data: one\n\n"))
        await writer.drain()
        await released.wait()  # the second event only once the first was read
        writer.write(chunk(b"data: two\n\n") + END)
        await writer.drain()

    params, headers = {"alt": "sse"}, {"x-api-key": "k"}
    async with RawServer(respond) as server, short_path_client(server.url) as http:
        async with http.stream(
            "POST", "m:stream", json={"q": 1}, params=params, headers=headers
        ) as theirs:
            released.set()
            assert await theirs.aread() == b"data: one\n\ndata: two\n\n"
        released.clear()
        async with stream_json(
            http, "m:stream", {"q": 1}, params=params, headers=headers
        ) as ours:
            lines = ours.aiter_lines()
            assert await anext(lines) == "data: one"
            released.set()
            assert [line async for line in lines] == ["", "data: two", ""]

    sent_by_httpx, sent_by_us = server.requests
    assert sent_by_us.head == sent_by_httpx.head
    assert sent_by_us.body == sent_by_httpx.body == b'{"q":1}'
    assert sent_by_us.connection == 1  # the first stream left it in the pool


async def test_stream_json_left_early_drops_its_connection_errors_as_httpx() -> None:
    async with RawServer(stall_mid_body) as server, client(server.url) as http:
        async with stream_json(http, "/s", {}) as response:
            assert await anext(response.aiter_raw()) == b"data: first\n\n"
        assert await eventually(lambda: server.closed == [1])

        with pytest.raises(httpx.ReadTimeout):
            async with stream_json(http, "/s", {}, timeout=SHORT) as response:
                await response.aread()

    async with RawServer(cut_chunked_body) as server, client(server.url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            async with stream_json(http, "/s", {}) as response:
                await response.aread()


async def test_short_path_responses_build_their_request_when_read() -> None:
    async def respond(request: RawRequest, reader: Any, writer: Any) -> None:
        writer.write(answer(b"{}", status="404 Not Found"))
        await writer.drain()

    params, headers = {"v": "1"}, {"x-api-key": "k"}
    async with RawServer(respond) as server, short_path_client(server.url) as http:
        theirs = await http.post("m", json={"a": 1}, params=params, headers=headers)
        ours = await post_json(http, "m", {"a": 1}, params=params, headers=headers)
        async with stream_json(http, "m", {"a": 1}, params=params) as streamed:
            await streamed.aread()
        url = f"{server.url}/base/m?v=1"

    with pytest.raises(httpx.HTTPStatusError, match="404 Not Found"):
        ours.raise_for_status()  # the first read of its request
    assert ours.request.url == theirs.request.url == url
    assert ours.request.method == "POST"
    assert ours.request.headers.raw == theirs.request.headers.raw
    assert ours.request.content == theirs.request.content == b'{"a":1}'
    assert streamed.request.url == ours.request.url


# --- proxies from the environment ---------------------------------------------


async def test_environment_proxy_carries_both_paths_and_no_proxy_bypasses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with RawServer(answer_ok) as proxy, RawServer(answer_ok) as upstream:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("http_proxy", raising=False)
        monkeypatch.setenv("NO_PROXY", "direct.example")
        monkeypatch.delenv("no_proxy", raising=False)
        # Through the proxy: a host that only the proxy could resolve.
        async with client("http://provider.example:8080/v1/") as http:
            await http.post("chat", json={})
            await post_json(http, "chat", {})
            async with stream_json(http, "chat", {}) as streamed:
                await streamed.aread()
        # NO_PROXY: straight to the upstream.
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with client(upstream.url) as http:
            await post_json(http, "direct", {})

    lines = [r.request_line for r in proxy.requests]
    assert lines == [b"POST http://provider.example:8080/v1/chat HTTP/1.1"] * 3
    assert b"Host: provider.example:8080" in proxy.requests[1].header_lines
    assert [r.request_line for r in upstream.requests] == [b"POST /direct HTTP/1.1"]


async def test_https_goes_through_the_proxy_with_connect(
    tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tunnels: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def tunnel(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        tunnels.append(head.split(b"\r\n", 1)[0])
        host, port = head.split()[1].decode().rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))
    proxy = await asyncio.start_server(tunnel, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        async with tls_server(tls_certificate) as server, client(server.url) as http:
            response = await post_json(http, "/v1/chat", {})
            port = server.url.rsplit(":", 1)[1]
    finally:
        proxy.close()

    assert response.json() == {"ok": True}
    assert tunnels == [f"CONNECT 127.0.0.1:{port} HTTP/1.1".encode()]
    assert server.requests[0].request_line == b"POST /v1/chat HTTP/1.1"
