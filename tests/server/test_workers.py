"""``megarouter serve --workers N``: several processes serving one port."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
from grpc import aio
from megarouter_openai.fake import OpenAIFake
from sqlalchemy import select

from megarouter.errors import ConfigurationError
from megarouter.store.database import Database
from megarouter.store.usage_tables import UsageRow
from megarouter.testing.fake_http import free_port
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from megarouter.workers import _reserved
from tests.server.support import ServerProcess, server_process, wait_serving

KEY = "mr-workers-test-admin-key-0123456789"
MODEL = "fake-a/gpt-4o-mini"
PLUGIN = "megarouter_workers_test_fake"
PLUGIN_SOURCE = """
import os
from megarouter.providers import (
    AuthScheme, Capabilities, ModelSpec, Price, ProviderSpec, hookimpl,
)


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            name="fake-a",
            family="openai",
            base_url=os.environ["FAKE_BASE_URL"],
            auth=AuthScheme.BEARER,
            credential_env=("FAKE_A_KEY",),
            models=(
                ModelSpec(
                    id="gpt-4o-mini",
                    context_window=128_000,
                    price=Price(150_000, 600_000),
                    capabilities=Capabilities(streaming=True),
                ),
            ),
        )
    )
"""

pytestmark = pytest.mark.slow


def write_plugin(directory: Path) -> Path:
    """A plugin found through its entry point when ``directory`` is on the path."""
    directory.mkdir()
    (directory / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE)
    info = directory / f"{PLUGIN}-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: megarouter-workers-test-fake\nVersion: 0.0.0\n"
    )
    (info / "entry_points.txt").write_text(f"[megarouter]\nworkersfake = {PLUGIN}\n")
    return directory


@asynccontextmanager
async def workers_server(
    tmp_path: Path, count: int = 2, **env: str
) -> AsyncIterator[tuple[ServerProcess, str]]:
    """``megarouter serve --workers COUNT`` over a fake OpenAI API."""
    with OpenAIFake(api_key="sk-a-123456") as fake:
        settings = {
            "PYTHONPATH": str(write_plugin(tmp_path / "plugin")),
            "FAKE_BASE_URL": f"{fake.server.url}/v1",
            "FAKE_A_KEY": "sk-a-123456",
            "MEGAROUTER_DATA_DIR": str(tmp_path / "data"),
            "MEGAROUTER_BOOTSTRAP_KEY": KEY,
            "MEGAROUTER_PLUGINS": "openai,workersfake",
            **env,
        }
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'megarouter.db'}"
        async with server_process(settings, "--workers", str(count)) as server:
            # Read the output as it comes: a full pipe would stall the workers.
            reader = asyncio.create_task(server.drain_output())
            try:
                yield server, database_url
            finally:
                await asyncio.wait_for(reader, 60)


def worker_pids(server: ServerProcess) -> set[int]:
    return {child.pid for child in psutil.Process(server.process.pid).children()}


async def wait_for_workers(server: ServerProcess, count: int) -> set[int]:
    """The worker pids, once there are ``count`` of them and all serve."""
    port = int(server.target.rsplit(":", 1)[1])
    for _ in range(300):
        pids = worker_pids(server)
        # Each worker listens: before that, the kernel gives every new
        # connection to the workers that do.
        if len(pids) == count and all(listening(pid, port) for pid in pids):
            await wait_serving(server.target)
            return pids
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} workers, have {worker_pids(server)}")


def listening(pid: int, port: int) -> bool:
    try:
        connections = psutil.Process(pid).net_connections("tcp")
    except psutil.NoSuchProcess:
        return False
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections
    )


def request(number: int) -> api.CompleteRequest:
    return api.CompleteRequest(
        model=MODEL,
        messages=[
            chat.ChatMessage(
                role=chat.CHAT_ROLE_USER,
                content=[chat.ContentPart(text=f"caller {number}")],
            )
        ],
    )


def channel(target: str) -> aio.Channel:
    # Its own connection: channels to one address otherwise share one.
    return aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


async def stored_records(database_url: str) -> set[str]:
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            rows = await session.execute(select(UsageRow.request_id))
            return set(rows.scalars())
    finally:
        await database.dispose()


async def test_workers_share_one_port_and_record_every_call(tmp_path: Path) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    async with workers_server(tmp_path, MEGAROUTER_METRICS_LISTEN=metrics) as (
        server,
        database_url,
    ):
        pids = await wait_for_workers(server, 2)
        # The supervisor serves the workers' metrics; they serve none.
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://{metrics}/metrics")).status_code == 200
        port = int(server.target.rsplit(":", 1)[1])
        channels = [channel(server.target) for _ in range(16)]
        try:
            stubs = [api_grpc.CompletionServiceStub(c) for c in channels]
            replies = await asyncio.gather(
                *(
                    stubs[n % len(stubs)].Complete(
                        request(n), metadata=(("x-api-key", KEY),), timeout=30
                    )
                    for n in range(320)
                )
            )
            # The kernel spread the 16 connections over both workers.
            serving = {
                pid
                for pid in pids
                if any(
                    conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == port
                    for conn in psutil.Process(pid).net_connections("tcp")
                )
            }
        finally:
            for c in channels:
                await c.close(None)
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.process.wait(), 60) == 0

    output = "".join(server.output)
    assert len({reply.request_id for reply in replies}) == 320
    assert await stored_records(database_url) == {r.request_id for r in replies}
    assert serving == pids, f"connections reached only {serving} of {pids}"
    # Storage is prepared once, by the supervisor: one bootstrap, one key.
    assert output.count("bootstrapped org") == 1, output
    assert not any(psutil.pid_exists(pid) for pid in pids)


async def test_killed_worker_is_replaced_and_acknowledged_calls_stay_recorded(
    tmp_path: Path,
) -> None:
    async with workers_server(tmp_path) as (server, database_url):
        first = await wait_for_workers(server, 2)
        victim = min(first)
        acknowledged: set[str] = set()
        failures: list[grpc.StatusCode] = []
        killed = asyncio.Event()

        async def caller(number: int) -> None:
            async with channel(server.target) as chan:
                stub = api_grpc.CompletionServiceStub(chan)
                for _ in range(40):
                    try:
                        reply = await stub.Complete(
                            request(number), metadata=(("x-api-key", KEY),), timeout=30
                        )
                    except aio.AioRpcError as error:
                        # Only calls on the killed worker's connection fail.
                        failures.append(error.code())
                        continue
                    acknowledged.add(reply.request_id)
                    if len(acknowledged) == 100 and not killed.is_set():
                        killed.set()
                        psutil.Process(victim).send_signal(signal.SIGKILL)

        await asyncio.gather(*(caller(n) for n in range(12)))
        assert killed.is_set()
        replaced = await wait_for_workers(server, 2)
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.process.wait(), 60) == 0

    output = "".join(server.output)
    assert victim not in replaced and len(replaced - first) == 1, (first, replaced)
    assert f"(pid {victim}) exited with status -9; restarting it" in output
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}, failures
    # Every call that got an answer has its record; the survivors kept serving.
    assert acknowledged <= await stored_records(database_url)
    assert len(acknowledged) > 100


async def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    async with workers_server(tmp_path) as (server, _):
        pids = await wait_for_workers(server, 2)
        server.process.send_signal(signal.SIGKILL)
        await server.process.wait()
        workers = [psutil.Process(pid) for pid in pids]
        _, alive = await asyncio.to_thread(psutil.wait_procs, workers, timeout=30)
    assert alive == [], "workers outlived their supervisor"


async def test_supervisor_gives_up_when_workers_keep_failing_to_start(
    tmp_path: Path,
) -> None:
    # The supervisor prepares the database but never reads the artifact;
    # every worker does, and exits at once.
    missing = tmp_path / "no-such-artifact"
    async with workers_server(tmp_path, MEGAROUTER_ROUTER_ARTIFACT=str(missing)) as (
        server,
        database_url,
    ):
        assert await asyncio.wait_for(server.process.wait(), 90) == 1
    output = "".join(server.output)
    assert "times in a row right after starting; stopping" in output, output
    assert str(missing) in output
    assert await stored_records(database_url) == set()


def test_port_zero_is_reserved_as_one_concrete_port() -> None:
    with _reserved("127.0.0.1:0") as listen:
        host, _, port = listen.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        # Another server that does not share the port cannot take it.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", int(port)))


def test_taken_port_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(ConfigurationError, match="MEGAROUTER_LISTEN"),
            _reserved(f"127.0.0.1:{port}"),
        ):
            pass
