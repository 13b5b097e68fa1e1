"""Async engines and sessions for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_engine

logger = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")


def create_engine(
    url: str, *, pool_size: int = 10, sqlite_synchronous: str = "NORMAL"
) -> AsyncEngine:
    """An engine tuned for this process's workload on either database.

    Args:
        url: the async database URL.
        pool_size: connections kept open (PostgreSQL).
        sqlite_synchronous: NORMAL keeps every commit through a killed
            process (WAL); FULL also through a power cut, at one fsync per
            commit.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = _create_engine(url, connect_args={"timeout": 30})
        mode = sqlite_synchronous
        if mode not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous must be one of {SQLITE_SYNCHRONOUS}")

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, mode)

        event.listen(engine.sync_engine, "connect", pragmas)
        return engine
    return _create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def _sqlite_pragmas(dbapi_connection: Any, synchronous: str) -> None:
    # WAL lets readers proceed during a write and, with NORMAL, keeps every
    # commit through a killed process; the busy timeout makes processes
    # sharing the file wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = url
        self.engine = create_engine(url, sqlite_synchronous=sqlite_synchronous)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
