"""The Python SDK, sync and async, against a real server on loopback.

The server runs on the test's event loop, so the blocking client is driven
from a worker thread with ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from megarouter.client import (
    AsyncMegaRouterClient,
    MegaRouterClient,
    MegaRouterRpcError,
    MissingApiKey,
)
from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb

ORG = "orgs/default"


async def test_sync_client_creates_and_reads_back_a_team(
    sqlite_server: RunningServer,
) -> None:
    def scenario() -> tuple[api.GetCallerResponse, pb.Team, pb.Team]:
        with MegaRouterClient(sqlite_server.target, sqlite_server.admin_key) as client:
            caller = client.get_caller()
            created = client.create_team(ORG, "ml", display_name="Machine learning")
            updated = client.update_team(created.name, description="Models")
            return caller, created, updated

    caller, created, updated = await asyncio.to_thread(scenario)

    assert caller.org == ORG
    assert caller.principal.name == "orgs/default/principals/admin"
    assert {b.role for b in caller.role_bindings} >= {"platform_admin", "org_admin"}
    assert created.name == "orgs/default/teams/ml"
    assert created.display_name == "Machine learning"
    assert updated.description == "Models"
    assert updated.display_name == "Machine learning"  # outside the update mask


async def test_sync_client_lists_every_page_when_items_exceed_page_size(
    sqlite_server: RunningServer,
) -> None:
    def scenario() -> list[str]:
        with MegaRouterClient(sqlite_server.target, sqlite_server.admin_key) as client:
            for index in range(5):
                client.create_team(ORG, f"team-{index}")
            return [team.name for team in client.list_teams(ORG, page_size=2)]

    names = await asyncio.to_thread(scenario)

    assert names == [f"orgs/default/teams/team-{index}" for index in range(5)]


async def test_sync_client_creates_a_key_that_authenticates_until_revoked(
    sqlite_server: RunningServer,
) -> None:
    def scenario() -> tuple[pb.ApiKey, str, str, pb.ApiKey, MegaRouterRpcError]:
        with MegaRouterClient(sqlite_server.target, sqlite_server.admin_key) as admin:
            bot = admin.create_principal(
                ORG, "bot", kind=pb.PRINCIPAL_KIND_SERVICE_ACCOUNT
            )
            admin.create_role_binding(ORG, bot.name, "developer")
            expires = datetime.now(UTC) + timedelta(days=1)
            key, secret = admin.create_api_key(
                bot.name, display_name="ci", expire_time=expires
            )
            with MegaRouterClient(sqlite_server.target, secret) as as_bot:
                who = as_bot.get_caller().principal.name
                revoked = admin.revoke_api_key(key.name)
                with pytest.raises(MegaRouterRpcError) as refused:
                    as_bot.get_caller()
        return key, secret, who, revoked, refused.value

    key, secret, who, revoked, refused = await asyncio.to_thread(scenario)

    assert key.name.startswith("orgs/default/principals/bot/keys/")
    assert key.state == pb.API_KEY_STATE_ACTIVE
    assert secret.startswith("mr-") and key.prefix in secret
    assert who == "orgs/default/principals/bot"
    assert revoked.state == pb.API_KEY_STATE_REVOKED
    assert refused.code is grpc.StatusCode.UNAUTHENTICATED


async def test_sync_client_decodes_field_violations_when_an_id_is_invalid(
    sqlite_server: RunningServer,
) -> None:
    def scenario() -> MegaRouterRpcError:
        with MegaRouterClient(sqlite_server.target, sqlite_server.admin_key) as client:
            with pytest.raises(MegaRouterRpcError) as caught:
                client.create_team(ORG, "Not_An_Id")
            return caught.value

    error = await asyncio.to_thread(scenario)

    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_ARGUMENT"
    assert [v.field for v in error.field_violations] == ["team_id"]
    assert "Not_An_Id" in error.field_violations[0].description
    assert error.request_id
    assert str(error).startswith("INVALID_ARGUMENT: team_id")


async def test_sync_client_raises_unauthenticated_when_the_key_is_wrong(
    sqlite_server: RunningServer,
) -> None:
    def scenario() -> MegaRouterRpcError:
        with MegaRouterClient(sqlite_server.target, "mr-not-a-real-key") as client:
            with pytest.raises(MegaRouterRpcError) as caught:
                list(client.list_orgs())
            return caught.value

    error = await asyncio.to_thread(scenario)

    assert error.code is grpc.StatusCode.UNAUTHENTICATED


async def test_sync_client_reads_target_and_key_from_the_environment(
    sqlite_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEGAROUTER_TARGET", sqlite_server.target)
    monkeypatch.setenv("MEGAROUTER_API_KEY", sqlite_server.admin_key)

    def scenario() -> list[str]:
        with MegaRouterClient() as client:
            return [org.name for org in client.list_orgs()]

    assert await asyncio.to_thread(scenario) == [ORG]


def test_client_refuses_to_start_when_no_key_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEGAROUTER_API_KEY", raising=False)

    with pytest.raises(MissingApiKey, match="MEGAROUTER_API_KEY"):
        MegaRouterClient("127.0.0.1:1")


async def test_async_client_manages_principals_bindings_and_pages(
    sqlite_server: RunningServer,
) -> None:
    async with AsyncMegaRouterClient(
        sqlite_server.target, sqlite_server.admin_key
    ) as client:
        team = await client.create_team(ORG, "search")
        for index in range(3):
            await client.create_principal(
                ORG, f"dev-{index}", email=f"dev{index}@example.com", team=team.name
            )
        members = [
            p.name
            async for p in client.list_principals(
                ORG, filter=f'team = "{team.name}"', page_size=2
            )
        ]
        binding = await client.create_role_binding(
            ORG, "orgs/default/principals/dev-0", "team_admin", team=team.name
        )
        listed = [b.name async for b in client.list_role_bindings(ORG, page_size=1)]
        await client.delete_role_binding(binding.name)
        after = [b.name async for b in client.list_role_bindings(ORG)]
        roles = {role.name for role in await client.list_roles()}

    assert members == [f"orgs/default/principals/dev-{i}" for i in range(3)]
    assert binding.role == "team_admin" and binding.team == team.name
    assert binding.name in listed and len(listed) >= 3  # admin's two, and this one
    assert binding.name not in after
    assert {"org_admin", "team_admin", "developer", "viewer", "billing"} <= roles


async def test_async_client_raises_not_found_for_a_missing_team(
    sqlite_server: RunningServer,
) -> None:
    async with AsyncMegaRouterClient(
        sqlite_server.target, sqlite_server.admin_key
    ) as client:
        with pytest.raises(MegaRouterRpcError) as caught:
            await client.get_team("orgs/default/teams/nowhere")

    assert caught.value.code is grpc.StatusCode.NOT_FOUND
    assert "orgs/default/teams/nowhere" in caught.value.message


async def test_async_client_decodes_errors_when_a_list_page_fails(
    sqlite_server: RunningServer,
) -> None:
    async with AsyncMegaRouterClient(
        sqlite_server.target, sqlite_server.admin_key
    ) as client:
        with pytest.raises(MegaRouterRpcError) as caught:
            [t async for t in client.list_teams(ORG, filter="colour = red")]

    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    (violation,) = caught.value.field_violations
    assert violation.field == "filter"
    assert "colour" in violation.description


async def test_async_stub_sends_the_key_on_raw_calls(
    sqlite_server: RunningServer,
) -> None:
    async with AsyncMegaRouterClient(
        sqlite_server.target, sqlite_server.admin_key
    ) as client:
        response = await client.admin.GetCaller(api.GetCallerRequest())

    assert response.principal.name == "orgs/default/principals/admin"
