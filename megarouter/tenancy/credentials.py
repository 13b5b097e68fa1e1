"""API keys: created with their secret shown once, listed, revoked."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlmodel import col

from megarouter.auth.caller import Caller
from megarouter.auth.epoch import bump_epoch
from megarouter.auth.keys import KeyHasher, mint_key, new_key_id, visible_prefix
from megarouter.errors import InvalidArgument, NotFound, PermissionDenied
from megarouter.governance.audit import snapshot
from megarouter.store.database import Database
from megarouter.store.tables import ApiKeyRow, PrincipalRow, as_utc, utcnow
from megarouter.tenancy import names
from megarouter.tenancy.base import TenancyStore
from megarouter.tenancy.directory import check_length, require_principal
from megarouter.tenancy.listing import as_text, page_request, parse_filter

ALL_PRINCIPALS = "-"
KEY_STATES = ("active", "revoked", "expired")


def key_state(row: ApiKeyRow, now: datetime | None = None) -> str:
    if row.revoke_time is not None:
        return "revoked"
    if row.expire_time is not None and as_utc(row.expire_time) <= (now or utcnow()):
        return "expired"
    return "active"


class ApiKeys(TenancyStore):
    def __init__(self, database: Database, hasher: KeyHasher, **kwargs: object) -> None:
        super().__init__(database, **kwargs)  # type: ignore[arg-type]
        self._hasher = hasher

    async def create(
        self,
        caller: Caller,
        org_id: str,
        principal_id: str,
        display_name: str,
        expire_time: datetime | None,
        request_id: str = "",
        secret: str | None = None,
    ) -> tuple[ApiKeyRow, str]:
        """Create a key; returns it and its secret ("" on an idempotent retry)."""
        self.require_org_visible(caller, org_id)
        check_length(display_name, "api_key.display_name", 200)
        if expire_time is not None and expire_time <= datetime.now(UTC):
            raise InvalidArgument.for_field(
                "api_key.expire_time", "must be in the future"
            )
        async with self.database.transaction() as session:
            principal = await require_principal(session, org_id, principal_id)
            self._require_may_manage(caller, principal, "keys.create")
            if request_id:
                existing = await session.scalar(
                    select(ApiKeyRow).where(
                        col(ApiKeyRow.org_id) == org_id,
                        col(ApiKeyRow.request_id) == request_id,
                    )
                )
                if existing is not None:
                    return existing, ""
            secret = secret or mint_key()
            row = ApiKeyRow(
                org_id=org_id,
                id=new_key_id(),
                principal_id=principal_id,
                display_name=display_name,
                prefix=visible_prefix(secret),
                key_hash=self._hasher.hash(secret),
                request_id=request_id or None,
                expire_time=expire_time,
            )
            session.add(row)
            name = names.key_name(org_id, principal_id, row.id)
            self.audit.record(session, caller, "keys.create", name, None, row)
        return row, secret

    async def get(
        self, caller: Caller, org_id: str, principal_id: str, key_id: str
    ) -> ApiKeyRow:
        self.require_org_visible(caller, org_id)
        async with self.database.sessions() as session:
            principal = await require_principal(session, org_id, principal_id)
            self._require_may_read(caller, principal)
            row = await session.get(ApiKeyRow, (org_id, key_id))
        if row is None or row.principal_id != principal_id:
            raise NotFound(f"{names.key_name(org_id, principal_id, key_id)} not found")
        return row

    async def list_page(
        self,
        caller: Caller,
        org_id: str,
        principal_id: str,
        page_size: int,
        page_token: str,
        filter_text: str,
    ) -> tuple[list[ApiKeyRow], str]:
        self.require_org_visible(caller, org_id)
        page = page_request(page_size, page_token)
        conditions = parse_filter(
            filter_text, {"state": _state_of, "display_name": as_text}
        )
        stmt = select(ApiKeyRow).where(col(ApiKeyRow.org_id) == org_id)
        async with self.database.sessions() as session:
            if principal_id != ALL_PRINCIPALS:
                principal = await require_principal(session, org_id, principal_id)
                self._require_may_read(caller, principal)
                stmt = stmt.where(col(ApiKeyRow.principal_id) == principal_id)
            else:
                stmt = self._readable_keys(caller, stmt, org_id)
            names_only = [c for c in conditions if c.field == "display_name"]
            stmt = self.filtered(
                stmt, names_only, {"display_name": ApiKeyRow.display_name}
            )
            rows, token = await self.page(
                session, stmt, ApiKeyRow.id, page, lambda r: r.id
            )
        # State depends on the clock, so it is filtered after the read.
        now = utcnow()
        for condition in (c for c in conditions if c.field == "state"):
            rows = [
                r
                for r in rows
                if (key_state(r, now) == condition.value) != condition.negated
            ]
        return rows, token

    async def revoke(
        self, caller: Caller, org_id: str, principal_id: str, key_id: str
    ) -> ApiKeyRow:
        self.require_org_visible(caller, org_id)
        async with self.database.transaction() as session:
            principal = await require_principal(session, org_id, principal_id)
            self._require_may_manage(caller, principal, "keys.revoke")
            row = await session.get(ApiKeyRow, (org_id, key_id))
            if row is None or row.principal_id != principal_id:
                raise NotFound(
                    f"{names.key_name(org_id, principal_id, key_id)} not found"
                )
            before = snapshot(row)
            if row.revoke_time is None:
                row.revoke_time = utcnow()
                await bump_epoch(session)
            name = names.key_name(org_id, principal_id, key_id)
            self.audit.record(session, caller, "keys.revoke", name, before, row)
        await self.auth_changed()
        return row

    @staticmethod
    def _require_may_manage(
        caller: Caller, principal: PrincipalRow, action: str
    ) -> None:
        """Org admins, the principal's team admins, and the principal itself."""
        if caller.is_org_admin or _is_self(caller, principal):
            return
        if principal.team_id is not None and principal.team_id in caller.admin_teams:
            return
        raise PermissionDenied(
            f"{action} for {names.principal_name(principal.org_id, principal.id)} "
            "needs org_admin, team_admin of its team, or to be that principal"
        )

    @staticmethod
    def _require_may_read(caller: Caller, principal: PrincipalRow) -> None:
        if _reads_all_keys(caller) or _is_self(caller, principal):
            return
        if principal.team_id is not None and principal.team_id in caller.admin_teams:
            return
        raise PermissionDenied(
            f"keys.list for {names.principal_name(principal.org_id, principal.id)} "
            "needs org_admin, viewer, team_admin of its team, or to be that principal"
        )

    @staticmethod
    def _readable_keys(
        caller: Caller, stmt: Select[ApiKeyRow], org_id: str
    ) -> Select[ApiKeyRow]:
        """Only the keys the caller may read, of every principal of the org."""
        if _reads_all_keys(caller):
            return stmt
        teams = sorted(caller.admin_teams)
        members = select(col(PrincipalRow.id)).where(
            col(PrincipalRow.org_id) == org_id,
            col(PrincipalRow.team_id).in_(teams),
        )
        return stmt.where(
            (col(ApiKeyRow.principal_id) == caller.principal_id)
            | col(ApiKeyRow.principal_id).in_(members)
        )


def _is_self(caller: Caller, principal: PrincipalRow) -> bool:
    return caller.org_id == principal.org_id and caller.principal_id == principal.id


def _reads_all_keys(caller: Caller) -> bool:
    return caller.is_org_admin or caller.holds("viewer")


def _state_of(literal: str) -> str:
    state = literal.lower().removeprefix("api_key_state_")
    if state not in KEY_STATES:
        raise ValueError("expected ACTIVE, REVOKED or EXPIRED")
    return state
