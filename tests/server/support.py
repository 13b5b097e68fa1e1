"""Run `megarouter serve` as a separate process, for tests across processes."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from megarouter.testing.fake_http import free_port


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    target: str
    output: list[str]

    async def read_until(self, pattern: str, limit: float = 30) -> re.Match[str]:
        """Wait for a line of the server's output matching ``pattern``."""

        async def scan() -> re.Match[str]:
            assert self.process.stdout is not None
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError("server exited:\n" + "".join(self.output))
                text = line.decode()
                self.output.append(text)
                match = re.search(pattern, text)
                if match:
                    return match

        return await asyncio.wait_for(scan(), limit)

    async def drain_output(self) -> str:
        assert self.process.stdout is not None
        rest = await self.process.stdout.read()
        self.output.append(rest.decode())
        return "".join(self.output)


async def wait_serving(target: str, limit: float = 30) -> None:
    async with aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{target} never became SERVING")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def server_process(
    env: dict[str, str], *args: str
) -> AsyncIterator[ServerProcess]:
    """``megarouter serve ARGS`` on a free port, terminated when done."""
    port = free_port()
    full_env = {**os.environ, **env, "MEGAROUTER_LISTEN": f"127.0.0.1:{port}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "megarouter",
        "serve",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = ServerProcess(process, f"127.0.0.1:{port}", [])
    try:
        yield running
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
