"""Routing policies steer real calls: attached to the org, a team or a key,
or named by the request, through AdminService and CompletionService.

The gateway (see conftest) serves ``gpt-4o-mini`` from fake-a and fake-b and
a cheaper copy from fake-dead, where nothing listens: cost_first tries
fake-dead first, so a policy's max_attempts decides whether a call falls
back.
"""

from __future__ import annotations

import grpc
import pytest
from grpc import aio

from megarouter.client_transport import MegaRouterRpcError
from megarouter.testing.server import RunningServer
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from megarouter.v1 import routing_policy_pb2 as rp
from tests.admin.support import Admin, auth

ORG = "orgs/default"
RED = "orgs/default/teams/red"


async def create_policy(admin: Admin, policy_id: str, **fields: object) -> str:
    response = await admin.CreateRoutingPolicy(
        rp.CreateRoutingPolicyRequest(
            parent=ORG,
            routing_policy_id=policy_id,
            routing_policy=rp.RoutingPolicy(**fields),  # type: ignore[arg-type]
        )
    )
    return str(response.routing_policy.name)


async def attach(admin: Admin, policy: str, target: str) -> None:
    await admin.AttachRoutingPolicy(
        rp.AttachRoutingPolicyRequest(policy=policy, target=target)
    )


async def complete(
    channel: aio.Channel, key: str, policy: str = ""
) -> api.CompleteResponse:
    stub = api_grpc.CompletionServiceStub(channel)
    request = api.CompleteRequest(
        model="auto",
        messages=[
            chat.ChatMessage(
                role=chat.CHAT_ROLE_USER, content=[chat.ContentPart(text="Hi.")]
            )
        ],
        max_tokens=20,
        routing=chat.RoutingHints(policy=policy),
    )
    response: api.CompleteResponse = await stub.Complete(
        request, metadata=auth(key), timeout=30
    )
    return response


async def red_developer(admin: Admin) -> tuple[str, str]:
    """A developer of team red: its key's name and secret."""
    await admin.team("default", "red")
    member = await admin.principal("default", "dev", team=RED)
    await admin.grant(member.name, "developer")
    key, secret = await admin.key_for(member.name)
    return key.name, secret


async def test_key_beats_team_beats_org_and_the_request_beats_all(
    gateway: RunningServer, admin: Admin
) -> None:
    key_name, secret = await red_developer(admin)
    by_org = await create_policy(
        admin, "by-org", strategy=rp.ROUTING_STRATEGY_COST_FIRST
    )
    by_team = await create_policy(
        admin, "by-team", strategy=rp.ROUTING_STRATEGY_QUALITY_FIRST
    )
    by_key = await create_policy(
        admin, "by-key", strategy=rp.ROUTING_STRATEGY_LATENCY_FIRST
    )
    await create_policy(admin, "asked", strategy=rp.ROUTING_STRATEGY_COST_FIRST)

    async with gateway.channel() as channel:
        seen = [(await complete(channel, secret)).route.strategy]
        for policy, target in [(by_org, ORG), (by_team, RED), (by_key, key_name)]:
            await attach(admin, policy, target)
            seen.append((await complete(channel, secret)).route.strategy)
        asked = await complete(channel, secret, policy="asked")

    assert seen == ["balanced", "cost_first", "quality_first", "latency_first"]
    assert asked.route.strategy == "cost_first"


async def test_request_naming_an_unknown_policy_is_invalid_argument(
    gateway: RunningServer, admin: Admin
) -> None:
    async with gateway.channel() as channel:
        with pytest.raises(aio.AioRpcError) as caught:
            await complete(channel, gateway.admin_key, policy="no-such-policy")

    error = MegaRouterRpcError.from_grpc(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.field_violations] == ["routing.policy"]
    assert "no-such-policy" in error.message


async def test_allowed_models_restrict_the_chosen_model(
    gateway: RunningServer, admin: Admin
) -> None:
    only_b = await create_policy(
        admin,
        "only-b",
        strategy=rp.ROUTING_STRATEGY_COST_FIRST,
        allowed_models=["fake-b/*"],
    )
    await attach(admin, only_b, ORG)

    async with gateway.channel() as channel:
        response = await complete(channel, gateway.admin_key)

    assert response.provider == "fake-b"
    assert [a.provider for a in response.attempts] == ["fake-b"]


@pytest.mark.parametrize("max_attempts", [1, 2])
async def test_policy_max_attempts_bounds_the_fallback(
    gateway: RunningServer, admin: Admin, max_attempts: int
) -> None:
    await create_policy(
        admin,
        "cheapest",
        strategy=rp.ROUTING_STRATEGY_COST_FIRST,
        max_attempts=max_attempts,
    )

    async with gateway.channel() as channel:
        if max_attempts == 1:
            with pytest.raises(aio.AioRpcError) as caught:
                await complete(channel, gateway.admin_key, policy="cheapest")
            error = MegaRouterRpcError.from_grpc(caught.value)
            assert error.code == grpc.StatusCode.UNAVAILABLE
            assert [a.provider for a in error.attempts] == ["fake-dead"]
            return
        response = await complete(channel, gateway.admin_key, policy="cheapest")

    assert [a.provider for a in response.attempts] == ["fake-dead", "fake-a"]
    assert response.provider == "fake-a"
