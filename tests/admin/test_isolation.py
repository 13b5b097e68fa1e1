"""A key of one org sees nothing of another, not even through names or filters."""

from __future__ import annotations

import grpc

from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin


async def test_org_admin_of_one_org_sees_nothing_of_another(
    server: RunningServer,
) -> None:
    async with server.channel() as channel:
        platform = Admin(channel, server.admin_key)
        await platform.team("default", "secret-team")
        await platform.CreateOrg(api.CreateOrgRequest(org_id="acme", org=pb.Org()))
        acme_admin = await platform.principal("acme", "boss")
        await platform.grant(acme_admin.name, "org_admin")
        _, acme_key = await platform.key_for(acme_admin.name)

        acme = Admin(channel, acme_key)
        orgs = await acme.ListOrgs(api.ListOrgsRequest())
        assert [o.name for o in orgs.orgs] == ["orgs/acme"]

        not_found = {
            "GetOrg": api.GetOrgRequest(name="orgs/default"),
            "ListTeams": api.ListTeamsRequest(parent="orgs/default"),
            "GetTeam": api.GetTeamRequest(name="orgs/default/teams/secret-team"),
            "GetPrincipal": api.GetPrincipalRequest(
                name="orgs/default/principals/admin"
            ),
            "ListPrincipals": api.ListPrincipalsRequest(parent="orgs/default"),
            "ListApiKeys": api.ListApiKeysRequest(parent="orgs/default/principals/-"),
            "ListRoleBindings": api.ListRoleBindingsRequest(parent="orgs/default"),
            "CreateTeam": api.CreateTeamRequest(parent="orgs/default", team_id="x"),
            "DeletePrincipal": api.DeletePrincipalRequest(
                name="orgs/default/principals/admin"
            ),
        }
        for method, request in not_found.items():
            assert await acme.code_of(method, request) == grpc.StatusCode.NOT_FOUND, (
                method
            )

        # Names of the other org inside this org's requests are refused
        # without saying whether they exist.
        assert (
            await acme.code_of(
                "ListPrincipals",
                api.ListPrincipalsRequest(
                    parent="orgs/acme", filter='team = "orgs/default/teams/secret-team"'
                ),
            )
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        assert (
            await acme.code_of(
                "CreateRoleBinding",
                api.CreateRoleBindingRequest(
                    parent="orgs/acme",
                    role_binding=pb.RoleBinding(
                        principal="orgs/default/principals/admin", role="viewer"
                    ),
                ),
            )
            == grpc.StatusCode.INVALID_ARGUMENT
        )

        # Nothing of default's appears in acme's own lists.
        principals = await acme.ListPrincipals(
            api.ListPrincipalsRequest(parent="orgs/acme")
        )
        assert [p.name for p in principals.principals] == ["orgs/acme/principals/boss"]
        bindings = await acme.ListRoleBindings(
            api.ListRoleBindingsRequest(parent="orgs/acme")
        )
        assert {b.principal for b in bindings.role_bindings} == {
            "orgs/acme/principals/boss"
        }
