"""The lease protocol: every statement that moves budget money in the database.

A replica holds at most one lease per budget window. Its row in
``budget_leases`` records how much of the window the replica holds; the
window's ``leased_micros`` is the sum of its leases. Money moves only here:

- grow: one conditional UPDATE of the window,
  ``leased += grow WHERE spent + leased + grow <= limit`` (for a soft budget
  the condition always passes), with the lease row created or enlarged in
  the same transaction, and the replica's settled spend written back with it;
- write back: ``spent += used, leased -= used + returned``;
- release: the lease row is deleted and whatever it held returns, except the
  settled spend it carried, which becomes ``spent``;
- expiry: a lease whose replica stopped renewing it is deleted by any
  replica and its whole amount counted as spent. The replica may have
  admitted calls it never wrote back, and no one can know their cost
  without a write per call; counting all of it keeps a hard budget from
  being overspent, at the price of under-using it by at most the unused
  part of the dead replica's slice.

Every transaction touches the lease row before the window row, so the
lease's existence decides who accounts for it: once expiry has deleted a
lease, its replica's later writes change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Table,
    and_,
    delete,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from megarouter.store.budget_tables import BudgetLeaseRow, BudgetRow, BudgetWindowRow
from megarouter.store.database import Database

BUDGETS: Table = BudgetRow.__table__  # type: ignore[attr-defined]
WINDOWS: Table = BudgetWindowRow.__table__  # type: ignore[attr-defined]
LEASES: Table = BudgetLeaseRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class WindowKey:
    """One budget's window: the unit that leases are taken from."""

    org_id: str
    budget_id: str
    start: datetime  # UTC


@dataclass(frozen=True, slots=True)
class WindowState:
    """A window's row and its budget's limit, as read or written just now."""

    spent_micros: int
    leased_micros: int
    limit_micros: int
    hard: bool

    @property
    def unleased_micros(self) -> int:
        """What no replica holds yet; negative when a soft budget is over."""
        return self.limit_micros - self.spent_micros - self.leased_micros


@dataclass(frozen=True, slots=True)
class Grant:
    """The outcome of asking to grow a lease."""

    granted: bool
    state: WindowState | None  # None: the budget no longer exists


class LeaseLost(Exception):
    """The lease expired and was written off, or its budget was deleted."""


class _Refused(Exception):
    """A hard limit refused a grow: undo the transaction."""


def _limit_of(table: Table) -> ScalarSelect[Any]:
    return (
        select(BUDGETS.c.limit_micros)
        .where(BUDGETS.c.org_id == table.c.org_id, BUDGETS.c.id == table.c.budget_id)
        .scalar_subquery()
    )


def _hard_of(table: Table) -> ScalarSelect[Any]:
    return (
        select(BUDGETS.c.hard)
        .where(BUDGETS.c.org_id == table.c.org_id, BUDGETS.c.id == table.c.budget_id)
        .scalar_subquery()
    )


def _window_is(key: WindowKey) -> ColumnElement[bool]:
    return and_(
        WINDOWS.c.org_id == key.org_id,
        WINDOWS.c.budget_id == key.budget_id,
        WINDOWS.c.window_start == key.start,
    )


