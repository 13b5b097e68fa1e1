"""Tenancy resources round-trip through AdminService on SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from grpc import aio

from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin


async def test_team_lifecycle_create_get_update_delete(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        created = await admin.team("default", "ml")
        assert created.name == "orgs/default/teams/ml"
        assert created.etag

        got = (await admin.GetTeam(api.GetTeamRequest(name=created.name))).team
        assert got == created

        changed = pb.Team(
            name=created.name, display_name="Machine learning", etag=created.etag
        )
        updated = (
            await admin.UpdateTeam(
                api.UpdateTeamRequest(
                    team=changed,
                    update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                )
            )
        ).team
        assert updated.display_name == "Machine learning"
        assert updated.etag != created.etag

        await admin.DeleteTeam(
            api.DeleteTeamRequest(name=created.name, etag=updated.etag)
        )
        code = await admin.code_of("GetTeam", api.GetTeamRequest(name=created.name))
        assert code == grpc.StatusCode.NOT_FOUND


async def test_update_with_stale_etag_fails_precondition(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        team = await admin.team("default", "ops")
        mask = field_mask_pb2.FieldMask(paths=["description"])
        await admin.UpdateTeam(
            api.UpdateTeamRequest(
                team=pb.Team(name=team.name, description="a"), update_mask=mask
            )
        )
        stale = pb.Team(name=team.name, description="b", etag=team.etag)
        code = await admin.code_of(
            "UpdateTeam", api.UpdateTeamRequest(team=stale, update_mask=mask)
        )
        assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_duplicate_create_is_already_exists(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        await admin.team("default", "dup")
        code = await admin.code_of(
            "CreateTeam", api.CreateTeamRequest(parent="orgs/default", team_id="dup")
        )
        assert code == grpc.StatusCode.ALREADY_EXISTS


async def test_create_with_same_request_id_returns_first_result(
    server: RunningServer,
) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        request = api.CreatePrincipalRequest(
            parent="orgs/default",
            principal_id="retry-me",
            principal=pb.Principal(kind=pb.PRINCIPAL_KIND_USER),
            request_id="req-1",
        )
        first = (await admin.CreatePrincipal(request)).principal
        second = (await admin.CreatePrincipal(request)).principal
        assert first == second


async def test_list_pages_through_every_principal_once(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        await admin.team("default", "red")
        for index in range(7):
            team = "orgs/default/teams/red" if index % 2 else ""
            await admin.principal("default", f"p{index}", team=team)

        seen, token = [], ""
        while True:
            page = await admin.ListPrincipals(
                api.ListPrincipalsRequest(
                    parent="orgs/default", page_size=3, page_token=token
                )
            )
            assert len(page.principals) <= 3
            seen += [p.name for p in page.principals]
            token = page.next_page_token
            if not token:
                break
        expected = {f"orgs/default/principals/p{i}" for i in range(7)}
        assert set(seen) == expected | {"orgs/default/principals/admin"}
        assert len(seen) == len(set(seen))

        red = await admin.ListPrincipals(
            api.ListPrincipalsRequest(
                parent="orgs/default", filter='team = "orgs/default/teams/red"'
            )
        )
        assert sorted(p.name for p in red.principals) == [
            "orgs/default/principals/p1",
            "orgs/default/principals/p3",
            "orgs/default/principals/p5",
        ]


async def test_bad_filter_and_page_token_are_invalid_argument(
    server: RunningServer,
) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        for request in (
            api.ListPrincipalsRequest(parent="orgs/default", filter="colour = red"),
            api.ListPrincipalsRequest(parent="orgs/default", filter="team ~ x"),
            api.ListPrincipalsRequest(parent="orgs/default", page_token="not-a-token"),
            api.ListPrincipalsRequest(parent="orgs/default", page_size=-1),
        ):
            try:
                await admin.ListPrincipals(request)
            except aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            else:
                raise AssertionError(f"{request} was accepted")


async def test_team_with_members_cannot_be_deleted(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        team = await admin.team("default", "busy")
        await admin.principal("default", "member", team=team.name)
        code = await admin.code_of("DeleteTeam", api.DeleteTeamRequest(name=team.name))
        assert code == grpc.StatusCode.FAILED_PRECONDITION
