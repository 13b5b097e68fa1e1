"""Every AdminService RPC, called by a holder of every built-in role.

Each role gets one principal and key in org ``default``; the team-limited
roles (team_admin, developer) hold them in team ``red``. Every scenario
builds a request that an allowed caller would complete, using fresh
resources so calls do not interfere, and the test checks the outcome is
PERMISSION_DENIED exactly for the roles the scenario does not allow.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from megarouter.auth.permissions import RPC_PERMISSIONS
from megarouter.testing.server import RunningServer, running_server, server_settings
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin
from tests.governance.audit_scenarios import AUDIT_MATRIX
from tests.governance.governance_scenarios import GOVERNANCE_MATRIX
from tests.providers.admin_scenarios import PROVIDER_MATRIX
from tests.routing.policies_scenarios import POLICY_MATRIX

ROLES = [
    "platform_admin",
    "org_admin",
    "team_admin",
    "developer",
    "viewer",
    "billing",
    "none",
]
RED = "orgs/default/teams/red"
EVERYONE = set(ROLES) - {"none"}

_serial = itertools.count()


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


@dataclass
class World:
    server: RunningServer
    admin: Admin
    keys: dict[str, str]


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("rbac")
    settings = server_settings(f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}", Path(tmp))
    async with running_server(settings) as server, server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        await admin.team("default", "red")
        keys = {"platform_admin": server.admin_key}
        for role in ROLES[1:]:
            team = RED if role in ("team_admin", "developer") else ""
            principal = await admin.principal(
                "default", role.replace("_", "-"), team=team
            )
            if role != "none":
                await admin.grant(
                    principal.name, role, RED if role == "team_admin" else ""
                )
            keys[role] = (await admin.key_for(principal.name))[1]
        yield World(server, admin, keys)


Scenario = Callable[[Admin], Awaitable[tuple[str, Any]]]


async def red_member(admin: Admin) -> pb.Principal:
    return await admin.principal("default", fresh("member"), team=RED)


async def s_create_org(admin: Admin) -> tuple[str, Any]:
    return "CreateOrg", api.CreateOrgRequest(org_id=fresh("org"), org=pb.Org())


async def s_get_org(admin: Admin) -> tuple[str, Any]:
    return "GetOrg", api.GetOrgRequest(name="orgs/default")


async def s_list_orgs(admin: Admin) -> tuple[str, Any]:
    return "ListOrgs", api.ListOrgsRequest()


async def s_update_org(admin: Admin) -> tuple[str, Any]:
    org = pb.Org(name="orgs/default", display_name=fresh("name"))
    mask = field_mask_pb2.FieldMask(paths=["display_name"])
    return "UpdateOrg", api.UpdateOrgRequest(org=org, update_mask=mask)


async def s_delete_org(admin: Admin) -> tuple[str, Any]:
    org_id = fresh("doomed")
    await admin.CreateOrg(api.CreateOrgRequest(org_id=org_id, org=pb.Org()))
    return "DeleteOrg", api.DeleteOrgRequest(name=f"orgs/{org_id}")


async def s_create_team(admin: Admin) -> tuple[str, Any]:
    return "CreateTeam", api.CreateTeamRequest(
        parent="orgs/default", team_id=fresh("t")
    )


async def s_get_team(admin: Admin) -> tuple[str, Any]:
    return "GetTeam", api.GetTeamRequest(name=RED)


async def s_list_teams(admin: Admin) -> tuple[str, Any]:
    return "ListTeams", api.ListTeamsRequest(parent="orgs/default")


async def s_update_team(admin: Admin) -> tuple[str, Any]:
    team = pb.Team(name=RED, description=fresh("d"))
    mask = field_mask_pb2.FieldMask(paths=["description"])
    return "UpdateTeam", api.UpdateTeamRequest(team=team, update_mask=mask)


async def s_delete_team(admin: Admin) -> tuple[str, Any]:
    team = await admin.team("default", fresh("gone"))
    return "DeleteTeam", api.DeleteTeamRequest(name=team.name)


async def s_create_principal(admin: Admin) -> tuple[str, Any]:
    principal = pb.Principal(kind=pb.PRINCIPAL_KIND_USER, team=RED)
    return "CreatePrincipal", api.CreatePrincipalRequest(
        parent="orgs/default", principal_id=fresh("new"), principal=principal
    )


async def s_get_principal(admin: Admin) -> tuple[str, Any]:
    return "GetPrincipal", api.GetPrincipalRequest(name="orgs/default/principals/admin")


async def s_list_principals(admin: Admin) -> tuple[str, Any]:
    return "ListPrincipals", api.ListPrincipalsRequest(parent="orgs/default")


async def s_update_principal(admin: Admin) -> tuple[str, Any]:
    member = await red_member(admin)
    changed = pb.Principal(name=member.name, email="x@example.com")
    mask = field_mask_pb2.FieldMask(paths=["email"])
    return "UpdatePrincipal", api.UpdatePrincipalRequest(
        principal=changed, update_mask=mask
    )


async def s_delete_principal(admin: Admin) -> tuple[str, Any]:
    member = await red_member(admin)
    return "DeletePrincipal", api.DeletePrincipalRequest(name=member.name)


async def s_create_key(admin: Admin) -> tuple[str, Any]:
    member = await red_member(admin)
    return "CreateApiKey", api.CreateApiKeyRequest(
        parent=member.name, api_key=pb.ApiKey()
    )


async def s_get_key(admin: Admin) -> tuple[str, Any]:
    key, _ = await admin.key_for((await red_member(admin)).name)
    return "GetApiKey", api.GetApiKeyRequest(name=key.name)


async def s_list_keys(admin: Admin) -> tuple[str, Any]:
    return "ListApiKeys", api.ListApiKeysRequest(parent="orgs/default/principals/-")


async def s_revoke_key(admin: Admin) -> tuple[str, Any]:
    key, _ = await admin.key_for((await red_member(admin)).name)
    return "RevokeApiKey", api.RevokeApiKeyRequest(name=key.name)


async def s_create_binding(admin: Admin) -> tuple[str, Any]:
    member = await red_member(admin)
    binding = pb.RoleBinding(principal=member.name, role="developer", team=RED)
    return "CreateRoleBinding", api.CreateRoleBindingRequest(
        parent="orgs/default", role_binding=binding
    )


async def s_list_bindings(admin: Admin) -> tuple[str, Any]:
    return "ListRoleBindings", api.ListRoleBindingsRequest(parent="orgs/default")


async def s_delete_binding(admin: Admin) -> tuple[str, Any]:
    binding = await admin.grant((await red_member(admin)).name, "viewer", RED)
    return "DeleteRoleBinding", api.DeleteRoleBindingRequest(name=binding.name)


async def s_list_roles(admin: Admin) -> tuple[str, Any]:
    return "ListRoles", api.ListRolesRequest()


async def s_get_caller(admin: Admin) -> tuple[str, Any]:
    return "GetCaller", api.GetCallerRequest()


ADMINS = {"platform_admin", "org_admin"}
TEAM_ADMINS = ADMINS | {"team_admin"}
KEY_READERS = TEAM_ADMINS | {"viewer"}

# scenario -> the roles that may complete it
MATRIX: dict[Scenario, set[str]] = {
    s_create_org: {"platform_admin"},
    s_get_org: EVERYONE,
    s_list_orgs: EVERYONE,
    s_update_org: ADMINS,
    s_delete_org: {"platform_admin"},
    s_create_team: ADMINS,
    s_get_team: EVERYONE,
    s_list_teams: EVERYONE,
    s_update_team: TEAM_ADMINS,
    s_delete_team: ADMINS,
    s_create_principal: TEAM_ADMINS,
    s_get_principal: EVERYONE,
    s_list_principals: EVERYONE,
    s_update_principal: TEAM_ADMINS,
    s_delete_principal: TEAM_ADMINS,
    s_create_key: TEAM_ADMINS,
    s_get_key: KEY_READERS,
    s_list_keys: KEY_READERS | {"developer"},  # a developer sees its own keys
    s_revoke_key: TEAM_ADMINS,
    s_create_binding: TEAM_ADMINS,
    s_list_bindings: KEY_READERS,
    s_delete_binding: TEAM_ADMINS,
    s_list_roles: EVERYONE,
    s_get_caller: EVERYONE,
}
MATRIX.update(PROVIDER_MATRIX)  # providers, models and credentials
MATRIX.update(POLICY_MATRIX)  # routing policies and their attachments
MATRIX.update(AUDIT_MATRIX)  # the audit log
MATRIX.update(GOVERNANCE_MATRIX)  # budgets, rate limits and usage reports


def test_matrix_covers_every_admin_rpc() -> None:
    methods = {
        name.rsplit("/", 1)[1]
        for name in RPC_PERMISSIONS
        if name.startswith("/megarouter.v1.AdminService/")
    }
    service = api.DESCRIPTOR.services_by_name["AdminService"]
    assert methods == {m.name for m in service.methods}
    covered = {scenario.__name__ for scenario in MATRIX}
    assert len(covered) == len(service.methods)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("scenario", list(MATRIX), ids=lambda s: s.__name__[2:])
async def test_role_may_call_rpc_only_if_granted(
    world: World, scenario: Scenario, role: str
) -> None:
    method, request = await scenario(world.admin)
    async with world.server.channel() as channel:
        caller = Admin(channel, world.keys[role])
        code = await caller.code_of(method, request)
    if role in MATRIX[scenario]:
        assert code == grpc.StatusCode.OK, f"{role} should complete {method}"
    else:
        assert code == grpc.StatusCode.PERMISSION_DENIED, f"{role} must not {method}"


async def test_developer_manages_only_its_own_keys(world: World) -> None:
    async with world.server.channel() as channel:
        developer = Admin(channel, world.keys["developer"])
        me = (await developer.GetCaller(api.GetCallerRequest())).principal.name
        key, secret = await developer.key_for(me)
        assert secret.startswith("mr-")

        listed = await developer.ListApiKeys(
            api.ListApiKeysRequest(parent="orgs/default/principals/-")
        )
        assert {k.name.rsplit("/keys/", 1)[0] for k in listed.api_keys} == {me}

        revoked = await developer.RevokeApiKey(api.RevokeApiKeyRequest(name=key.name))
        assert revoked.api_key.state == pb.API_KEY_STATE_REVOKED


async def test_team_admin_cannot_act_outside_its_team(world: World) -> None:
    blue = await world.admin.team("default", fresh("blue"))
    outsider = await world.admin.principal("default", fresh("outsider"), team=blue.name)
    async with world.server.channel() as channel:
        team_admin = Admin(channel, world.keys["team_admin"])
        denied = [
            await team_admin.code_of(
                "CreateApiKey",
                api.CreateApiKeyRequest(parent=outsider.name, api_key=pb.ApiKey()),
            ),
            await team_admin.code_of(
                "CreateRoleBinding",
                api.CreateRoleBindingRequest(
                    parent="orgs/default",
                    role_binding=pb.RoleBinding(
                        principal=outsider.name, role="developer", team=blue.name
                    ),
                ),
            ),
            await team_admin.code_of(
                "CreateRoleBinding",
                api.CreateRoleBindingRequest(
                    parent="orgs/default",
                    role_binding=pb.RoleBinding(
                        principal=outsider.name, role="org_admin"
                    ),
                ),
            ),
            await team_admin.code_of(
                "UpdateTeam",
                api.UpdateTeamRequest(
                    team=pb.Team(name=blue.name, description="mine now"),
                    update_mask=field_mask_pb2.FieldMask(paths=["description"]),
                ),
            ),
        ]
    assert denied == [grpc.StatusCode.PERMISSION_DENIED] * 4


async def test_permission_denied_names_the_action(world: World) -> None:
    async with world.server.channel() as channel:
        viewer = Admin(channel, world.keys["viewer"])
        try:
            await viewer.CreateTeam(
                api.CreateTeamRequest(parent="orgs/default", team_id="x")
            )
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "teams.create" in (error.details() or "")
        else:
            raise AssertionError("a viewer created a team")
