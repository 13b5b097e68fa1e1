"""Creating, reading, listing, changing and deleting budgets.

The Admin servicer translates requests into these calls after it has
checked the caller's roles; nothing here knows about callers or protobuf.
Updates and deletes take an etag (``W/"<version>"``) and refuse a stale one.
Every change writes an audit entry, naming the actor passed in, in the
transaction of the change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from megarouter.auth.caller import Caller
from megarouter.errors import (
    AlreadyExists,
    EtagMismatch,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from megarouter.governance.audit import NO_AUDIT, AuditTrail
from megarouter.governance.budget_model import Budget, ScopeKind
from megarouter.governance.budget_periods import Period
from megarouter.store.budget_tables import BudgetRow
from megarouter.store.database import Database
from megarouter.store.tables import OrgRow, as_utc, utcnow
from megarouter.tenancy.listing import next_page_token, page_request

BUDGETS: Table = BudgetRow.__table__  # type: ignore[attr-defined]
ORGS: Table = OrgRow.__table__  # type: ignore[attr-defined]

MUTABLE_FIELDS = frozenset(
    {"display_name", "limit_micros", "hard", "prefer_cheaper_below_micros"}
)
_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
_ID_RULE = "1 to 63 lowercase letters, digits and hyphens, starting with a letter"
_MAX_MICROS = 2**63 - 1
_SCENARIO_LIMIT = 128


# --- rows -----------------------------------------------------------------


def budget_from_row(row: RowMapping) -> Budget:
    return Budget(
        org_id=row["org_id"],
        id=row["id"],
        scope_kind=ScopeKind(row["scope_kind"]),
        scope_value=row["scope_value"],
        period=Period(row["period"]),
        limit_micros=int(row["limit_micros"]),
        hard=bool(row["hard"]),
        prefer_cheaper_below_micros=row["prefer_cheaper_below_micros"],
        display_name=row["display_name"],
        version=int(row["version"]),
        create_time=as_utc(row["create_time"]),
        update_time=as_utc(row["update_time"]),
    )


async def load_org_budgets(database: Database, org_id: str) -> tuple[str, list[Budget]]:
    """An org's time zone ("UTC" for an unknown org) and all its budgets."""
    async with database.engine.connect() as connection:
        zone = await connection.scalar(
            select(ORGS.c.time_zone).where(ORGS.c.id == org_id)
        )
        rows = await connection.execute(
            select(BUDGETS).where(BUDGETS.c.org_id == org_id)
        )
        budgets = [budget_from_row(row) for row in rows.mappings()]
    return zone or "UTC", budgets


