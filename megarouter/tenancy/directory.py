"""Orgs, teams and principals."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from megarouter.auth import policy
from megarouter.auth.caller import Caller
from megarouter.auth.epoch import bump_epoch
from megarouter.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from megarouter.governance.audit import snapshot
from megarouter.store.tables import (
    ApiKeyRow,
    OrgRow,
    PrincipalRow,
    RoleBindingRow,
    TeamRow,
)
from megarouter.tenancy import names
from megarouter.tenancy.base import TenancyStore
from megarouter.tenancy.listing import as_bool, as_text, page_request, parse_filter

PRINCIPAL_KINDS = ("user", "service_account")


def check_time_zone(value: str, field: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument.for_field(
            field, f"{value!r} is not an IANA time zone such as Europe/Paris"
        ) from None
    return value


def check_length(value: str, field: str, limit: int) -> str:
    """``value`` if it is at most ``limit`` characters of printable text."""
    if len(value) > limit:
        raise InvalidArgument.for_field(field, f"must be at most {limit} characters")
    if "\x00" in value:
        raise InvalidArgument.for_field(field, "must not contain NUL characters")
    return value


class Orgs(TenancyStore):
    MUTABLE = {"display_name", "time_zone"}

    async def create(
        self,
        caller: Caller,
        org_id: str,
        display_name: str,
        time_zone: str,
        request_id: str = "",
    ) -> OrgRow:
        if not caller.is_platform_admin:
            raise PermissionDenied("orgs.create needs the platform_admin role")
        names.check_id(org_id, "org_id")
        row = OrgRow(
            id=org_id,
            display_name=check_length(display_name, "org.display_name", 200),
            time_zone=check_time_zone(time_zone or "UTC", "org.time_zone"),
            request_id=request_id or None,
        )
        async with self.database.transaction() as session:
            if request_id:
                existing = await session.scalar(
                    select(OrgRow).where(col(OrgRow.request_id) == request_id)
                )
                if existing is not None:
                    return existing
            if await session.get(OrgRow, org_id) is not None:
                raise AlreadyExists(f"orgs/{org_id} already exists")
            session.add(row)
            self.audit.record(
                session, caller, "orgs.create", names.org_name(org_id), None, row
            )
        return row

    async def get(self, caller: Caller, org_id: str) -> OrgRow:
        self.require_org_visible(caller, org_id)
        async with self.database.sessions() as session:
            row = await session.get(OrgRow, org_id)
        if row is None:
            raise NotFound(f"orgs/{org_id} not found")
        return row

    async def list_page(
        self, caller: Caller, page_size: int, page_token: str, filter_text: str
    ) -> tuple[list[OrgRow], str]:
        page = page_request(page_size, page_token)
        conditions = parse_filter(filter_text, {"display_name": as_text})
        stmt = select(OrgRow)
        if not caller.is_platform_admin:
            stmt = stmt.where(col(OrgRow.id) == caller.org_id)
        stmt = self.filtered(stmt, conditions, {"display_name": OrgRow.display_name})
        async with self.database.sessions() as session:
            return await self.page(session, stmt, OrgRow.id, page, lambda r: r.id)

    async def update(
        self,
        caller: Caller,
        org_id: str,
        values: Mapping[str, Any],
        mask: Sequence[str],
        etag: str,
    ) -> OrgRow:
        self.require_org_visible(caller, org_id)
        fields = self.check_update_mask(mask, self.MUTABLE)
        changes = {f: values[f] for f in fields}
        if "time_zone" in changes:
            changes["time_zone"] = check_time_zone(
                changes["time_zone"] or "UTC", "org.time_zone"
            )
        if "display_name" in changes:
            check_length(changes["display_name"], "org.display_name", 200)
        async with self.database.transaction() as session:
            row = await session.get(OrgRow, org_id)
            if row is None:
                raise NotFound(f"orgs/{org_id} not found")
            self.check_etag(row.version, etag)
            before = snapshot(row)
            row = await self.save_changes(session, row, {"id": org_id}, changes)
            name = names.org_name(org_id)
            self.audit.record(session, caller, "orgs.update", name, before, row)
            return row

    async def delete(self, caller: Caller, org_id: str, etag: str) -> None:
        if not caller.is_platform_admin:
            raise PermissionDenied("orgs.delete needs the platform_admin role")
        if org_id == caller.org_id:
            raise FailedPrecondition("an org cannot delete itself; use another org")
        async with self.database.transaction() as session:
            row = await session.get(OrgRow, org_id)
            if row is None:
                raise NotFound(f"orgs/{org_id} not found")
            self.check_etag(row.version, etag)
            principals = await session.scalar(
                select(func.count()).where(col(PrincipalRow.org_id) == org_id)
            )
            if principals:
                raise FailedPrecondition(
                    f"orgs/{org_id} still has {principals} principals; "
                    "delete them first"
                )
            await session.execute(delete(TeamRow).where(col(TeamRow.org_id) == org_id))
            await session.delete(row)
            name = names.org_name(org_id)
            self.audit.record(session, caller, "orgs.delete", name, row, None)


class Teams(TenancyStore):
    MUTABLE = {"display_name", "description"}

    async def create(
        self,
        caller: Caller,
        org_id: str,
        team_id: str,
        display_name: str,
        description: str,
        request_id: str = "",
    ) -> TeamRow:
        self.require_org_visible(caller, org_id)
        self.require_org_admin(caller, "teams.create")
        names.check_id(team_id, "team_id")
        row = TeamRow(
            org_id=org_id,
            id=team_id,
            display_name=check_length(display_name, "team.display_name", 200),
            description=check_length(description, "team.description", 2000),
            request_id=request_id or None,
        )
        async with self.database.transaction() as session:
            await _require_org(session, org_id)
            if request_id:
                existing = await session.scalar(
                    select(TeamRow).where(
                        col(TeamRow.org_id) == org_id,
                        col(TeamRow.request_id) == request_id,
                    )
                )
                if existing is not None:
                    return existing
            if await session.get(TeamRow, (org_id, team_id)) is not None:
                raise AlreadyExists(
                    f"{names.team_name(org_id, team_id)} already exists"
                )
            session.add(row)
            name = names.team_name(org_id, team_id)
            self.audit.record(session, caller, "teams.create", name, None, row)
        return row

    async def get(self, caller: Caller, org_id: str, team_id: str) -> TeamRow:
        self.require_org_visible(caller, org_id)
        async with self.database.sessions() as session:
            return await _require_team(session, org_id, team_id)

    async def list_page(
        self,
        caller: Caller,
        org_id: str,
        page_size: int,
        page_token: str,
        filter_text: str,
    ) -> tuple[list[TeamRow], str]:
        self.require_org_visible(caller, org_id)
        page = page_request(page_size, page_token)
        conditions = parse_filter(filter_text, {"display_name": as_text})
        stmt = select(TeamRow).where(col(TeamRow.org_id) == org_id)
        stmt = self.filtered(stmt, conditions, {"display_name": TeamRow.display_name})
        async with self.database.sessions() as session:
            return await self.page(session, stmt, TeamRow.id, page, lambda r: r.id)

    async def update(
        self,
        caller: Caller,
        org_id: str,
        team_id: str,
        values: Mapping[str, Any],
        mask: Sequence[str],
        etag: str,
    ) -> TeamRow:
        self.require_org_visible(caller, org_id)
        if not caller.is_org_admin and team_id not in caller.admin_teams:
            raise PermissionDenied(
                f"teams.update of {names.team_name(org_id, team_id)} needs org_admin "
                "or team_admin of that team"
            )
        fields = self.check_update_mask(mask, self.MUTABLE)
        changes = {f: values[f] for f in fields}
        check_length(changes.get("display_name", ""), "team.display_name", 200)
        check_length(changes.get("description", ""), "team.description", 2000)
        async with self.database.transaction() as session:
            row = await _require_team(session, org_id, team_id)
            self.check_etag(row.version, etag)
            before = snapshot(row)
            keys = {"org_id": org_id, "id": team_id}
            row = await self.save_changes(session, row, keys, changes)
            name = names.team_name(org_id, team_id)
            self.audit.record(session, caller, "teams.update", name, before, row)
            return row

    async def delete(
        self, caller: Caller, org_id: str, team_id: str, etag: str
    ) -> None:
        self.require_org_visible(caller, org_id)
        self.require_org_admin(caller, "teams.delete")
        async with self.database.transaction() as session:
            row = await _require_team(session, org_id, team_id)
            self.check_etag(row.version, etag)
            members = await session.scalar(
                select(func.count()).where(
                    col(PrincipalRow.org_id) == org_id,
                    col(PrincipalRow.team_id) == team_id,
                )
            )
            if members:
                raise FailedPrecondition(
                    f"{names.team_name(org_id, team_id)} still has {members} "
                    "principals; move or delete them first"
                )
            await session.execute(
                delete(RoleBindingRow).where(
                    col(RoleBindingRow.org_id) == org_id,
                    col(RoleBindingRow.team_id) == team_id,
                )
            )
            await session.delete(row)
            name = names.team_name(org_id, team_id)
            self.audit.record(session, caller, "teams.delete", name, row, None)
            await bump_epoch(session)
        await self.auth_changed()


class Principals(TenancyStore):
    MUTABLE = {"display_name", "email", "team", "disabled"}

    async def create(
        self,
        caller: Caller,
        org_id: str,
        principal_id: str,
        values: Mapping[str, Any],
        request_id: str = "",
    ) -> PrincipalRow:
        self.require_org_visible(caller, org_id)
        names.check_id(principal_id, "principal_id")
        kind = values.get("kind", "")
        if kind not in PRINCIPAL_KINDS:
            raise InvalidArgument.for_field(
                "principal.kind", "required: USER or SERVICE_ACCOUNT"
            )
        team_id = values.get("team_id") or None
        self._require_may_manage(caller, team_id, "principals.create")
        row = PrincipalRow(
            org_id=org_id,
            id=principal_id,
            kind=kind,
            display_name=check_length(
                values.get("display_name", ""), "principal.display_name", 200
            ),
            email=check_length(values.get("email", ""), "principal.email", 320),
            team_id=team_id,
            disabled=bool(values.get("disabled", False)),
            request_id=request_id or None,
        )
        async with self.database.transaction() as session:
            await _require_org(session, org_id)
            if request_id:
                existing = await session.scalar(
                    select(PrincipalRow).where(
                        col(PrincipalRow.org_id) == org_id,
                        col(PrincipalRow.request_id) == request_id,
                    )
                )
                if existing is not None:
                    return existing
            if team_id is not None:
                await _require_team(session, org_id, team_id, field="principal.team")
            if await session.get(PrincipalRow, (org_id, principal_id)) is not None:
                raise AlreadyExists(
                    f"{names.principal_name(org_id, principal_id)} already exists"
                )
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise AlreadyExists(
                    f"{names.principal_name(org_id, principal_id)} already exists"
                ) from None
            name = names.principal_name(org_id, principal_id)
            self.audit.record(session, caller, "principals.create", name, None, row)
        return row

    async def get(self, caller: Caller, org_id: str, principal_id: str) -> PrincipalRow:
        self.require_org_visible(caller, org_id)
        async with self.database.sessions() as session:
            return await require_principal(session, org_id, principal_id)

    async def list_page(
        self,
        caller: Caller,
        org_id: str,
        page_size: int,
        page_token: str,
        filter_text: str,
    ) -> tuple[list[PrincipalRow], str]:
        self.require_org_visible(caller, org_id)
        page = page_request(page_size, page_token)
        conditions = parse_filter(
            filter_text,
            {
                "team": lambda v: _team_id_of(v, org_id) if v else None,
                "kind": _kind_of,
                "disabled": as_bool,
                "email": as_text,
                "display_name": as_text,
            },
        )
        columns = {
            "team": PrincipalRow.team_id,
            "kind": PrincipalRow.kind,
            "disabled": PrincipalRow.disabled,
            "email": PrincipalRow.email,
            "display_name": PrincipalRow.display_name,
        }
        stmt = select(PrincipalRow).where(col(PrincipalRow.org_id) == org_id)
        stmt = self.filtered(stmt, conditions, columns)
        async with self.database.sessions() as session:
            return await self.page(session, stmt, PrincipalRow.id, page, lambda r: r.id)

    async def update(
        self,
        caller: Caller,
        org_id: str,
        principal_id: str,
        values: Mapping[str, Any],
        mask: Sequence[str],
        etag: str,
    ) -> PrincipalRow:
        self.require_org_visible(caller, org_id)
        fields = self.check_update_mask(mask, self.MUTABLE)
        changes = {("team_id" if f == "team" else f): values[f] for f in fields}
        if "team_id" in changes:
            changes["team_id"] = changes["team_id"] or None
        check_length(changes.get("display_name", ""), "principal.display_name", 200)
        check_length(changes.get("email", ""), "principal.email", 320)
        async with self.database.transaction() as session:
            row = await require_principal(session, org_id, principal_id)
            self._require_may_manage(caller, row.team_id, "principals.update")
            if "team_id" in changes and changes["team_id"] is not None:
                self._require_may_manage(
                    caller, changes["team_id"], "principals.update"
                )
                await _require_team(
                    session, org_id, changes["team_id"], "principal.team"
                )
            elif "team_id" in changes:
                self._require_may_manage(caller, None, "principals.update")
            if changes.get("disabled") and principal_id == caller.principal_id:
                raise FailedPrecondition("a principal cannot disable itself")
            before = snapshot(row)
            keys = {"org_id": org_id, "id": principal_id}
            row = await self.save_changes(session, row, keys, changes)
            name = names.principal_name(org_id, principal_id)
            self.audit.record(session, caller, "principals.update", name, before, row)
            await bump_epoch(session)
        await self.auth_changed()
        return row

    async def delete(
        self, caller: Caller, org_id: str, principal_id: str, etag: str
    ) -> None:
        self.require_org_visible(caller, org_id)
        if principal_id == caller.principal_id and org_id == caller.org_id:
            raise FailedPrecondition("a principal cannot delete itself")
        async with self.database.transaction() as session:
            row = await require_principal(session, org_id, principal_id)
            self._require_may_manage(caller, row.team_id, "principals.delete")
            self.check_etag(row.version, etag)
            for table in (ApiKeyRow, RoleBindingRow):
                await session.execute(
                    delete(table).where(
                        col(table.org_id) == org_id,
                        col(table.principal_id) == principal_id,
                    )
                )
            name = names.principal_name(org_id, principal_id)
            await policy.revoke_all(session, name)
            await session.delete(row)
            self.audit.record(session, caller, "principals.delete", name, row, None)
            await bump_epoch(session)
        await self.auth_changed()

    @staticmethod
    def _require_may_manage(caller: Caller, team_id: str | None, action: str) -> None:
        """Org admins manage anyone; team admins only members of their teams."""
        if caller.is_org_admin:
            return
        if team_id is None or team_id not in caller.admin_teams:
            raise PermissionDenied(
                f"{action} outside the teams you administer needs org_admin"
            )


async def _require_org(session: AsyncSession, org_id: str) -> OrgRow:
    row = await session.get(OrgRow, org_id)
    if row is None:
        raise NotFound(f"orgs/{org_id} not found")
    return row


async def _require_team(
    session: AsyncSession, org_id: str, team_id: str, field: str = ""
) -> TeamRow:
    row = await session.get(TeamRow, (org_id, team_id))
    if row is None:
        message = f"{names.team_name(org_id, team_id)} not found"
        if field:
            raise InvalidArgument.for_field(field, message)
        raise NotFound(message)
    return row


async def require_principal(
    session: AsyncSession, org_id: str, principal_id: str, field: str = ""
) -> PrincipalRow:
    row = await session.get(PrincipalRow, (org_id, principal_id))
    if row is None:
        message = f"{names.principal_name(org_id, principal_id)} not found"
        if field:
            raise InvalidArgument.for_field(field, message)
        raise NotFound(message)
    return row


def _team_id_of(name: str, org_id: str) -> str:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "orgs" or parts[2] != "teams":
        raise ValueError(f"expected orgs/{{org}}/teams/{{team}}, got {name!r}")
    if parts[1] != org_id:
        raise ValueError(f"{name!r} is not a team of orgs/{org_id}")
    return parts[3]


def _kind_of(literal: str) -> str:
    kind = literal.lower().removeprefix("principal_kind_")
    if kind not in PRINCIPAL_KINDS:
        raise ValueError("expected USER or SERVICE_ACCOUNT")
    return kind


def team_id_from_name(name: str, org_id: str, field: str) -> str | None:
    """The team id in a team resource name of ``org_id``; None for ""."""
    if not name:
        return None
    try:
        return _team_id_of(name, org_id)
    except ValueError as exc:
        raise InvalidArgument.for_field(field, str(exc)) from None
