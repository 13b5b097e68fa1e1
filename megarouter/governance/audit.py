"""The audit log: who changed what in an org, when, and in which request.

Every administrative change (orgs, teams, principals, API keys, role
bindings, provider and model settings, prices, credentials) writes one
:class:`AuditRow` through :class:`AuditTrail`, in the same transaction as
the change: a change that rolls back leaves no entry, and a committed change
always has its entry. Each entry holds the actor (principal and API key),
the action (``teams.create``), the resource name, the resource before and
after as JSON, the time and the request id of the RPC.

Secrets never reach the log: fields that hold them (key hashes, credential
keys and ciphertexts) are replaced by ``"<redacted>"`` wherever they appear,
and credentials are described by the names of their parts only.

:class:`AuditLog` reads the log back, newest first, a page at a time, with
a filter such as ``action = "teams.*" AND time >= "2026-01-01T00:00:00Z"``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from megarouter.auth.caller import Caller
from megarouter.context import current_request_id
from megarouter.errors import InvalidArgument, NotFound
from megarouter.store.audit_tables import AUDIT_ID_LENGTH, AuditRow
from megarouter.store.database import Database
from megarouter.store.tables import as_utc, utcnow
from megarouter.tenancy.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"

# Values of these fields are secret, or derived from a secret, wherever
# they appear in a recorded resource.
SECRET_FIELDS = frozenset(
    {"api_key", "ciphertext", "key_hash", "secret", "secret_access_key", "token"}
)
# Row fields that say nothing about the resource itself.
_UNRECORDED = frozenset({"request_id"})

# A resource as recorded: a table row, or what the log should show of it.
State: TypeAlias = SQLModel | Mapping[str, Any] | None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TOKEN_PREFIX = "audit:"
_ID = re.compile(rf"[0-9a-f]{{{AUDIT_ID_LENGTH}}}")


def time_key(when: datetime) -> str:
    """16 hex digits of microseconds since the epoch: ids sort by time."""
    return f"{(as_utc(when) - _EPOCH) // _MICROSECOND:016x}"


def new_event_id(when: datetime) -> str:
    return time_key(when) + secrets.token_hex(4)


def redact(value: Any) -> Any:
    """``value`` with every secret field's value replaced by ``REDACTED``."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if key in SECRET_FIELDS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def snapshot(row: SQLModel) -> dict[str, Any]:
    """A table row as the audit log records it: every column, secrets removed."""
    return {
        name: REDACTED if name in SECRET_FIELDS else value
        for name, value in row.model_dump().items()
        if name not in _UNRECORDED
    }


def credential_state(extra_keys: str | None) -> dict[str, Any] | None:
    """A stored credential as the log shows it: which parts, never values.

    Args:
        extra_keys: the comma-separated names of the extra parts, or None
            when no credential is stored.
    """
    if extra_keys is None:
        return None
    return {
        "api_key": REDACTED,
        "extra_keys": [name for name in extra_keys.split(",") if name],
    }


def _as_json(value: State) -> str | None:
    if value is None:
        return None
    if isinstance(value, SQLModel):
        value = snapshot(value)
    return json.dumps(redact(value), sort_keys=True, default=_json_default)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"cannot record a {type(value).__name__} in the audit log")


