"""Async engines and sessions for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
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


def _sqlite_pragmas(
    dbapi_connection: Any,
    synchronous: str,
    *,
    busy_timeout_ms: int = 30_000,
    autocheckpoint: bool = True,
) -> None:
    # WAL lets readers proceed during a write and, with NORMAL, keeps every
    # commit through a killed process; the busy timeout makes processes
    # sharing the file wait for each other instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    if not autocheckpoint:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
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
    """Runs whole write transactions for SQLite, off the event loop or on it.

    Through the async engine, a transaction is several trips to aiosqlite's
    thread (begin, execute, commit, return the connection); :meth:`run` makes
    it one hand-off to a thread of its own. Even one hand-off costs about as
    much as the write itself (a thread wake-up each way, measured at about
    0.2 ms here), so :meth:`try_inline` can instead run a small transaction
    on the calling thread, when that cannot block it:

    * only with ``synchronous=NORMAL``, where a commit writes the WAL without
      an fsync (with FULL, every commit waits for the disk: always a thread);
    * with a busy timeout of 0: when another connection or process holds the
      write lock, the inline attempt gives up at once and the caller hands
      the work to the thread, which waits for the lock;
    * without automatic checkpoints (a checkpoint fsyncs the database):
      every :data:`CHECKPOINT_EVERY` inline commits, a passive checkpoint runs
      on the writer thread instead.

    The file, WAL mode and durability setting are the database's.
    """

    CHECKPOINT_EVERY = 200

    def __init__(self, database: Database) -> None:
        if not is_sqlite(database.url):
            raise ValueError("SqliteThreadWriter is for SQLite databases")
        sync_url = make_url(database.url).set(drivername="sqlite")
        mode = database.sqlite_synchronous
        self._engine = sa_create_engine(
            sync_url,
            poolclass=SingletonThreadPool,
            connect_args={"timeout": 30, "check_same_thread": False},
        )

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, mode)

        event.listen(self._engine, "connect", pragmas)
        self._inline: Engine | None = None
        if mode == "NORMAL":
            self._inline = sa_create_engine(
                sync_url,
                poolclass=SingletonThreadPool,
                connect_args={"timeout": 0, "check_same_thread": False},
            )

            def inline_pragmas(dbapi_connection: Any, _record: Any) -> None:
                _sqlite_pragmas(
                    dbapi_connection, mode, busy_timeout_ms=0, autocheckpoint=False
                )

            event.listen(self._inline, "connect", inline_pragmas)
        self._inline_commits = 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work)

    def try_inline(
        self, work: Callable[[sqlite3.Connection], T]
    ) -> tuple[bool, T | None]:
        """Run ``work`` on a sqlite3 connection here, in one transaction, if free.

        ``work`` gets the driver's own connection (no SQLAlchemy on this
        path: its per-execution work cost more than the insert itself).

        Returns:
            ``(True, result)`` once committed; ``(False, None)`` when inline
            writes are off or SQLite refused anything, the write lock being
            taken most of all. Nothing was written then: hand the work to
            :meth:`run`, which waits for the lock and raises SQLAlchemy's
            errors for whatever the database refuses.
        """
        if self._inline is None:
            return False, None
        try:
            pooled = self._inline.raw_connection()
        except (OperationalError, sqlite3.Error):  # busy while connecting
            return False, None
        try:
            connection = pooled.driver_connection
            assert isinstance(connection, sqlite3.Connection)
            try:
                result = work(connection)
                connection.commit()
            except sqlite3.Error:
                connection.rollback()
                return False, None
        finally:
            pooled.close()  # back to the pool, for the next inline commit
        self._inline_commits += 1
        if self._inline_commits % self.CHECKPOINT_EVERY == 0:
            self._executor.submit(self._checkpoint)
        return True, result

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return work(connection)

    def _checkpoint(self) -> None:
        """Copy the WAL into the database without waiting for readers."""
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # the next one will try again
            logger.warning("SQLite checkpoint failed", exc_info=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._inline is not None:
            self._inline.dispose()
        self._engine.dispose()
