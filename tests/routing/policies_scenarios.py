"""Role-matrix scenarios for the routing policy RPCs.

``tests/admin/test_rbac_matrix.py`` runs each scenario as every built-in
role: reading is open to every role (``policies:list``), managing policies
to org and platform administrators, and attaching on team ``red`` also to
red's team_admin.
"""

from __future__ import annotations

import itertools
from typing import Any

from google.protobuf import field_mask_pb2

from megarouter.v1 import routing_policy_pb2 as rp
from tests.admin.support import Admin

ORG = "orgs/default"
RED = "orgs/default/teams/red"
ADMINS = {"platform_admin", "org_admin"}
TEAM_ADMINS = ADMINS | {"team_admin"}
EVERYONE = TEAM_ADMINS | {"developer", "viewer", "billing"}

_serial = itertools.count()


async def new_policy(admin: Admin) -> rp.RoutingPolicy:
    response = await admin.CreateRoutingPolicy(
        rp.CreateRoutingPolicyRequest(
            parent=ORG,
            routing_policy_id=f"matrix-{next(_serial)}",
            routing_policy=rp.RoutingPolicy(strategy=rp.ROUTING_STRATEGY_COST_FIRST),
        )
    )
    return response.routing_policy


async def s_create_routing_policy(admin: Admin) -> tuple[str, Any]:
    return "CreateRoutingPolicy", rp.CreateRoutingPolicyRequest(
        parent=ORG,
        routing_policy_id=f"made-{next(_serial)}",
        routing_policy=rp.RoutingPolicy(max_attempts=2),
    )


async def s_get_routing_policy(admin: Admin) -> tuple[str, Any]:
    policy = await new_policy(admin)
    return "GetRoutingPolicy", rp.GetRoutingPolicyRequest(name=policy.name)


async def s_list_routing_policies(admin: Admin) -> tuple[str, Any]:
    return "ListRoutingPolicies", rp.ListRoutingPoliciesRequest(parent=ORG)


async def s_update_routing_policy(admin: Admin) -> tuple[str, Any]:
    policy = await new_policy(admin)
    changed = rp.RoutingPolicy(name=policy.name, min_quality=0.5)
    mask = field_mask_pb2.FieldMask(paths=["min_quality"])
    return "UpdateRoutingPolicy", rp.UpdateRoutingPolicyRequest(
        routing_policy=changed, update_mask=mask
    )


async def s_delete_routing_policy(admin: Admin) -> tuple[str, Any]:
    policy = await new_policy(admin)
    return "DeleteRoutingPolicy", rp.DeleteRoutingPolicyRequest(name=policy.name)


async def s_attach_routing_policy(admin: Admin) -> tuple[str, Any]:
    policy = await new_policy(admin)
    return "AttachRoutingPolicy", rp.AttachRoutingPolicyRequest(
        policy=policy.name, target=RED
    )


async def s_detach_routing_policy(admin: Admin) -> tuple[str, Any]:
    policy = await new_policy(admin)
    await admin.AttachRoutingPolicy(
        rp.AttachRoutingPolicyRequest(policy=policy.name, target=RED)
    )
    return "DetachRoutingPolicy", rp.DetachRoutingPolicyRequest(target=RED)


POLICY_MATRIX = {
    s_create_routing_policy: ADMINS,
    s_get_routing_policy: EVERYONE,
    s_list_routing_policies: EVERYONE,
    s_update_routing_policy: ADMINS,
    s_delete_routing_policy: ADMINS,
    s_attach_routing_policy: TEAM_ADMINS,
    s_detach_routing_policy: TEAM_ADMINS,
}
