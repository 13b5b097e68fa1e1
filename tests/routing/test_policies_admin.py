"""Routing policies over AdminService, as administrators and members see them."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio

from megarouter.client_transport import MegaRouterRpcError
from megarouter.testing.server import RunningServer
from megarouter.v1 import routing_policy_pb2 as rp
from tests.admin.support import Admin

ORG = "orgs/default"
RED = "orgs/default/teams/red"
BLUE = "orgs/default/teams/blue"


async def error_of(admin: Admin, method: str, request: Any) -> MegaRouterRpcError:
    with pytest.raises(aio.AioRpcError) as caught:
        await getattr(admin, method)(request)
    return MegaRouterRpcError.from_grpc(caught.value)


def create(policy_id: str, **fields: Any) -> rp.CreateRoutingPolicyRequest:
    return rp.CreateRoutingPolicyRequest(
        parent=ORG,
        routing_policy_id=policy_id,
        routing_policy=rp.RoutingPolicy(**fields),
    )


async def test_policy_is_created_read_updated_and_deleted(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        created = (
            await admin.CreateRoutingPolicy(
                create(
                    "frugal",
                    description="cheap",
                    strategy=rp.ROUTING_STRATEGY_COST_FIRST,
                    min_quality=0.7,
                    max_cost_micros=4_000,
                    allowed_models=["groq/*"],
                )
            )
        ).routing_policy
        got = (
            await admin.GetRoutingPolicy(rp.GetRoutingPolicyRequest(name=created.name))
        ).routing_policy
        changed = rp.RoutingPolicy(
            name=created.name, max_latency_ms=1500, etag=created.etag
        )
        mask = field_mask_pb2.FieldMask(paths=["max_latency_ms", "min_quality"])
        updated = (
            await admin.UpdateRoutingPolicy(
                rp.UpdateRoutingPolicyRequest(routing_policy=changed, update_mask=mask)
            )
        ).routing_policy
        stale = await error_of(
            admin,
            "DeleteRoutingPolicy",
            rp.DeleteRoutingPolicyRequest(name=created.name, etag=created.etag),
        )
        await admin.DeleteRoutingPolicy(
            rp.DeleteRoutingPolicyRequest(name=created.name, etag=updated.etag)
        )
        gone = await admin.code_of(
            "GetRoutingPolicy", rp.GetRoutingPolicyRequest(name=created.name)
        )

    assert created.name == "orgs/default/routingPolicies/frugal"
    assert got == created
    assert created.willingness_to_pay_micros == 20_000  # the default
    assert created.max_attempts == 3
    assert updated.max_latency_ms == 1500
    assert not updated.HasField("min_quality")  # in the mask, unset: cleared
    assert updated.max_cost_micros == 4_000 and list(updated.allowed_models) == [
        "groq/*"
    ]
    assert updated.etag != created.etag
    assert stale.code == grpc.StatusCode.FAILED_PRECONDITION
    assert gone == grpc.StatusCode.NOT_FOUND


async def test_bad_settings_are_invalid_argument_with_field_violations(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        error = await error_of(
            admin,
            "CreateRoutingPolicy",
            create(
                "bad",
                min_quality=-0.1,
                max_cost_micros=0,
                willingness_to_pay_micros=-5,
                allowed_models=[" "],
                max_attempts=0,
            ),
        )

    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.field_violations} == {
        "routing_policy.min_quality",
        "routing_policy.max_cost_micros",
        "routing_policy.willingness_to_pay_micros",
        "routing_policy.allowed_models[0]",
        "routing_policy.max_attempts",
    }


async def test_attached_policy_is_not_deleted_and_shows_its_targets(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        await admin.team("default", "red")
        policy = (await admin.CreateRoutingPolicy(create("p"))).routing_policy
        attached = await admin.AttachRoutingPolicy(
            rp.AttachRoutingPolicyRequest(policy=policy.name, target=RED)
        )
        listed = await admin.ListRoutingPolicies(
            rp.ListRoutingPoliciesRequest(parent=ORG)
        )
        refused = await error_of(
            admin,
            "DeleteRoutingPolicy",
            rp.DeleteRoutingPolicyRequest(name=policy.name),
        )
        await admin.DetachRoutingPolicy(rp.DetachRoutingPolicyRequest(target=RED))
        await admin.DeleteRoutingPolicy(rp.DeleteRoutingPolicyRequest(name=policy.name))

    assert attached.attachment.target == RED
    assert attached.attachment.policy == policy.name
    assert [list(p.attached_to) for p in listed.routing_policies] == [[RED]]
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert RED in refused.message


async def test_list_pages_over_the_api(sqlite_server: RunningServer) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        for index in range(5):
            await admin.CreateRoutingPolicy(create(f"p{index}"))
        seen: list[str] = []
        token = ""
        while True:
            page = await admin.ListRoutingPolicies(
                rp.ListRoutingPoliciesRequest(parent=ORG, page_size=2, page_token=token)
            )
            seen.extend(p.name.rsplit("/", 1)[1] for p in page.routing_policies)
            token = page.next_page_token
            if not token:
                break

    assert seen == ["p0", "p1", "p2", "p3", "p4"]


async def test_team_admin_attaches_on_its_team_only_and_developer_only_reads(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        await admin.team("default", "red")
        await admin.team("default", "blue")
        keys = {}
        for role, team in [("team_admin", RED), ("developer", "")]:
            member = await admin.principal("default", role.replace("_", "-"), team=RED)
            await admin.grant(member.name, role, team)
            keys[role] = (await admin.key_for(member.name))[1]
        blue_member = await admin.principal("default", "bluey", team=BLUE)
        blue_key, _ = await admin.key_for(blue_member.name)
        red_key, _ = await admin.key_for("orgs/default/principals/developer")
        policy = (await admin.CreateRoutingPolicy(create("p"))).routing_policy

        team_admin = Admin(channel, keys["team_admin"])
        developer = Admin(channel, keys["developer"])
        allowed = [
            await team_admin.code_of(
                "AttachRoutingPolicy",
                rp.AttachRoutingPolicyRequest(policy=policy.name, target=target),
            )
            for target in (RED, red_key.name)
        ]
        denied = [
            await team_admin.code_of(
                "AttachRoutingPolicy",
                rp.AttachRoutingPolicyRequest(policy=policy.name, target=target),
            )
            for target in (ORG, BLUE, blue_key.name)
        ]
        team_admin_creates = await team_admin.code_of(
            "CreateRoutingPolicy", create("mine")
        )
        developer_calls = [
            await developer.code_of("CreateRoutingPolicy", create("dev")),
            await developer.code_of(
                "DetachRoutingPolicy", rp.DetachRoutingPolicyRequest(target=RED)
            ),
            await developer.code_of(
                "ListRoutingPolicies", rp.ListRoutingPoliciesRequest(parent=ORG)
            ),
            await developer.code_of(
                "GetRoutingPolicy", rp.GetRoutingPolicyRequest(name=policy.name)
            ),
        ]

    assert allowed == [grpc.StatusCode.OK] * 2
    assert denied == [grpc.StatusCode.PERMISSION_DENIED] * 3
    assert team_admin_creates == grpc.StatusCode.PERMISSION_DENIED
    assert developer_calls == [
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.OK,
        grpc.StatusCode.OK,
    ]


async def test_bad_targets_are_invalid_or_not_found(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        policy = (await admin.CreateRoutingPolicy(create("p"))).routing_policy
        codes = [
            await admin.code_of(
                "AttachRoutingPolicy",
                rp.AttachRoutingPolicyRequest(policy=policy.name, target=target),
            )
            for target in (
                "orgs/default/teams/nope",
                "orgs/default/principals/admin",
                "teams/red",
                "",
            )
        ]
        detach_nothing = await admin.code_of(
            "DetachRoutingPolicy", rp.DetachRoutingPolicyRequest(target=ORG)
        )

    assert codes == [
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
    ]
    assert detach_nothing == grpc.StatusCode.NOT_FOUND
