"""The usage ledger: every call's record is durable before the call is answered.

Callers await :meth:`UsageLedger.record`, which returns only once the
record's transaction has committed. One writer task commits for everyone
(group commit): it waits for the first pending record, takes every record
queued by then, inserts them with one multi-row INSERT in one transaction,
answers each caller, and starts again at once. There is no timer and no
waiting window: a lone call waits for one small commit, and under load each
commit carries every record that arrived while the previous one ran.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC
from functools import partial
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from megarouter.errors import AlreadyExists, InvalidArgument, Unavailable
from megarouter.governance.usage import Attempt, CallKind, CallStatus, UsageRecord
from megarouter.store.database import Database, SqliteThreadWriter
from megarouter.store.tables import as_utc
from megarouter.store.usage_tables import UsageRow

logger = logging.getLogger(__name__)

USAGE_TABLE = UsageRow.__table__  # type: ignore[attr-defined]

_LENGTH_LIMITS: dict[str, int] = {
    column.name: column.type.length
    for column in USAGE_TABLE.columns
    if getattr(column.type, "length", None)  # VARCHAR(n), not TEXT
}
_RECORD_FIELDS = tuple(f.name for f in fields(UsageRecord))
_ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))
_FREE_TEXT = ("route_reason", "response")  # may hold anything a provider said
_BIGINT = range(-(2**63), 2**63)


# --- rows and records ------------------------------------------------------


def row_values(record: UsageRecord) -> dict[str, Any]:
    """The ``usage_records`` column values of a record, checked to be storable.

    Raises:
        InvalidArgument: a field is too long, out of range or holds a NUL.
    """
    values = {name: getattr(record, name) for name in _RECORD_FIELDS}
    values["client_request_id"] = record.client_request_id or None
    values["kind"] = record.kind.value
    values["status"] = record.status.value
    values["attempts"] = json.dumps([_attempt_json(a) for a in record.attempts])
    values["created_at"] = as_utc(record.created_at).astimezone(UTC)

    # PostgreSQL text cannot hold NUL; free text keeps a visible stand-in.
    for name in _FREE_TEXT:
        values[name] = values[name].replace("\x00", "\ufffd")
    _check_storable(values)
    return values


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS}


def _check_storable(values: Mapping[str, Any]) -> None:
    """Refuse what one backend would store and the other reject."""
    for name, limit in _LENGTH_LIMITS.items():
        value = values[name]
        if value is None:
            continue
        if len(value) > limit:
            raise InvalidArgument.for_field(name, f"longer than {limit} characters")
        if "\x00" in value:
            raise InvalidArgument.for_field(name, "contains a NUL character")
    for name in ("input_tokens", "output_tokens", "cost_micros"):
        if values[name] not in _BIGINT:
            raise InvalidArgument.for_field(name, "out of the 64-bit range")


def record_from_row(row: Mapping[str, Any]) -> UsageRecord:
    """The record a ``usage_records`` row holds."""
    values = dict(row)
    values["client_request_id"] = values["client_request_id"] or ""
    values["kind"] = CallKind(values["kind"])
    values["status"] = CallStatus(values["status"])
    values["attempts"] = tuple(Attempt(**a) for a in json.loads(values["attempts"]))
    values["created_at"] = as_utc(values["created_at"])
    return UsageRecord(**values)


def insert_statement(dialect: str) -> Insert:
    """One INSERT for many rows that skips duplicates and returns what it wrote."""
    if dialect == "postgresql":
        statement: Insert = postgresql.insert(USAGE_TABLE).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(USAGE_TABLE).on_conflict_do_nothing()
    else:
        raise ValueError(f"the usage ledger does not support {dialect}")
    return statement.returning(USAGE_TABLE.c.id)


class SqliteInsert:
    """The ledger's INSERT as the sqlite3 driver runs it, for inline commits.

    SQLAlchemy compiles the statement once, for its SQL text and the order
    of its parameters, and each column type's own bind processor converts
    the values (timestamps to SQLite's text form, for one), so a row is
    stored exactly as through SQLAlchemy; what is skipped is SQLAlchemy's
    work per execution, which cost more than the insert itself (about 45 of
    75 µs per one-row transaction in a loop, and more per call in a server).
    """

    def __init__(self) -> None:
        dialect = sqlite.dialect()
        columns = list(USAGE_TABLE.columns)
        statement = (
            sqlite.insert(USAGE_TABLE)
            .values({column.name: bindparam(column.name) for column in columns})
            .on_conflict_do_nothing()
            .returning(USAGE_TABLE.c.id)
        )
        compiled = statement.compile(dialect=dialect)
        processors = {
            column.name: column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in columns
        }
        self.sql = str(compiled)
        self._parameters = [
            (name, processors[name]) for name in compiled.positiontup or ()
        ]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """One row's values, converted and in the statement's order."""
        converted = []
        for name, convert in self._parameters:
            value = values[name]
            converted.append(value if convert is None else convert(value))
        return tuple(converted)

    def insert(
        self, connection: sqlite3.Connection, rows: Iterable[Mapping[str, Any]]
    ) -> set[str]:
        """Insert ``rows`` (in the caller's transaction); the ids written."""
        cursor = connection.cursor()
        written: set[str] = set()
        for values in rows:
            found = cursor.execute(self.sql, self.parameters(values)).fetchone()
            if found is not None:  # None: a duplicate, skipped
                written.add(found[0])
        return written


_SQLITE_INSERT = SqliteInsert()


# --- the ledger ------------------------------------------------------------


@dataclass(slots=True)
class LedgerStats:
    """What the writer has done since it started."""

    batches: int = 0  # committed transactions
    records: int = 0  # records committed
    largest_batch: int = 0
    failed_batches: int = 0  # transactions that did not commit


_Pending = tuple[dict[str, Any], asyncio.Future[None]]

# The largest SQLite batch committed on the event loop (see _insert_all): about
# 1 ms of the loop. At 16 callers this gave the ledger about 1.5x the records
# per second of a limit of 4, and a p99 of 2 ms, not 8 (scripts/bench_ledger.py).
INLINE_MAX_BATCH = 32


class UsageLedger:
    """Appends usage records with group commit.

    Use it as ``async with UsageLedger(database) as ledger:``, or call
    :meth:`start` and :meth:`stop` around its use.

    Args:
        database: where ``usage_records`` lives (migrated).
        max_batch: the most records one transaction takes; more wait for the
            next commit, which starts at once.
        commit_timeout: seconds after which a commit that has not ended is
            abandoned and its callers told the ledger is unavailable.
    """

    def __init__(
        self,
        database: Database,
        *,
        max_batch: int = 2000,
        commit_timeout: float = 30.0,
    ) -> None:
        self._database = database
        self._max_batch = max_batch
        self._commit_timeout = commit_timeout
        self._insert = insert_statement(database.engine.dialect.name)
        # SQLite: one thread hand-off per batch instead of several.
        self._sqlite: SqliteThreadWriter | None = None
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = LedgerStats()

    async def __aenter__(self) -> UsageLedger:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        """Start the writer task on the running event loop."""
        if self._writer is None:
            self._closing = False
            if self._database.engine.dialect.name == "sqlite":
                self._sqlite = SqliteThreadWriter(self._database)
            self._writer = asyncio.create_task(
                self._write_loop(), name="usage-ledger-writer"
            )

    async def stop(self) -> None:
        """Commit every record already given to :meth:`record`, then stop."""
        if self._writer is None:
            return
        self._closing = True
        self._queue.put_nowait(None)
        await self._writer
        self._writer = None
        if self._sqlite is not None:
            await asyncio.to_thread(self._sqlite.close)
            self._sqlite = None

    async def record(self, record: UsageRecord) -> None:
        """Append a usage record; return once it is durable.

        Args:
            record: the call's usage.

        Raises:
            InvalidArgument: a field cannot be stored (too long, for one).
            AlreadyExists: the org already has a record with this
                ``client_request_id`` (or this record id).
            Unavailable: the ledger is stopped, or the commit failed or timed
                out. The record may or may not be stored: do not acknowledge
                the call (a retry with the same ``client_request_id`` finds
                out which).
        """
        if self._writer is None or self._closing:
            raise Unavailable("the usage ledger is not running")
        values = row_values(record)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((values, future))
        await future

    async def find(self, org_id: str, client_request_id: str) -> UsageRecord | None:
        """The org's record of an earlier call with this idempotency key.

        Args:
            org_id: the organisation.
            client_request_id: the caller's idempotency key; "" finds nothing.

        Returns:
            The stored record, or None.

        Raises:
            Unavailable: the database could not be read.
        """
        if not client_request_id:
            return None
        query = select(USAGE_TABLE).where(
            USAGE_TABLE.c.org_id == org_id,
            USAGE_TABLE.c.client_request_id == client_request_id,
        )
        try:
            async with self._database.engine.connect() as connection:
                row = (await connection.execute(query)).mappings().first()
        except (SQLAlchemyError, OSError) as exc:
            reason = _describe(exc)
            raise Unavailable(f"cannot read the usage ledger: {reason}") from exc
        return None if row is None else record_from_row(dict(row))

    # --- the writer --------------------------------------------------------

    async def _write_loop(self) -> None:
        """Commit whatever is queued, as soon as the previous commit ends."""
        batch: list[_Pending] = []
        try:
            while True:
                batch, stopping = self._take_queued(await self._queue.get())
                if batch:
                    await self._commit(batch)
                batch = []
                if stopping:
                    return
        finally:
            # Empty after a normal stop; after a cancellation, nobody may wait.
            leftover = [item for item in self._drain() if item is not None]
            _fail(batch + leftover, lambda: Unavailable("the usage ledger stopped"))

    def _take_queued(self, first: _Pending | None) -> tuple[list[_Pending], bool]:
        """Everything queued now (up to max_batch), and whether stop was asked."""
        batch: list[_Pending] = []
        item = first
        while item is not None:
            batch.append(item)
            if len(batch) >= self._max_batch or self._queue.empty():
                return batch, False
            item = self._queue.get_nowait()
        return batch, True

    def _drain(self) -> list[_Pending | None]:
        items: list[_Pending | None] = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def _commit(self, batch: list[_Pending]) -> None:
        """Insert a batch in one transaction and answer each of its callers."""
        try:
            async with asyncio.timeout(self._commit_timeout):
                written = await self._insert_all(values for values, _ in batch)
        except (IntegrityError, DataError) as exc:
            # One record broke the statement: find it by writing one by one.
            logger.warning("usage batch refused (%s); retrying singly", _describe(exc))
            for pending in batch:
                await self._commit_single(pending)
            return
        except Exception as exc:  # the writer must outlive any failure
            self._count_failure(batch, exc)
            return

        self._count_success(len(written))
        for pending in batch:
            if pending[0]["id"] in written:
                _resolve(pending[1])
            else:
                _fail([pending], partial(_duplicate, pending[0]))

    async def _commit_single(self, pending: _Pending) -> None:
        values, future = pending
        try:
            async with asyncio.timeout(self._commit_timeout):
                written = await self._insert_all([values])
        except (IntegrityError, DataError) as exc:
            self.stats.failed_batches += 1
            message = f"usage record {values['id']} cannot be stored: {_describe(exc)}"
            _fail([pending], lambda: InvalidArgument(message))
            return
        except Exception as exc:  # the writer must outlive any failure
            self._count_failure([pending], exc)
            return

        self._count_success(len(written))
        if written:
            _resolve(future)
        else:
            _fail([pending], partial(_duplicate, values))

    async def _insert_all(self, rows: Iterable[dict[str, Any]]) -> set[str]:
        """Insert rows in one transaction; the ids actually written."""
        values = list(rows)
        if self._sqlite is not None:
            statement = self._insert

            def insert(connection: Connection) -> set[str]:
                return {row[0] for row in connection.execute(statement, values)}

            # A small batch commits on the loop when the file is free, which
            # saves the two thread hand-offs that would cost more than the
            # write; a large one (high load) goes to the writer thread, where
            # it leaves the loop serving calls.
            if len(values) <= INLINE_MAX_BATCH:
                done, written = self._sqlite.try_inline(
                    partial(_SQLITE_INSERT.insert, rows=values)
                )
                if done and written is not None:
                    return written
            return await self._sqlite.run(insert)
        connection: AsyncConnection
        async with self._database.engine.begin() as connection:
            result = await connection.execute(self._insert, values)
            return {row[0] for row in result}

    def _count_success(self, written: int) -> None:
        self.stats.batches += 1
        self.stats.records += written
        self.stats.largest_batch = max(self.stats.largest_batch, written)

    def _count_failure(self, batch: Sequence[_Pending], exc: BaseException) -> None:
        self.stats.failed_batches += 1
        if isinstance(exc, TimeoutError):
            reason = f"no commit within {self._commit_timeout:g} s"
        else:
            reason = _describe(exc)
        logger.error("usage ledger commit of %d records failed: %s", len(batch), reason)
        message = f"the usage ledger could not commit: {reason}"
        _fail(batch, lambda: Unavailable(message))


def _duplicate(values: Mapping[str, Any]) -> AlreadyExists:
    return AlreadyExists(
        f"org {values['org_id']} already has a usage record for client request "
        f"id {values['client_request_id']!r} (or record id {values['id']})"
    )


def _describe(exc: BaseException) -> str:
    """The database's own words, without the statement's parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a caller that gave up has cancelled it
        future.set_result(None)


def _fail(batch: Sequence[_Pending], error: Callable[[], Exception]) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error())
