"""Async engines and sessions for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_engine
from sqlalchemy.pool import SingletonThreadPool

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
        self.sqlite_synchronous = sqlite_synchronous
        self.engine = create_engine(url, sqlite_synchronous=sqlite_synchronous)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


class SqliteThreadWriter:
    """Runs whole write transactions on one thread of its own (SQLite only).

    Through the async engine, a transaction is several trips to aiosqlite's
    thread (begin, execute, commit, return the connection); here it is one
    hand-off. The file, WAL mode and durability setting are the database's.
    """

    def __init__(self, database: Database) -> None:
        if not is_sqlite(database.url):
            raise ValueError("SqliteThreadWriter is for SQLite databases")
        sync_url = make_url(database.url).set(drivername="sqlite")
        self._engine = sa_create_engine(
            sync_url,
            poolclass=SingletonThreadPool,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        mode = database.sqlite_synchronous

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, mode)

        event.listen(self._engine, "connect", pragmas)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return work(connection)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._engine.dispose()