async def load_budget(
    database: Database, org_id: str, budget_id: str
) -> tuple[str, Budget]:
    """An org's time zone and one of its budgets.

    Raises:
        NotFound: no such budget.
    """
    async with database.engine.connect() as connection:
        zone = await connection.scalar(
            select(ORGS.c.time_zone).where(ORGS.c.id == org_id)
        )
        row = (
            (
                await connection.execute(
                    select(BUDGETS).where(
                        BUDGETS.c.org_id == org_id, BUDGETS.c.id == budget_id
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"orgs/{org_id}/budgets/{budget_id} not found")
    return zone or "UTC", budget_from_row(row)


# --- validation -------------------------------------------------------------


def check_budget(budget: Budget) -> Budget:
    """``budget`` if every field is valid, with the org scope's value set to "".

    Raises:
        InvalidArgument: with one violation per bad field.
    """
    problems: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        problems.append(FieldViolation(f"budget.{field}", description))

    if not _ID.fullmatch(budget.id):
        problems.append(FieldViolation("budget_id", f"must be {_ID_RULE}"))
    if budget.scope_kind is ScopeKind.ORG:
        budget = replace(budget, scope_value="")
    elif budget.scope_kind is ScopeKind.SCENARIO:
        tag = budget.scope_value
        if not tag or len(tag) > _SCENARIO_LIMIT or not tag.isprintable():
            bad(
                "scope_value",
                f"a scenario tag is 1 to {_SCENARIO_LIMIT} printable characters",
            )
    elif not _ID.fullmatch(budget.scope_value):
        bad("scope_value", f"a {budget.scope_kind} id is {_ID_RULE}")
    problems += _check_mutable(budget)
    if problems:
        raise InvalidArgument(
            "; ".join(f"{p.field}: {p.description}" for p in problems), problems
        )
    return budget


def _check_mutable(budget: Budget) -> list[FieldViolation]:
    problems = []
    if not 0 < budget.limit_micros <= _MAX_MICROS:
        problems.append(
            FieldViolation("budget.limit_micros", "must be positive and fit 64 bits")
        )
    threshold = budget.prefer_cheaper_below_micros
    if threshold is not None and not 0 < threshold <= _MAX_MICROS:
        problems.append(
            FieldViolation(
                "budget.prefer_cheaper_below_micros",
                "must be positive and fit 64 bits, or unset",
            )
        )
    if len(budget.display_name) > 200 or "\x00" in budget.display_name:
        problems.append(
            FieldViolation("budget.display_name", "at most 200 characters, no NUL")
        )
    return problems


def _check_etag(budget: Budget, etag: str) -> None:
    if etag and etag != budget.etag:
        raise EtagMismatch(f"etag {etag} is stale; {budget.name} is at {budget.etag}")


# --- the resource -------------------------------------------------------------


class BudgetAdmin:
    """Budget resources of every org.

    Args:
        database: where the budget tables live (migrated).
        on_change: called with the org id after every committed change, so
            this process's :class:`~megarouter.governance.budgets.BudgetBook`
            can ``forget`` it at once (other replicas reread within a tick).
        audit: where changes are recorded, with the ``actor`` each call names.
    """

    def __init__(
        self,
        database: Database,
        on_change: Callable[[str], None] | None = None,
        *,
        audit: AuditTrail = NO_AUDIT,
    ) -> None:
        self._database = database
        self._on_change = on_change or (lambda org_id: None)
        self._audit = audit

    async def _record(
        self,
        connection: AsyncConnection,
        actor: Caller | None,
        action: str,
        before: Budget | None,
        after: Budget | None,
    ) -> None:
        """Write an audit entry inside the change's own transaction."""
        budget = after or before
        assert budget is not None, "a change has a budget before or after it"
        async with AsyncSession(bind=connection) as session:
            self._audit.record(
                session,
                actor,
                f"budgets.{action}",
                budget.name,
                asdict(before) if before else None,
                asdict(after) if after else None,
            )
            await session.flush()

    async def create(self, budget: Budget, *, actor: Caller | None = None) -> Budget:
        """Create a budget; its version, etag and times are set here.

        Raises:
            InvalidArgument: a field is invalid.
            NotFound: the org does not exist.
            AlreadyExists: the org has a budget with this id.
        """
        budget = check_budget(budget)
        now = utcnow()
        values = _values(budget) | {
            "version": 1,
            "create_time": now,
            "update_time": now,
        }
        async with self._database.engine.begin() as connection:
            org = await connection.scalar(
                select(ORGS.c.id).where(ORGS.c.id == budget.org_id)
            )
            if org is None:
                raise NotFound(f"orgs/{budget.org_id} not found")
            try:
                await connection.execute(insert(BUDGETS).values(**values))
            except IntegrityError:
                raise AlreadyExists(f"{budget.name} already exists") from None
            created = replace(budget, version=1, create_time=now, update_time=now)
            await self._record(connection, actor, "create", None, created)
        self._on_change(budget.org_id)
        return created

    async def get(self, org_id: str, budget_id: str) -> Budget:
        """One budget.

        Raises:
            NotFound: no such budget.
        """
        return (await load_budget(self._database, org_id, budget_id))[1]

    async def list(
        self, org_id: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Budget], str]:
        """A page of an org's budgets in id order, and the next page's token.

        Raises:
            InvalidArgument: a negative page size or a foreign page token.
        """
        page = page_request(page_size, page_token)
        query = select(BUDGETS).where(BUDGETS.c.org_id == org_id)
        if page.after:
            query = query.where(BUDGETS.c.id > page.after)
        async with self._database.engine.connect() as connection:
            rows = await connection.execute(
                query.order_by(BUDGETS.c.id).limit(page.size)
            )
            budgets = [budget_from_row(row) for row in rows.mappings()]
        return budgets, next_page_token([b.id for b in budgets], page.size)

    async def update(
        self,
        org_id: str,
        budget_id: str,
        changes: Mapping[str, Any],
        etag: str = "",
        *,
        actor: Caller | None = None,
    ) -> Budget:
        """Change some of a budget's mutable fields.

        Args:
            org_id: the org.
            budget_id: the budget.
            changes: new values by field name (the update mask's fields):
                display_name, limit_micros, hard, prefer_cheaper_below_micros.
            etag: the version the caller read; "" skips the check.
            actor: who makes the change, for the audit log.

        Raises:
            InvalidArgument: an unknown, immutable or invalid field.
            NotFound: no such budget.
            EtagMismatch: the etag is stale or a concurrent update won.
        """
        _check_fields(changes)
        current = await self.get(org_id, budget_id)
        _check_etag(current, etag)
        changed = replace(current, **changes)
        problems = _check_mutable(changed)
        if problems:
            raise InvalidArgument(problems[0].description, problems)

        now = utcnow()
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                update(BUDGETS)
                .where(
                    BUDGETS.c.org_id == org_id,
                    BUDGETS.c.id == budget_id,
                    BUDGETS.c.version == current.version,
                )
                .values(**dict(changes), version=current.version + 1, update_time=now)
            )
            if result.rowcount != 1:
                raise EtagMismatch(f"{current.name} changed meanwhile; read it again")
            updated = replace(changed, version=current.version + 1, update_time=now)
            await self._record(connection, actor, "update", current, updated)
        self._on_change(org_id)
        return updated

    async def delete(
        self,
        org_id: str,
        budget_id: str,
        etag: str = "",
        *,
        actor: Caller | None = None,
    ) -> None:
        """Delete a budget with its spend history and leases.

        Raises:
            NotFound: no such budget.
            EtagMismatch: the etag is stale.
        """
        current = await self.get(org_id, budget_id)
        _check_etag(current, etag)
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                delete(BUDGETS).where(
                    BUDGETS.c.org_id == org_id,
                    BUDGETS.c.id == budget_id,
                    BUDGETS.c.version == current.version,
                )
            )
            if result.rowcount != 1:
                raise EtagMismatch(f"{current.name} changed meanwhile; read it again")
            await self._record(connection, actor, "delete", current, None)
        self._on_change(org_id)


def _values(budget: Budget) -> dict[str, Any]:
    return {
        "org_id": budget.org_id,
        "id": budget.id,
        "scope_kind": budget.scope_kind.value,
        "scope_value": budget.scope_value,
        "period": budget.period.value,
        "limit_micros": budget.limit_micros,
        "hard": budget.hard,
        "prefer_cheaper_below_micros": budget.prefer_cheaper_below_micros,
        "display_name": budget.display_name,
    }


def _check_fields(changes: Mapping[str, Any]) -> None:
    unknown: Sequence[str] = sorted(set(changes) - MUTABLE_FIELDS)
    if unknown:
        raise InvalidArgument.for_field(
            "update_mask",
            f"cannot update {', '.join(unknown)}; updatable: "
            f"{', '.join(sorted(MUTABLE_FIELDS))}",
        )
