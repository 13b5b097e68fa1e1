"""Run a real MegaRouter server in-process, for tests of any layer above it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from grpc import aio

from megarouter.config import Settings
from megarouter.server import Runtime, start, stop

BOOTSTRAP_ORG = "default"


@dataclass(slots=True)
class RunningServer:
    runtime: Runtime
    target: str
    admin_key: str
    database_url: str

    def channel(self) -> aio.Channel:
        return aio.insecure_channel(self.target)


def server_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": "s" * 40,
        "bootstrap_key": "mr-test-admin-" + secrets.token_urlsafe(16),
        "auto_migrate": True,
        "grace_period": 2.0,
        "auth_refresh_interval": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_server(
    settings: Settings, plugins: Mapping[str, object] | None = None
) -> AsyncIterator[RunningServer]:
    runtime = await start(settings, plugins)
    assert settings.bootstrap_key is not None
    try:
        yield RunningServer(
            runtime,
            f"127.0.0.1:{runtime.port}",
            settings.bootstrap_key.get_secret_value(),
            settings.effective_database_url,
        )
    finally:
        await stop(runtime, grace=1.0)


@asynccontextmanager
async def fresh_postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards.

    Args:
        admin_url: ``postgresql://user@host:port/db`` of a database from
            which the new one may be created.

    Yields:
        The new database's ``postgresql+asyncpg://`` URL.
    """
    name = f"mr_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
