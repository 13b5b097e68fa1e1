"""Measure httpx against aiohttp as the provider HTTP client, side by side.

An aiohttp server in a child process plays a provider on loopback: a small
JSON chat completion, and an SSE stream of 20 events. Three clients, each
one pooled session configured as MegaRouter configures httpx (200
connections), take turns for ``--rounds`` rounds; each measure's median is
printed:

- latency: requests one at a time (after a warm-up at 50 in flight);
- throughput: requests with 50 in flight, and the client's CPU per request;
- streaming: whole SSE streams with 20 in flight.

The clients: ``httpx`` (httpx 0.29 on httpcore 1.0.9), ``httpx+aio`` (the
httpx API over aiohttp's pool, from the ``httpx-aiohttp`` transport), and
``aiohttp`` (3.14) alone. Needs ``pip install aiohttp httpx-aiohttp``; neither
is a MegaRouter dependency.

Run: ``python scripts/bench_http_clients.py [--requests N] [--rounds R]``.

One run on the 2-core development machine while other test suites ran
(load average about 6, so read the ratios, not the absolute numbers)::

    measure (median)           httpx   httpx+aio     aiohttp
    latency p50 (ms)            3.27        1.27        0.39
    latency p99 (ms)           16.34        9.28        6.08
    requests/s (x50)          155.76      562.11     1752.65
    client CPU us/req        2458.23      762.78      208.98
    streams/s (x20)           135.74      286.91      572.63

Profiling the httpx client shows the time in httpcore's connection pool
(``_assign_requests_to_connections`` checks every pooled connection, and
polls each idle socket, on every request), so its cost grows with the
number of connections: the larger a provider's pool, the worse. MegaRouter
keeps httpx for now, because every adapter is written against
``httpx.AsyncClient``; ``new_client``'s ``transport`` argument and
``AdapterPool``'s ``client_factory`` are where a faster pool can be put
under the same API. The ``httpx-aiohttp`` transport is not ready for that
as is: it reports a refused connection as ``ConnectTimeout``, which the
conformance kit rejects (a refused connection must be a
``ProviderConnectionError``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
from aiohttp import web

CHAT_BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello there."}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}).encode()
STREAM_EVENTS = 20
REQUEST = {"model": "bench", "messages": [{"role": "user", "content": "Hi"}]}


# --- the fake provider --------------------------------------------------------


async def _chat(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=CHAT_BODY, content_type="application/json")


async def _stream(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for i in range(STREAM_EVENTS):
        delta = {"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
        await response.write(f"data: {json.dumps(delta)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _serve(sock: socket.socket) -> None:
    """Run the fake provider on an already bound socket (child process)."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/v1/stream", _stream)
    web.run_app(app, sock=sock, print=None, access_log=None)


# --- the clients ----------------------------------------------------------------

Call = Callable[[], Awaitable[None]]


class HttpxClient:
    name = "httpx"

    def __init__(self, base_url: str) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        self.client = httpx.AsyncClient(base_url=base_url, limits=limits,
                                        timeout=httpx.Timeout(30.0, connect=5.0))

    async def chat(self) -> None:
        response = await self.client.post("/v1/chat/completions", json=REQUEST)
        response.raise_for_status()
        json.loads(response.content)

    async def stream(self) -> None:
        async with self.client.stream("POST", "/v1/stream", json=REQUEST) as response:
            response.raise_for_status()
            async for _line in response.aiter_lines():
                pass

    async def aclose(self) -> None:
        await self.client.aclose()


class HttpxOverAiohttpClient(HttpxClient):
    """httpx's API on aiohttp's connection pool (the httpx-aiohttp transport)."""

    name = "httpx+aio"

    def __init__(self, base_url: str) -> None:
        from httpx_aiohttp import AiohttpTransport

        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(30.0, connect=5.0),
            transport=AiohttpTransport(limits=limits),
        )


class AiohttpClient:
    name = "aiohttp"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200),
            timeout=aiohttp.ClientTimeout(total=30.0, connect=5.0),
        )

    async def chat(self) -> None:
        async with self.session.post(
            f"{self.base_url}/v1/chat/completions", json=REQUEST
        ) as response:
            response.raise_for_status()
            json.loads(await response.read())

    async def stream(self) -> None:
        async with self.session.post(
            f"{self.base_url}/v1/stream", json=REQUEST
        ) as response:
            response.raise_for_status()
            async for _line in response.content:
                pass

    async def aclose(self) -> None:
        await self.session.close()


CLIENTS = (HttpxClient, HttpxOverAiohttpClient, AiohttpClient)


# --- the measurements -------------------------------------------------------------


async def latencies(call: Call, count: int) -> list[float]:
    """Seconds each of ``count`` sequential calls took."""
    result = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        result.append(time.perf_counter() - start)
    return result


async def rate(call: Call, count: int, in_flight: int) -> float:
    """Calls per second for ``count`` calls with ``in_flight`` at a time."""
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - start)


async def measure(client: Any, requests: int) -> dict[str, float]:
    await rate(client.chat, 200, 50)  # warm the pool and the server
    lat = sorted(await latencies(client.chat, requests))
    cpu_start = time.process_time()
    throughput = await rate(client.chat, requests * 2, 50)
    cpu = time.process_time() - cpu_start
    return {
        "latency p50 (ms)": statistics.median(lat) * 1000,
        "latency p99 (ms)": lat[int(len(lat) * 0.99) - 1] * 1000,
        "requests/s (x50)": throughput,
        "client CPU us/req": cpu / (requests * 2) * 1_000_000,
        "streams/s (x20)": await rate(client.stream, requests // 2, 20),
    }


async def run(base_url: str, requests: int, rounds: int) -> None:
    """Alternate the clients round by round; print each measure's median."""
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        for client_class in CLIENTS:
            client = client_class(base_url)
            try:
                runs.setdefault(client.name, []).append(
                    await measure(client, requests)
                )
            finally:
                await client.aclose()

    names = list(runs)
    print(f"{'measure (median)':<20}" + "".join(f"{n:>12}" for n in names))
    for key in runs[names[0]][0]:
        medians = [statistics.median(r[key] for r in runs[n]) for n in names]
        print(f"{key:<20}" + "".join(f"{m:>12.2f}" for m in medians))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    server = multiprocessing.get_context("fork").Process(
        target=_serve, args=(sock,), daemon=True
    )
    server.start()
    try:
        asyncio.run(run(f"http://127.0.0.1:{port}", args.requests, args.rounds))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
