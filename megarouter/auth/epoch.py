"""The auth epoch: how processes learn that keys, roles or policies changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from megarouter.auth.authenticator import Authenticator
from megarouter.auth.policy import PolicyEnforcer
from megarouter.store.database import Database
from megarouter.store.tables import AuthEpochRow

logger = logging.getLogger(__name__)


async def bump_epoch(session: AsyncSession) -> None:
    """Record, inside the caller's transaction, that auth state changed."""
    await session.execute(
        update(AuthEpochRow)
        .where(col(AuthEpochRow.id) == 1)
        .values(epoch=AuthEpochRow.epoch + 1)
    )


async def ensure_epoch_row(session: AsyncSession) -> None:
    if await session.get(AuthEpochRow, 1) is None:
        session.add(AuthEpochRow(id=1, epoch=0))


class EpochWatcher:
    """Polls the epoch and refreshes policies and key caches when it moves.

    A version poll works the same on SQLite and PostgreSQL and costs one
    primary-key read per interval.
    """

    def __init__(
        self,
        database: Database,
        enforcer: PolicyEnforcer,
        authenticator: Authenticator,
        interval: float,
    ) -> None:
        self._database = database
        self._enforcer = enforcer
        self._authenticator = authenticator
        self._interval = interval
        self._seen: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Reload now if the epoch moved since the last look."""
        async with self._lock:
            async with self._database.sessions() as session:
                epoch = await session.scalar(
                    select(col(AuthEpochRow.epoch)).where(col(AuthEpochRow.id) == 1)
                )
            if epoch == self._seen:
                return
            await self._enforcer.reload()
            self._authenticator.invalidate()
            if self._seen is not None:
                logger.info("auth state changed (epoch %s): reloaded", epoch)
            self._seen = epoch

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="auth-epoch-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:  # keep watching through a database hiccup
                logger.warning("auth epoch refresh failed", exc_info=True)