class LeaseStore:
    """The lease statements, each in its own short transaction.

    Args:
        database: where the budget tables live (migrated).
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        dialect = database.engine.dialect.name
        insert: Insert
        if dialect == "postgresql":
            insert = postgresql.insert(WINDOWS).on_conflict_do_nothing()
        elif dialect == "sqlite":
            insert = sqlite.insert(WINDOWS).on_conflict_do_nothing()
        else:
            raise ValueError(f"budgets do not support {dialect}")
        self._insert_window = insert

    async def grow(
        self,
        key: WindowKey,
        window_end: datetime | None,
        lease_id: str,
        replica_id: str,
        *,
        new_lease: bool,
        grow_micros: int,
        used_micros: int,
        expires_at: datetime,
        may_pass_soft_limit: bool = False,
    ) -> Grant:
        """Lease ``grow_micros`` more of a window, writing back ``used_micros``.

        The limit is passed only when ``may_pass_soft_limit`` is set and the
        budget is soft.

        Raises:
            LeaseLost: the existing lease is gone (expired or deleted).
        """
        try:
            async with self._database.engine.begin() as connection:
                if new_lease:
                    await self._create_lease(
                        connection, key, window_end, lease_id, replica_id, expires_at
                    )
                await self._move_lease(
                    connection, lease_id, grow_micros - used_micros, expires_at
                )
                state = await self._grow_window(
                    connection, key, grow_micros, used_micros, may_pass_soft_limit
                )
                if state is None:
                    raise _Refused  # rolls the lease row back too
                return Grant(True, state)
        except _Refused:
            return Grant(False, await self.read(key))
        except IntegrityError:
            return Grant(False, None)  # the budget was deleted meanwhile

    async def write_back(
        self,
        key: WindowKey,
        lease_id: str,
        *,
        used_micros: int,
        returned_micros: int,
        expires_at: datetime,
    ) -> WindowState | None:
        """Count settled spend and hand back unused money; keep the lease.

        Raises:
            LeaseLost: the lease is gone.
        """
        async with self._database.engine.begin() as connection:
            await self._move_lease(
                connection, lease_id, -used_micros - returned_micros, expires_at
            )
            return await self._settle_window(
                connection, key, used_micros, used_micros + returned_micros
            )

    async def release(
        self, key: WindowKey, lease_id: str, *, used_micros: int
    ) -> WindowState | None:
        """End a lease: ``used_micros`` becomes spent, the rest returns.

        Raises:
            LeaseLost: the lease is gone.
        """
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                delete(LEASES)
                .where(LEASES.c.id == lease_id)
                .returning(LEASES.c.amount_micros)
            )
            held = result.scalar_one_or_none()
            if held is None:
                raise LeaseLost(lease_id)
            return await self._settle_window(connection, key, used_micros, held)

    async def release_orphan(self, lease_id: str) -> None:
        """End a lease no call reserved from: all of it returns.

        Raises:
            LeaseLost: the lease is gone.
        """
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                delete(LEASES)
                .where(LEASES.c.id == lease_id)
                .returning(
                    LEASES.c.org_id,
                    LEASES.c.budget_id,
                    LEASES.c.window_start,
                    LEASES.c.amount_micros,
                )
            )
            row = result.first()
            if row is None:
                raise LeaseLost(lease_id)
            key = WindowKey(row.org_id, row.budget_id, row.window_start)
            await self._settle_window(connection, key, 0, int(row.amount_micros))

    async def renew(self, replica_id: str, expires_at: datetime) -> set[str]:
        """Push back the expiry of every lease of a replica; the ids still held."""
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                update(LEASES)
                .where(LEASES.c.replica_id == replica_id)
                .values(expires_at=expires_at)
                .returning(LEASES.c.id)
            )
            return {row[0] for row in result}

    async def expire(self, now: datetime) -> int:
        """Write off every lease that expired before ``now``; the micros written off.

        Each lease goes in its own transaction, so replicas sweeping at the
        same moment neither deadlock nor count a lease twice.
        """
        async with self._database.engine.connect() as connection:
            result = await connection.execute(
                select(LEASES.c.id).where(LEASES.c.expires_at < now)
            )
            expired = [row[0] for row in result]
        total = 0
        for lease_id in expired:
            async with self._database.engine.begin() as connection:
                result = await connection.execute(
                    delete(LEASES)
                    .where(LEASES.c.id == lease_id, LEASES.c.expires_at < now)
                    .returning(
                        LEASES.c.org_id,
                        LEASES.c.budget_id,
                        LEASES.c.window_start,
                        LEASES.c.amount_micros,
                    )
                )
                row = result.first()
                if row is None:
                    continue  # renewed, released or swept meanwhile
                key = WindowKey(row.org_id, row.budget_id, row.window_start)
                amount = int(row.amount_micros)
                await connection.execute(
                    update(WINDOWS)
                    .where(_window_is(key))
                    .values(
                        spent_micros=WINDOWS.c.spent_micros + amount,
                        leased_micros=WINDOWS.c.leased_micros - amount,
                        written_off_micros=WINDOWS.c.written_off_micros + amount,
                    )
                )
                total += amount
        return total

    async def read(self, key: WindowKey) -> WindowState | None:
        """A window's state; zero spend for a window no one used yet.

        Returns None when the budget does not exist.
        """
        states = await self.read_many([key])
        return states.get(key)

    async def read_many(self, keys: list[WindowKey]) -> dict[WindowKey, WindowState]:
        """The state of each window whose budget exists."""
        found: dict[WindowKey, WindowState] = {}
        if not keys:
            return found
        async with self._database.engine.connect() as connection:
            for key in keys:
                budget = (
                    await connection.execute(
                        select(BUDGETS.c.limit_micros, BUDGETS.c.hard).where(
                            BUDGETS.c.org_id == key.org_id,
                            BUDGETS.c.id == key.budget_id,
                        )
                    )
                ).first()
                if budget is None:
                    continue
                row = (
                    await connection.execute(
                        select(WINDOWS.c.spent_micros, WINDOWS.c.leased_micros).where(
                            _window_is(key)
                        )
                    )
                ).first()
                spent, leased = (row[0], row[1]) if row is not None else (0, 0)
                found[key] = WindowState(spent, leased, budget[0], bool(budget[1]))
        return found

    async def totals(self, key: WindowKey) -> tuple[int, int, int]:
        """A window's spent, leased and written-off micros (zeros if unused)."""
        async with self._database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(
                        WINDOWS.c.spent_micros,
                        WINDOWS.c.leased_micros,
                        WINDOWS.c.written_off_micros,
                    ).where(_window_is(key))
                )
            ).first()
        return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))

    async def claim_alert(self, key: WindowKey, now: datetime) -> bool:
        """Mark a window alerted; True for the one caller, on any replica, that did."""
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                update(WINDOWS)
                .where(_window_is(key), WINDOWS.c.alert_time.is_(None))
                .values(alert_time=now)
            )
            return bool(result.rowcount == 1)

    # --- statements ---------------------------------------------------------

    async def _create_lease(
        self,
        connection: AsyncConnection,
        key: WindowKey,
        window_end: datetime | None,
        lease_id: str,
        replica_id: str,
        expires_at: datetime,
    ) -> None:
        """Insert the window row if missing, and an empty lease row."""
        await connection.execute(
            self._insert_window.values(
                org_id=key.org_id,
                budget_id=key.budget_id,
                window_start=key.start,
                window_end=window_end,
                spent_micros=0,
                leased_micros=0,
                written_off_micros=0,
            )
        )
        await connection.execute(
            LEASES.insert().values(
                id=lease_id,
                org_id=key.org_id,
                budget_id=key.budget_id,
                window_start=key.start,
                replica_id=replica_id,
                amount_micros=0,
                expires_at=expires_at,
            )
        )

    async def _move_lease(
        self,
        connection: AsyncConnection,
        lease_id: str,
        delta_micros: int,
        expires_at: datetime,
    ) -> None:
        """Change a lease's amount (and renew it), or raise LeaseLost."""
        result = await connection.execute(
            update(LEASES)
            .where(LEASES.c.id == lease_id)
            .values(
                amount_micros=LEASES.c.amount_micros + delta_micros,
                expires_at=expires_at,
            )
        )
        if result.rowcount != 1:
            raise LeaseLost(lease_id)

    async def _grow_window(
        self,
        connection: AsyncConnection,
        key: WindowKey,
        grow_micros: int,
        used_micros: int,
        may_pass_soft_limit: bool,
    ) -> WindowState | None:
        """The conditional UPDATE; None when the limit refuses it."""
        limit, hard = _limit_of(WINDOWS), _hard_of(WINDOWS)
        fits = WINDOWS.c.spent_micros + WINDOWS.c.leased_micros + grow_micros <= limit
        if may_pass_soft_limit:
            fits = or_(fits, hard == false())
        result = await connection.execute(
            update(WINDOWS)
            .where(_window_is(key), fits)
            .values(
                spent_micros=WINDOWS.c.spent_micros + used_micros,
                leased_micros=WINDOWS.c.leased_micros + grow_micros - used_micros,
            )
            .returning(WINDOWS.c.spent_micros, WINDOWS.c.leased_micros, limit, hard)
        )
        row = result.first()
        if row is None:
            return None
        return WindowState(int(row[0]), int(row[1]), int(row[2]), bool(row[3]))

    async def _settle_window(
        self,
        connection: AsyncConnection,
        key: WindowKey,
        spent_micros: int,
        unleased_micros: int,
    ) -> WindowState | None:
        """``spent += spent_micros, leased -= unleased_micros``."""
        limit, hard = _limit_of(WINDOWS), _hard_of(WINDOWS)
        result = await connection.execute(
            update(WINDOWS)
            .where(_window_is(key))
            .values(
                spent_micros=WINDOWS.c.spent_micros + spent_micros,
                leased_micros=WINDOWS.c.leased_micros - unleased_micros,
            )
            .returning(WINDOWS.c.spent_micros, WINDOWS.c.leased_micros, limit, hard)
        )
        row = result.first()
        if row is None:
            return None
        return WindowState(int(row[0]), int(row[1]), int(row[2]), bool(row[3]))
