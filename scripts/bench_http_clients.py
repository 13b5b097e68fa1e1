"""Measure httpx against aiohttp as the provider HTTP client, side by side.

An aiohttp server in a child process plays a provider on loopback: a small
JSON chat completion, and an SSE stream of 20 events. Four clients, each
one pooled session configured as MegaRouter configures its provider clients
(200 connections), take turns for ``--rounds`` rounds; each measure's median
is printed, with the machine, and ratios between neighbouring clients:

- latency: requests one at a time (after a warm-up at 50 in flight);
- throughput: requests with 50 in flight, and the client's CPU per request;
- streaming: whole SSE streams with 20 in flight.

The clients: ``httpx`` (``new_client(..., transport_kind="httpx")``: httpx
on httpcore's pool), ``httpx+aio`` (``new_client``'s default: httpx's API
on aiohttp's pool through ``megarouter.providers.transport``), ``short``
(``post_json`` and ``stream_json`` on that default client: what the
first-party adapters call), and ``aiohttp`` alone, the floor.

Run: ``python scripts/bench_http_clients.py [--requests N] [--rounds R]``.

A run on the 2-core development machine (``--requests 500 --rounds 5``,
December 4, at 286d1da plus the short path, AMD EPYC, other sessions
sharing the machine, so read the ratios)::

    measure (median)       httpx  httpx+aio   short  aiohttp  short/httpx+aio
    latency p50 (ms)        2.67       0.67    0.63     0.41             0.93
    latency p99 (ms)        4.98       1.45    1.01     0.86             0.70
    requests/s (x50)      296.52    2546.41 3992.74  7741.08             1.57
    client CPU us/req    3342.70     392.70  250.45   125.79             0.64
    streams/s (x20)       482.79    1613.15 2261.40  2369.79             1.40

An earlier run (before the short path existed; load average 4.5) gave
3,448 µs of client CPU per request for ``httpx`` against 285 for
``httpx+aio`` and 99 for ``aiohttp``.

Profiling the httpx client shows the time in httpcore's connection pool
(``_assign_requests_to_connections`` checks every pooled connection, and
polls each idle socket, on every request), so its cost grows with the
number of connections: the larger a provider's pool, the worse. What is
left between ``httpx+aio`` and ``aiohttp`` is httpx's request building and
send pipeline, which ``short`` skips, and httpx's response object, which
it keeps: that is what adapters read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from bench import machine

from megarouter.providers.http import TransportKind, new_client, post_json, stream_json
from megarouter.providers.spec import ProviderSpec

CHAT_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello there."},
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
).encode()
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


def _spec(base_url: str) -> ProviderSpec:
    return ProviderSpec(name="bench", family="bench", base_url=base_url)


class HttpxClient:
    """httpx on httpcore's pool, as ``new_client`` builds it on request."""

    name = "httpx"
    kind: TransportKind = "httpx"

    def __init__(self, base_url: str) -> None:
        self.client = new_client(
            _spec(base_url), read_timeout=30.0, transport_kind=self.kind
        )

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
    """httpx's API on aiohttp's pool: ``new_client``'s default."""

    name = "httpx+aio"
    kind: TransportKind = "aiohttp"


class ShortPathClient(HttpxClient):
    """What the first-party adapters call: ``post_json`` and ``stream_json``
    on ``new_client``'s default client, which skip httpx's request pipeline."""

    name = "short"
    kind: TransportKind = "aiohttp"

    async def chat(self) -> None:
        response = await post_json(self.client, "/v1/chat/completions", REQUEST)
        response.raise_for_status()
        json.loads(response.content)

    async def stream(self) -> None:
        async with stream_json(self.client, "/v1/stream", REQUEST) as response:
            response.raise_for_status()
            async for _line in response.aiter_lines():
                pass


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


CLIENTS = (HttpxClient, HttpxOverAiohttpClient, ShortPathClient, AiohttpClient)


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
                runs.setdefault(client.name, []).append(await measure(client, requests))
            finally:
                await client.aclose()

    names = list(runs)
    base, ours, short, floor = names
    pairs = ((ours, base), (short, ours), (short, floor))
    header = "".join(f"{n:>12}" for n in names)
    header += "".join(f"{f'{a}/{b}':>20}" for a, b in pairs)
    print(f"{'measure (median)':<20}{header}")
    for key in runs[names[0]][0]:
        medians = {n: statistics.median(r[key] for r in runs[n]) for n in names}
        cells = "".join(f"{medians[n]:>12.2f}" for n in names)
        cells += "".join(f"{medians[a] / medians[b]:>20.2f}" for a, b in pairs)
        print(f"{key:<20}{cells}")


def describe_machine(requests: int, rounds: int) -> None:
    """Print what ran, where, and how."""
    repo = Path(__file__).resolve().parent.parent
    print(f"cpus (nproc)   {os.cpu_count()}  {machine.cpu_model()}")
    print(f"load average   {machine.load_average()}  (1, 5, 15 min; at start)")
    print(f"python         {platform.python_version()} ({platform.machine()})")
    print(
        f"httpx {machine.package_version('httpx')}, "
        f"httpcore {machine.package_version('httpcore')}, "
        f"aiohttp {machine.package_version('aiohttp')}, "
        f"megarouter at {machine.git_commit(repo)}"
    )
    print(
        f"method         {rounds} rounds, clients in turn; per round and client: "
        f"{requests} sequential requests, {requests * 2} at 50 in flight, "
        f"{requests // 2} SSE streams at 20 in flight; medians over rounds"
    )
    print()


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
    describe_machine(args.requests, args.rounds)
    try:
        asyncio.run(run(f"http://127.0.0.1:{port}", args.requests, args.rounds))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
