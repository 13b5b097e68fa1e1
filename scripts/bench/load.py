"""Closed-loop load: N callers, each sending its next call when one returns.

Load runs in worker processes (``spawn``) so that the client's own CPU is
spread over processes and never shares an event loop with the measurement's
bookkeeping. Every worker opens its connections and warms up, then waits for
a common start time, so that the workers' measured windows overlap; each
returns the latency of every measured call.

Two kinds of client speak to the targets:

- HTTP: an aiohttp session (one keep-alive connection per caller) posting an
  OpenAI chat completion request, for the upstream itself and for LiteLLM;
- gRPC: grpc.aio channels calling ``CompletionService.Complete`` with an API
  key in the metadata, for MegaRouter and for the bare gRPC echo server. A
  worker with several callers opens up to ``GRPC_CHANNELS`` channels, each its
  own HTTP/2 connection, and spreads its calls over them, as several client
  instances would: gRPC multiplexes a channel's calls on one connection, and
  a server with several worker processes balances connections, not calls.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

PROMPT = "Say hello."
GRPC_CHANNELS = 4
WARMUP_CALLS = 20


@dataclass(frozen=True)
class Target:
    """Where and how to send calls."""

    name: str
    kind: str  # "http" or "grpc"
    address: str  # a URL for HTTP, HOST:PORT for gRPC
    model: str
    api_key: str = ""


@dataclass(frozen=True)
class Plan:
    """How much load: ``calls`` in all, or every caller for ``seconds``."""

    concurrency: int
    calls: int = 0
    seconds: float = 0.0
    max_seconds: float = 60.0  # bounds a counted run on a slow target


@dataclass
class Outcome:
    """What the workers measured, merged."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    started: float = 0.0
    ended: float = 0.0
    first_error: str = ""
    warmup_calls: int = 0  # answered or failed before the measured window

    @property
    def calls(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        elapsed = self.ended - self.started
        return self.calls / elapsed if elapsed > 0 else 0.0


Call = Callable[[], Awaitable[None]]


class LoadGenerator:
    """A pool of client processes that runs plans against targets."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(processes, mp_context=context)
        # Start every worker now, so no plan pays for interpreter start-up.
        list(self._pool.map(time.sleep, [0.2] * processes))

    def run(self, target: Target, plan: Plan, processes: int | None = None) -> Outcome:
        """Run ``plan`` against ``target``, its callers split over processes."""
        count = min(processes or self.processes, plan.concurrency)
        shares = _split(plan.concurrency, count)
        start_at = time.monotonic() + 1.5 + 0.25 * count
        futures = [
            self._pool.submit(run_worker, target, _share_plan(plan, share), start_at)
            for share in shares
        ]
        merged = Outcome(started=float("inf"))
        for future in futures:
            part = future.result()
            merged.latencies_ms.extend(part.latencies_ms)
            merged.errors += part.errors
            merged.warmup_calls += part.warmup_calls
            merged.first_error = merged.first_error or part.first_error
            merged.started = min(merged.started, part.started)
            merged.ended = max(merged.ended, part.ended)
        return merged

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _share_plan(plan: Plan, concurrency: int) -> Plan:
    calls = plan.calls * concurrency // plan.concurrency if plan.calls else 0
    return Plan(concurrency, calls, plan.seconds, plan.max_seconds)


# --- in a worker process ------------------------------------------------------


def run_worker(target: Target, plan: Plan, start_at: float) -> Outcome:
    return asyncio.run(_run(target, plan, start_at))


async def _run(target: Target, plan: Plan, start_at: float) -> Outcome:
    opener = _http_client if target.kind == "http" else _grpc_client
    async with opener(target, plan.concurrency) as call:
        # Open every connection and warm up, for at most the time left.
        warmup = Outcome()
        await asyncio.gather(
            *(
                _repeat(call, WARMUP_CALLS, warmup, stop_at=start_at)
                for _ in range(plan.concurrency)
            )
        )
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        outcome = Outcome(started=time.monotonic())
        outcome.warmup_calls = warmup.calls + warmup.errors
        counts: list[int | None] = (
            list(_split(plan.calls, plan.concurrency))
            if plan.calls
            else [None] * plan.concurrency
        )
        stop_at = outcome.started + (plan.seconds or plan.max_seconds)
        await asyncio.gather(
            *(_repeat(call, n, outcome, stop_at) for n in counts if n != 0)
        )
        outcome.ended = time.monotonic()
    return outcome


async def _repeat(
    call: Call, times: int | None, outcome: Outcome, stop_at: float = float("inf")
) -> None:
    """Call ``times`` times (None: no count) or until ``stop_at``, first reached."""
    if times is None and stop_at == float("inf"):
        raise ValueError("an unbounded loop")
    done = 0
    clock = time.perf_counter
    while (times is None or done < times) and time.monotonic() < stop_at:
        began = clock()
        try:
            await call()
        except Exception as exc:  # counted, and the first one is shown
            outcome.errors += 1
            outcome.first_error = outcome.first_error or f"{type(exc).__name__}: {exc}"
        else:
            outcome.latencies_ms.append((clock() - began) * 1000)
        done += 1


class _http_client:
    """An aiohttp session posting the same chat completion request."""

    def __init__(self, target: Target, concurrency: int) -> None:
        self._target = target
        self._concurrency = concurrency

    async def __aenter__(self) -> Call:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self._concurrency, force_close=False)
        self._session = aiohttp.ClientSession(connector=connector)
        url = self._target.address
        body = json.dumps(
            {
                "model": self._target.model,
                "messages": [{"role": "user", "content": PROMPT}],
            }
        ).encode()
        headers = {"content-type": "application/json"}
        if self._target.api_key:
            headers["authorization"] = f"Bearer {self._target.api_key}"
        session = self._session

        async def call() -> None:
            async with session.post(url, data=body, headers=headers) as response:
                payload = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")

        return call

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()


class _grpc_client:
    """grpc.aio channels calling CompletionService.Complete, in turn."""

    def __init__(self, target: Target, concurrency: int) -> None:
        self._target = target
        self._count = max(1, min(concurrency, GRPC_CHANNELS))

    async def __aenter__(self) -> Call:
        import itertools

        from grpc import aio

        from megarouter.v1 import chat_pb2 as chat
        from megarouter.v1 import completion_service_pb2 as api
        from megarouter.v1 import completion_service_pb2_grpc as api_grpc

        # A local subchannel pool: otherwise channels to the same address
        # share one connection.
        options = [("grpc.use_local_subchannel_pool", 1)]
        self._channels = [
            aio.insecure_channel(self._target.address, options=options)
            for _ in range(self._count)
        ]
        stubs = itertools.cycle(
            api_grpc.CompletionServiceStub(channel).Complete
            for channel in self._channels
        )
        request = api.CompleteRequest(
            model=self._target.model,
            messages=[
                chat.ChatMessage(
                    role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text=PROMPT)]
                )
            ],
        )
        metadata = (("authorization", f"Bearer {self._target.api_key}"),)

        async def call() -> None:
            await next(stubs)(request, metadata=metadata, timeout=30)

        return call

    async def __aexit__(self, *exc: object) -> None:
        for channel in self._channels:
            await channel.close(None)
