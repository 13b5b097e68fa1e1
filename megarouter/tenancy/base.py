"""What every tenancy resource shares: visibility, etags, pages, updates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from megarouter.auth.caller import Caller
from megarouter.errors import EtagMismatch, InvalidArgument, NotFound, PermissionDenied
from megarouter.governance.audit import NO_AUDIT, AuditTrail
from megarouter.store.database import Database
from megarouter.store.tables import utcnow
from megarouter.tenancy.listing import Condition, PageRequest, next_page_token

Row = TypeVar("Row", bound=SQLModel)


def etag_of(version: int) -> str:
    return f'W/"{version}"'


class TenancyStore:
    """Shared plumbing for the tenancy resource classes.

    Args:
        database: where the records live.
        on_auth_change: awaited after a commit that changed keys, roles or
            principals, so this process reloads at once (other processes
            follow through the auth epoch).
        audit: records every change in the audit log; None records nothing.
    """

    def __init__(
        self,
        database: Database,
        on_auth_change: Callable[[], Awaitable[None]] | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self.database = database
        self._on_auth_change = on_auth_change
        self.audit = audit or NO_AUDIT

    async def auth_changed(self) -> None:
        if self._on_auth_change is not None:
            await self._on_auth_change()

    @staticmethod
    def require_org_visible(caller: Caller, org_id: str) -> None:
        """NOT_FOUND for another org's resources, so nothing leaks across orgs."""
        if not caller.can_see_org(org_id):
            raise NotFound(f"orgs/{org_id} not found")

    @staticmethod
    def require_org_admin(caller: Caller, action: str) -> None:
        if not caller.is_org_admin:
            raise PermissionDenied(f"{action} needs the org_admin role")

    @staticmethod
    def check_etag(current_version: int, etag: str) -> None:
        if etag and etag != etag_of(current_version):
            raise EtagMismatch(
                f"etag {etag} is stale; the resource is now at "
                f"{etag_of(current_version)}"
            )

    @staticmethod
    def check_update_mask(paths: Sequence[str], mutable: set[str]) -> list[str]:
        """The fields to change; an empty mask means every mutable field."""
        if not paths:
            return sorted(mutable)
        unknown = [p for p in paths if p not in mutable]
        if unknown:
            raise InvalidArgument.for_field(
                "update_mask",
                f"cannot update {', '.join(unknown)}; "
                f"updatable: {', '.join(sorted(mutable))}",
            )
        return list(dict.fromkeys(paths))

    @staticmethod
    async def save_changes(
        session: AsyncSession,
        row: Row,
        keys: Mapping[str, Any],
        changes: Mapping[str, Any],
    ) -> Row:
        """Write ``changes`` to ``row`` if nobody changed it since it was read.

        Raises:
            EtagMismatch: a concurrent update won.
        """
        model = type(row)
        version = row.version  # type: ignore[attr-defined]
        values = dict(changes, version=version + 1, update_time=utcnow())
        where = [getattr(model, k) == v for k, v in keys.items()]
        result = await session.execute(
            update(model)
            .where(*where, model.version == version)  # type: ignore[attr-defined]
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise EtagMismatch("the resource changed meanwhile; read it and retry")
        for name, value in values.items():
            setattr(row, name, value)
        return row

    @staticmethod
    def filtered(
        stmt: Select[Any],
        conditions: list[Condition],
        columns: Mapping[str, ColumnElement[Any] | Any],
    ) -> Select[Any]:
        for condition in conditions:
            column = columns[condition.field]
            clause = (
                column != condition.value
                if condition.negated
                else column == condition.value
            )
            stmt = stmt.where(clause)
        return stmt

    @staticmethod
    async def page(
        session: AsyncSession,
        stmt: Select[Any],
        id_column: Any,
        page: PageRequest,
        id_of: Callable[[Any], str],
    ) -> tuple[list[Any], str]:
        """One page of ``stmt`` ordered by ``id_column``, and the next token."""
        if page.after:
            stmt = stmt.where(id_column > page.after)
        rows = list(
            (await session.execute(stmt.order_by(id_column).limit(page.size))).scalars()
        )
        return rows, next_page_token([id_of(r) for r in rows], page.size)
