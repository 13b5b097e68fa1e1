"""A fast fake OpenAI-compatible upstream: raw asyncio HTTP/1.1 on loopback.

Every ``POST`` (``/v1/chat/completions`` in practice) is answered with the
same small chat completion, usage included; ``GET /v1/models`` lists the one
model. Connections are kept alive and pipelined requests are answered in
order. There is no framework between the socket and the canned bytes, so
the upstream costs a few tens of microseconds a call and the gateways in
front of it are what a benchmark measures.

Run: ``python -m bench.upstream PORT`` (from ``scripts/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

MODEL = "bench-model"
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello there."},
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    },
    separators=(",", ":"),
).encode()
MODELS = json.dumps(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}
).encode()
NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error"}}'


def response(status: bytes, body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: keep-alive\r\n\r\n"
    )
    return head + body


ANSWERS = {
    b"POST": response(b"200 OK", COMPLETION),
    b"GET /v1/models": response(b"200 OK", MODELS),
}
MISSING = response(b"404 Not Found", NOT_FOUND)


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection: parse each request, write the canned answer."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        out = []
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(self._buffer[:end])
            length = content_length(head)
            total = end + 4 + length
            if len(self._buffer) < total:
                break
            del self._buffer[:total]
            out.append(answer(head))
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def answer(head: bytes) -> bytes:
    request_line = head.split(b"\r\n", 1)[0]
    method, _, rest = request_line.partition(b" ")
    if method == b"POST":
        return ANSWERS[b"POST"]
    path = rest.partition(b" ")[0]
    return ANSWERS.get(method + b" " + path, MISSING)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        UpstreamProtocol, "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    async with server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(int(sys.argv[1])))
