"""Role bindings: who holds which built-in role, in the org or in a team."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from megarouter.auth import policy
from megarouter.auth.caller import Caller
from megarouter.auth.epoch import bump_epoch
from megarouter.auth.roles import (
    ADMIN_GRANTED,
    PLATFORM_GRANTED,
    ROLES,
    TEAM_GRANTABLE,
)
from megarouter.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from megarouter.store.tables import RoleBindingRow, TeamRow
from megarouter.tenancy import names
from megarouter.tenancy.base import TenancyStore
from megarouter.tenancy.directory import require_principal
from megarouter.tenancy.listing import as_text, page_request, parse_filter


def new_binding_id() -> str:
    return "b" + secrets.token_hex(6)


class RoleBindings(TenancyStore):
    async def create(
        self, caller: Caller, org_id: str, principal_id: str, role: str, team_id: str
    ) -> RoleBindingRow:
        self.require_org_visible(caller, org_id)
        self._check_role_and_team(role, team_id)
        self._require_may_grant(caller, role, team_id)
        async with self.database.transaction() as session:
            await require_principal(
                session, org_id, principal_id, "role_binding.principal"
            )
            if team_id and await session.get(TeamRow, (org_id, team_id)) is None:
                raise InvalidArgument.for_field(
                    "role_binding.team", f"{names.team_name(org_id, team_id)} not found"
                )
            duplicate = await session.scalar(
                select(col(RoleBindingRow.id)).where(
                    col(RoleBindingRow.org_id) == org_id,
                    col(RoleBindingRow.principal_id) == principal_id,
                    col(RoleBindingRow.role) == role,
                    col(RoleBindingRow.team_id) == team_id,
                )
            )
            if duplicate is not None:
                raise AlreadyExists(
                    f"{names.principal_name(org_id, principal_id)} already holds "
                    f"{role} there, in {names.binding_name(org_id, duplicate)}"
                )
            row = RoleBindingRow(
                org_id=org_id,
                id=new_binding_id(),
                principal_id=principal_id,
                role=role,
                team_id=team_id,
            )
            session.add(row)
            name = names.binding_name(org_id, row.id)
            self.audit.record(session, caller, "rolebindings.create", name, None, row)
            subject = names.principal_name(org_id, principal_id)
            await policy.grant(session, subject, role, org_id)
            await bump_epoch(session)
        await self.auth_changed()
        return row

    async def list_page(
        self,
        caller: Caller,
        org_id: str,
        page_size: int,
        page_token: str,
        filter_text: str,
    ) -> tuple[list[RoleBindingRow], str]:
        self.require_org_visible(caller, org_id)
        page = page_request(page_size, page_token)
        conditions = parse_filter(
            filter_text,
            {
                "principal": lambda v: _id_in(v, org_id, "principals"),
                "team": lambda v: _id_in(v, org_id, "teams") if v else "",
                "role": as_text,
            },
        )
        columns = {
            "principal": RoleBindingRow.principal_id,
            "team": RoleBindingRow.team_id,
            "role": RoleBindingRow.role,
        }
        stmt = select(RoleBindingRow).where(col(RoleBindingRow.org_id) == org_id)
        stmt = self.filtered(stmt, conditions, columns)
        async with self.database.sessions() as session:
            return await self.page(
                session, stmt, RoleBindingRow.id, page, lambda r: r.id
            )

    async def delete(self, caller: Caller, org_id: str, binding_id: str) -> None:
        self.require_org_visible(caller, org_id)
        async with self.database.transaction() as session:
            row = await session.get(RoleBindingRow, (org_id, binding_id))
            if row is None:
                raise NotFound(f"{names.binding_name(org_id, binding_id)} not found")
            self._require_may_grant(caller, row.role, row.team_id)
            if row.role == "platform_admin":
                await _require_another_platform_admin(session)
            await session.delete(row)
            name = names.binding_name(org_id, binding_id)
            self.audit.record(session, caller, "rolebindings.delete", name, row, None)
            await session.flush()
            remaining = await session.scalar(
                select(func.count()).where(
                    col(RoleBindingRow.org_id) == org_id,
                    col(RoleBindingRow.principal_id) == row.principal_id,
                    col(RoleBindingRow.role) == row.role,
                )
            )
            if not remaining:
                subject = names.principal_name(org_id, row.principal_id)
                await policy.revoke(session, subject, row.role, org_id)
            await bump_epoch(session)
        await self.auth_changed()

    async def of_principal(
        self, org_id: str, principal_id: str
    ) -> list[RoleBindingRow]:
        async with self.database.sessions() as session:
            rows = await session.execute(
                select(RoleBindingRow)
                .where(
                    col(RoleBindingRow.org_id) == org_id,
                    col(RoleBindingRow.principal_id) == principal_id,
                )
                .order_by(RoleBindingRow.id)
            )
            return list(rows.scalars())

    @staticmethod
    def _check_role_and_team(role: str, team_id: str) -> None:
        if role not in ROLES:
            raise InvalidArgument.for_field(
                "role_binding.role",
                f"unknown role {role!r}; built-in roles: {', '.join(ROLES)}",
            )
        if ROLES[role].team_scoped and not team_id:
            raise InvalidArgument.for_field(
                "role_binding.team", f"{role} must be limited to a team"
            )
        if team_id and role not in TEAM_GRANTABLE:
            raise InvalidArgument.for_field(
                "role_binding.team", f"{role} is granted org-wide, not in a team"
            )

    @staticmethod
    def _require_may_grant(caller: Caller, role: str, team_id: str) -> None:
        if role in PLATFORM_GRANTED:
            if not caller.is_platform_admin:
                raise PermissionDenied(f"granting {role} needs platform_admin")
            return
        if caller.is_org_admin:
            return
        if role in ADMIN_GRANTED or not team_id or team_id not in caller.admin_teams:
            raise PermissionDenied(
                f"granting {role} here needs org_admin; team admins grant "
                f"{', '.join(sorted(TEAM_GRANTABLE))} in their own teams"
            )


async def _require_another_platform_admin(session: AsyncSession) -> None:
    count = await session.scalar(
        select(func.count()).where(col(RoleBindingRow.role) == "platform_admin")
    )
    if (count or 0) <= 1:
        raise FailedPrecondition(
            "this is the last platform_admin binding; grant another one first"
        )


def _id_in(name: str, org_id: str, collection: str) -> str:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "orgs" or parts[2] != collection:
        raise ValueError(f"expected orgs/{{org}}/{collection}/{{id}}, got {name!r}")
    if parts[1] != org_id:
        raise ValueError(f"{name!r} is not in orgs/{org_id}")
    return parts[3]