class AuditTrail:
    """Writes audit entries into the transaction of the change they describe.

    Args:
        enabled: False for a trail that records nothing (stores built
            without one, in tools and tests that do not audit).
        clock: where event times come from.
    """

    def __init__(
        self, enabled: bool = True, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.enabled = enabled
        self._clock = clock

    def record(
        self,
        session: AsyncSession,
        actor: Caller | None,
        action: str,
        resource: str,
        before: State,
        after: State,
    ) -> None:
        """Add one entry to ``session``; it commits or rolls back with it.

        Rows are recorded as they are at this call, so record ``before``
        as a :func:`snapshot` when the same row object changes afterwards.

        Args:
            session: the open transaction that makes the change.
            actor: who made it; None for the server itself.
            action: ``{collection}.{verb}``, such as ``keys.revoke``.
            resource: the changed resource's name, ``orgs/{org}/...``; the
                entry goes in that org's log.
            before: the resource before the change; None if it was created.
            after: the resource after the change; None if it was deleted.
        """
        if not self.enabled:
            return
        when = self._clock()
        org_id = resource.split("/", 2)[1]
        session.add(
            AuditRow(
                id=new_event_id(when),
                org_id=org_id,
                time=when,
                actor=actor.subject if actor else "",
                actor_key=actor.key_name if actor else "",
                action=action,
                resource=resource,
                before=_as_json(before),
                after=_as_json(after),
                request_id=current_request_id(),
            )
        )
        logger.debug("audit org=%s action=%s resource=%s", org_id, action, resource)


NO_AUDIT = AuditTrail(enabled=False)


class AuditLog:
    """Reads an org's audit log.

    Args:
        database: where the entries live.
    """

    def __init__(self, database: Database) -> None:
        self._database = database

    async def list_page(
        self,
        caller: Caller,
        org_id: str,
        page_size: int,
        page_token: str,
        filter_text: str,
    ) -> tuple[list[AuditRow], str]:
        """One page of the org's entries, newest first, and the next token.

        Another org's log is NOT_FOUND unless the caller is a platform
        administrator, who may also read the log of a deleted org.

        Raises:
            NotFound: the caller may not see the org.
            InvalidArgument: a bad page size, page token or filter.
        """
        if not caller.can_see_org(org_id):
            raise NotFound(f"orgs/{org_id} not found")
        size, after = _page(page_size, page_token)
        stmt = select(AuditRow).where(col(AuditRow.org_id) == org_id)
        for clause in parse_audit_filter(filter_text):
            stmt = stmt.where(clause)
        if after:
            stmt = stmt.where(col(AuditRow.id) < after)
        stmt = stmt.order_by(col(AuditRow.id).desc()).limit(size + 1)
        async with self._database.sessions() as session:
            rows = list((await session.execute(stmt)).scalars())
        if len(rows) <= size:
            return rows, ""
        rows = rows[:size]
        token = f"{_TOKEN_PREFIX}{rows[-1].id}".encode()
        return rows, base64.urlsafe_b64encode(token).decode()


def _page(page_size: int, page_token: str) -> tuple[int, str]:
    """The page size, and the id the page starts below ("" for the first)."""
    if page_size < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_token:
        return size, ""
    try:
        text = base64.urlsafe_b64decode(page_token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    after = text.removeprefix(_TOKEN_PREFIX)
    if not text.startswith(_TOKEN_PREFIX) or not _ID.fullmatch(after):
        raise InvalidArgument.for_field(
            "page_token", "is not a token from an earlier List call"
        )
    return size, after


# --- filters ----------------------------------------------------------------

_CLAUSE = re.compile(
    r'\s*([a-z_]+)\s*(>=|<=|!=|=|>|<)\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_.:*/+-]+)\s*'
)
_TEXT_FIELDS = {
    "actor": AuditRow.actor,
    "action": AuditRow.action,
    "resource": AuditRow.resource,
    "request_id": AuditRow.request_id,
}
FILTER_FIELDS = (*_TEXT_FIELDS, "time")


def parse_audit_filter(text: str) -> list[ColumnElement[bool]]:
    """SQL conditions for a filter over audit entries.

    The filter is a conjunction (``AND``) of clauses:

    - ``actor``, ``action``, ``resource``, ``request_id`` with ``=`` or
      ``!=`` and a quoted value; a value ending in ``*`` matches every value
      starting with what precedes it (``action = "teams.*"``). An ``actor``
      that names an API key (``.../keys/{key}``) matches the key used.
    - ``time`` with ``>=``, ``>``, ``<`` or ``<=`` and an RFC 3339 time,
      such as ``time >= "2026-01-01T00:00:00Z"``.

    Raises:
        InvalidArgument: on ``filter``, saying what is wrong.
    """
    if not text.strip():
        return []
    if "\x00" in text or len(text) > 2000:
        raise InvalidArgument.for_field(
            "filter", "must be at most 2000 characters, without NUL"
        )
    return [_condition(clause) for clause in re.split(r"\s+AND\s+", text.strip())]


def _condition(clause: str) -> ColumnElement[bool]:
    match = _CLAUSE.fullmatch(clause)
    if match is None:
        raise InvalidArgument.for_field(
            "filter", f'cannot parse {clause[:100]!r}; expected field = "value"'
        )
    field, operator, literal = match.groups()
    if literal.startswith('"'):
        literal = literal[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if field == "time":
        return _time_condition(operator, literal)
    if field not in _TEXT_FIELDS:
        raise InvalidArgument.for_field(
            "filter",
            f"unknown field {field!r}; filterable: {', '.join(FILTER_FIELDS)}",
        )
    if operator not in ("=", "!="):
        raise InvalidArgument.for_field(
            "filter", f"{field} takes = or !=, not {operator}"
        )

    column = col(_TEXT_FIELDS[field])
    if field == "actor" and "/keys/" in literal:
        column = col(AuditRow.actor_key)
    if literal.endswith("*"):
        clause_sql = column.startswith(literal[:-1], autoescape=True)
    else:
        clause_sql = column == literal
    return ~clause_sql if operator == "!=" else clause_sql


def _time_condition(operator: str, literal: str) -> ColumnElement[bool]:
    """A time range as a range of ids, which begin with their time."""
    try:
        when = datetime.fromisoformat(literal)
    except ValueError:
        raise InvalidArgument.for_field(
            "filter",
            f"bad time {literal[:60]!r}; expected RFC 3339 such as "
            "2026-01-01T00:00:00Z",
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when < _EPOCH:
        raise InvalidArgument.for_field("filter", "times start in 1970")
    column = col(AuditRow.id)
    if operator == ">=":
        return column >= time_key(when)
    if operator == ">":
        return column >= time_key(when + _MICROSECOND)
    if operator == "<":
        return column < time_key(when)
    if operator == "<=":
        return column < time_key(when + _MICROSECOND)
    raise InvalidArgument.for_field(
        "filter", f"time takes >=, >, < or <=, not {operator}"
    )
