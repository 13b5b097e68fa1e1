"""A programmable HTTP/1.1 server on loopback, for faking providers in tests.

Fakes run over real sockets so that adapters are exercised exactly as in
production: connection pooling, chunked streaming, timeouts, refused and cut
connections. Handlers are plain functions from :class:`FakeRequest` to
:class:`FakeResponse`; a streaming response is an iterable of byte chunks,
written and flushed one by one, with optional pauses between them.

Example::

    server = FakeHTTPServer()
    server.route("POST", "/v1/chat/completions", handle_chat)
    with server:
        client = httpx.AsyncClient(base_url=server.url)
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(slots=True)
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class FakeResponse:
    """What the fake answers.

    Attributes:
        status: the HTTP status.
        body: a whole body (bytes, str, or a JSON-able object).
        chunks: when set, a streamed body: each item is written and flushed
            separately (with ``Transfer-Encoding: chunked``). An item that is
            a float is a pause in seconds; the string ``"<cut>"`` closes the
            connection abruptly without ending the stream.
        headers: extra response headers.
        content_type: defaults to JSON for ``body``, ``text/event-stream``
            for ``chunks``.
    """

    status: int = 200
    body: bytes | str | Any = b""
    chunks: Iterable[bytes | str | float] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""


CUT = "<cut>"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients dropping pooled keep-alive connections is normal here.
        pass


Handler = Callable[[FakeRequest], FakeResponse]


class FakeHTTPServer:
    """A threaded loopback HTTP server with routes and a request log.

    Attributes:
        requests: every request received, in order.
        disconnects: how many streamed responses the client abandoned
            before the end (a write to a closed socket failed).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[FakeRequest] = []
        self.disconnects = 0
        self._lock = threading.Lock()
        self._server = _QuietServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path_pattern: str, handler: Handler) -> None:
        """Answer ``method`` on paths fully matching the regex ``path_pattern``."""
        self._routes.insert(0, (method.upper(), re.compile(path_pattern), handler))

    def start(self) -> FakeHTTPServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns quickly
            name="fake-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _dispatch(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if method == request.method and match:
                request.match = match
                return handler(request)
        return FakeResponse(404, {"error": {"message": f"no route {request.path}"}})

    def _note_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = FakeRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                self._send(fake._dispatch(request))

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def _send(self, response: FakeResponse) -> None:
                if response.chunks is not None:
                    self._send_stream(response)
                    return
                payload = _as_bytes(response.body)
                content_type = response.content_type or "application/json"
                self.send_response(response.status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def _send_stream(self, response: FakeResponse) -> None:
                assert response.chunks is not None
                self.send_response(response.status)
                self.send_header(
                    "content-type", response.content_type or "text/event-stream"
                )
                self.send_header("transfer-encoding", "chunked")
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    for chunk in response.chunks:
                        if isinstance(chunk, float):
                            time.sleep(chunk)
                            continue
                        if chunk == CUT:
                            self.wfile.flush()
                            self.connection.shutdown(socket.SHUT_RDWR)
                            self.close_connection = True
                            return
                        data = _as_bytes(chunk)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    fake._note_disconnect()
                    self.close_connection = True

        return _Handler


def _as_bytes(value: bytes | str | Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def sse(data: Any, event: str = "") -> str:
    """One server-sent event; ``data`` is JSON-encoded unless it is a str."""
    text = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {text}\n\n"


def free_port() -> int:
    """A loopback port nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
