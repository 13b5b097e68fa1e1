"""A server killed with SIGKILL under load loses no acknowledged usage record."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import grpc
import pytest
from grpc import aio
from megarouter_openai.fake import OpenAIFake
from sqlalchemy import select

from megarouter.store.database import Database
from megarouter.store.usage_tables import UsageRow
from megarouter.testing.fake_http import free_port
from megarouter.testing.server import fresh_postgres_database
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from tests.conftest import POSTGRES_URL
from tests.server.support import wait_serving

KEY = "mr-kill-test-admin-key-0123456789"
LAUNCHER = Path(__file__).with_name("serve_with_fakes.py")
ACKS_BEFORE_KILL = 300
CALLERS = 32


async def run_until_killed(database_url: str, tmp_path: Path) -> set[str]:
    """Load the server, kill it, and return the request ids it acknowledged."""
    with OpenAIFake(api_key="sk-a-123456") as fake:
        port = free_port()
        env = {
            **os.environ,
            "FAKE_BASE_URL": f"{fake.server.url}/v1",
            "FAKE_A_KEY": "sk-a-123456",
            "MEGAROUTER_LISTEN": f"127.0.0.1:{port}",
            "MEGAROUTER_DATA_DIR": str(tmp_path),
            "MEGAROUTER_DATABASE_URL": database_url,
            "MEGAROUTER_AUTO_MIGRATE": "true",
            "MEGAROUTER_SECRET_KEY": "k" * 40,
            "MEGAROUTER_BOOTSTRAP_KEY": KEY,
            "MEGAROUTER_LOG_LEVEL": "WARNING",
            "MEGAROUTER_PLUGINS": "openai",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        acknowledged: set[str] = set()
        try:
            target = f"127.0.0.1:{port}"
            await wait_serving(target)
            killed = asyncio.Event()

            async def caller(number: int) -> None:
                async with aio.insecure_channel(target) as channel:
                    stub = api_grpc.CompletionServiceStub(channel)
                    request = api.CompleteRequest(
                        model="gpt-4o-mini",
                        messages=[
                            chat.ChatMessage(
                                role=chat.CHAT_ROLE_USER,
                                content=[chat.ContentPart(text=f"caller {number}")],
                            )
                        ],
                    )
                    while not killed.is_set():
                        try:
                            response = await stub.Complete(
                                request, metadata=(("x-api-key", KEY),), timeout=10
                            )
                        except aio.AioRpcError as error:
                            assert error.code() in (
                                grpc.StatusCode.UNAVAILABLE,
                                grpc.StatusCode.CANCELLED,
                                grpc.StatusCode.DEADLINE_EXCEEDED,
                            ), error
                            return
                        acknowledged.add(response.request_id)
                        if (
                            len(acknowledged) >= ACKS_BEFORE_KILL
                            and not killed.is_set()
                        ):
                            process.send_signal(signal.SIGKILL)
                            killed.set()

            await asyncio.wait_for(
                asyncio.gather(*(caller(i) for i in range(CALLERS))), 120
            )
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
        assert process.returncode == -signal.SIGKILL
        return acknowledged


async def stored_request_ids(database_url: str) -> set[str]:
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            return set((await session.execute(select(UsageRow.request_id))).scalars())
    finally:
        await database.dispose()


@pytest.mark.slow
async def test_sigkill_under_load_loses_no_acknowledged_record_sqlite(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    acknowledged = await run_until_killed(url, tmp_path)
    assert len(acknowledged) >= ACKS_BEFORE_KILL
    assert acknowledged <= await stored_request_ids(url)


@pytest.mark.slow
async def test_sigkill_under_load_loses_no_acknowledged_record_postgres(
    tmp_path: Path,
) -> None:
    async with fresh_postgres_database(POSTGRES_URL) as url:
        acknowledged = await run_until_killed(url, tmp_path)
        assert len(acknowledged) >= ACKS_BEFORE_KILL
        assert acknowledged <= await stored_request_ids(url)
