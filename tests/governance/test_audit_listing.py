"""Reading the audit log: filters, pages, and what each org may see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import field_mask_pb2

from megarouter.testing.server import RunningServer, running_server, server_settings
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import audit_pb2
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin
from tests.governance.audit_support import Audited


@dataclass
class World:
    server: RunningServer
    platform: Audited  # the bootstrap platform admin, in org default
    boss: Audited  # org_admin of acme
    boss_name: str
    viewer: Audited  # viewer in acme
    channel: grpc.aio.Channel


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """Org acme with an org admin and a viewer; changes by both admins.

    The tests only read, so they share one server.
    """
    tmp = tmp_path_factory.mktemp("audit")
    settings = server_settings(f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}", tmp)
    async with running_server(settings) as server, server.channel() as channel:
        helper = Admin(channel, server.admin_key)
        platform = Audited(channel, server.admin_key)
        await platform.call(
            "CreateOrg", api.CreateOrgRequest(org_id="acme", org=pb.Org())
        )
        boss = await helper.principal("acme", "boss")
        await helper.grant(boss.name, "org_admin")
        viewer = await helper.principal("acme", "viewer")
        await helper.grant(viewer.name, "viewer")
        world = World(
            server,
            platform,
            Audited(channel, (await helper.key_for(boss.name))[1]),
            boss.name,
            Audited(channel, (await helper.key_for(viewer.name))[1]),
            channel,
        )
        for team in ("ml", "ops", "web"):
            await world.boss.call(
                "CreateTeam", api.CreateTeamRequest(parent="orgs/acme", team_id=team)
            )
        await world.boss.call(
            "UpdateTeam",
            api.UpdateTeamRequest(
                team=pb.Team(name="orgs/acme/teams/ml", description="models"),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
        )
        await platform.call(
            "DisableProvider",
            api.DisableProviderRequest(name="orgs/acme/providers/groq"),
        )
        await platform.call(
            "CreateTeam", api.CreateTeamRequest(parent="orgs/default", team_id="hq")
        )
        yield world


def actions(events: list[audit_pb2.AuditEvent]) -> list[str]:
    return [event.action for event in events]


async def test_action_filter_matches_exactly_or_by_prefix(world: World) -> None:
    teams = await world.boss.events("acme", 'action = "teams.*"')
    created = await world.boss.events("acme", 'action = "teams.create"')
    not_teams = await world.boss.events("acme", 'action != "teams.*"')

    assert actions(teams) == ["teams.update"] + ["teams.create"] * 3
    assert [e.resource for e in created] == [
        "orgs/acme/teams/web",
        "orgs/acme/teams/ops",
        "orgs/acme/teams/ml",
    ]
    assert "teams.create" not in actions(not_teams)
    assert "providers.disable" in actions(not_teams)


async def test_actor_filter_takes_a_principal_or_its_key(world: World) -> None:
    by_boss = await world.boss.events("acme", f'actor = "{world.boss_name}"')
    caller, _ = await world.boss.call("GetCaller", api.GetCallerRequest())
    by_key = await world.boss.events("acme", f'actor = "{caller.api_key}"')
    by_platform = await world.boss.events(
        "acme", 'actor = "orgs/default/principals/admin"'
    )

    assert actions(by_boss) == ["teams.update"] + ["teams.create"] * 3
    assert by_key == by_boss
    assert set(actions(by_platform)) == {
        "orgs.create",
        "principals.create",
        "rolebindings.create",
        "keys.create",
        "providers.disable",
    }


async def test_resource_and_time_filters_combine(world: World) -> None:
    everything = await world.boss.events("acme")
    ml = await world.boss.events("acme", 'resource = "orgs/acme/teams/ml"')
    # The three team creations, oldest to newest, and the time of the middle.
    created = [e for e in everything if e.action == "teams.create"][::-1]
    middle = created[1].time.ToJsonString()
    since_middle = await world.boss.events(
        "acme", f'action = "teams.create" AND time >= "{middle}"'
    )
    before_middle = await world.boss.events(
        "acme", f'resource = "orgs/acme/teams/*" AND time < "{middle}"'
    )
    after_middle = await world.boss.events(
        "acme", f'action = "teams.create" AND time > "{middle}"'
    )
    none_yet = await world.boss.events("acme", 'time < "1999-01-01T00:00:00Z"')

    assert actions(ml) == ["teams.update", "teams.create"]
    assert [e.resource for e in since_middle] == [
        "orgs/acme/teams/web",
        "orgs/acme/teams/ops",
    ]
    assert [e.resource for e in before_middle] == ["orgs/acme/teams/ml"]
    assert [e.resource for e in after_middle] == ["orgs/acme/teams/web"]
    assert none_yet == []


async def test_pages_walk_the_log_newest_first_without_gaps(world: World) -> None:
    everything = await world.boss.events("acme")
    paged = await world.boss.events("acme", page_size=2)
    first, _ = await world.boss.call(
        "ListAuditEvents", api.ListAuditEventsRequest(parent="orgs/acme", page_size=2)
    )

    assert len(everything) == 12
    assert paged == everything
    assert len(first.audit_events) == 2 and first.next_page_token
    names = [e.name for e in everything]
    assert names == sorted(names, reverse=True)
    assert actions(everything)[-1] == "orgs.create"


@pytest.mark.parametrize(
    "bad_filter",
    [
        'colour = "red"',
        'time = "2026-01-01T00:00:00Z"',
        'action >= "teams"',
        'time >= "yesterday"',
        "action teams.create",
    ],
)
async def test_bad_filters_are_invalid_arguments(world: World, bad_filter: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.boss.events("acme", bad_filter)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "filter" in (raised.value.details() or "")


async def test_bad_page_token_is_an_invalid_argument(world: World) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.boss.call(
            "ListAuditEvents",
            api.ListAuditEventsRequest(parent="orgs/acme", page_token="bm9wZQ=="),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_org_sees_only_its_own_log(world: World) -> None:
    own = await world.boss.events("acme")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.boss.events("default")
    platform_view = await world.platform.events("default")

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert all(e.resource.startswith("orgs/acme") for e in own)
    assert "orgs/default/teams/hq" not in [e.resource for e in own]
    assert [e.resource for e in platform_view] == ["orgs/default/teams/hq"]


async def test_viewers_may_not_read_the_log(world: World) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.viewer.events("acme")
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
