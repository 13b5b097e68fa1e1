"""Fixtures shared by the whole suite.

Storage-facing tests run twice: on embedded SQLite and on the real
PostgreSQL named by MEGAROUTER_TEST_POSTGRES_URL (default: the local server,
database ``test``). Each gets a fresh, empty database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from megarouter.testing.server import (
    RunningServer,
    fresh_postgres_database,
    running_server,
    server_settings,
)

POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MEGAROUTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A fresh empty database URL, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'megarouter.db'}"
        return
    async with fresh_postgres_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A running server on a fresh database of each backend."""
    async with running_server(server_settings(database_url, tmp_path)) as running:
        yield running


@pytest.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A running server on embedded SQLite only, for tests that are not
    about storage."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'megarouter.db'}"
    async with running_server(server_settings(url, tmp_path)) as running:
        yield running
