"""AdminService's routing policy calls: protobuf in, policy store, protobuf out.

Resource names: ``orgs/{org}/routingPolicies/{policy}``; attachment targets
are ``orgs/{org}``, ``orgs/{org}/teams/{team}`` and
``orgs/{org}/principals/{principal}/keys/{key}``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from grpc import aio

from megarouter.auth.interceptor import current_caller
from megarouter.errors import InvalidArgument
from megarouter.routing.decision import Strategy
from megarouter.routing.policies import Attachment, RoutingPolicies, StoredPolicy
from megarouter.routing.policy_spec import DEFAULT_WILLINGNESS_MICROS, PolicySpec
from megarouter.services.admin_convert import timestamp
from megarouter.tenancy import names
from megarouter.tenancy.base import etag_of
from megarouter.v1 import routing_policy_pb2 as pb

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"

STRATEGY_TO_PB = {
    Strategy.COST_FIRST: pb.ROUTING_STRATEGY_COST_FIRST,
    Strategy.QUALITY_FIRST: pb.ROUTING_STRATEGY_QUALITY_FIRST,
    Strategy.BALANCED: pb.ROUTING_STRATEGY_BALANCED,
    Strategy.LATENCY_FIRST: pb.ROUTING_STRATEGY_LATENCY_FIRST,
}
STRATEGY_FROM_PB = {value: key for key, value in STRATEGY_TO_PB.items()}


def parse_policy(value: str, field: str) -> tuple[str, str]:
    """``(org, policy)`` from ``orgs/{org}/routingPolicies/{policy}``."""
    org_id, policy_id = names.parse(value, field, "orgs", "routingPolicies")
    if policy_id == "-":
        raise InvalidArgument.for_field(field, "must name one routing policy")
    return org_id, policy_id


def spec_of(message: pb.RoutingPolicy) -> PolicySpec:
    """The settings in a request's policy; unset fields take their defaults."""
    if message.strategy not in (pb.ROUTING_STRATEGY_UNSPECIFIED, *STRATEGY_FROM_PB):
        raise InvalidArgument.for_field(
            "routing_policy.strategy", f"unknown strategy {message.strategy}"
        )
    return PolicySpec(
        description=message.description,
        strategy=STRATEGY_FROM_PB.get(message.strategy, Strategy.BALANCED),
        min_quality=message.min_quality if message.HasField("min_quality") else None,
        max_cost_micros=(
            message.max_cost_micros if message.HasField("max_cost_micros") else None
        ),
        max_latency_ms=(
            message.max_latency_ms if message.HasField("max_latency_ms") else None
        ),
        willingness_to_pay_micros=(
            message.willingness_to_pay_micros
            if message.HasField("willingness_to_pay_micros")
            else DEFAULT_WILLINGNESS_MICROS
        ),
        allowed_models=tuple(message.allowed_models),
        max_attempts=(
            message.max_attempts
            if message.HasField("max_attempts")
            else PolicySpec().max_attempts
        ),
    )


def policy_message(stored: StoredPolicy) -> pb.RoutingPolicy:
    spec, row = stored.spec, stored.row
    message = pb.RoutingPolicy(
        name=stored.name,
        description=spec.description,
        strategy=STRATEGY_TO_PB[spec.strategy],
        willingness_to_pay_micros=spec.willingness_to_pay_micros,
        allowed_models=list(spec.allowed_models),
        max_attempts=spec.max_attempts,
        attached_to=list(stored.attached_to),
        etag=etag_of(row.version),
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
    )
    if spec.min_quality is not None:
        message.min_quality = spec.min_quality
    if spec.max_cost_micros is not None:
        message.max_cost_micros = spec.max_cost_micros
    if spec.max_latency_ms is not None:
        message.max_latency_ms = spec.max_latency_ms
    return message


def attachment_message(attachment: Attachment) -> pb.RoutingPolicyAttachment:
    return pb.RoutingPolicyAttachment(
        target=attachment.target,
        policy=attachment.policy,
        create_time=timestamp(attachment.create_time),
    )


class PolicyAdminMixin:
    """The routing policy calls of AdminService; mixed into
    ``AdminServicer``, which sets ``self._policies``."""

    _policies: RoutingPolicies

    async def CreateRoutingPolicy(
        self, request: pb.CreateRoutingPolicyRequest, context: Context
    ) -> pb.CreateRoutingPolicyResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        stored = await self._policies.create(
            current_caller(),
            org_id,
            request.routing_policy_id,
            spec_of(request.routing_policy),
        )
        return pb.CreateRoutingPolicyResponse(routing_policy=policy_message(stored))

    async def GetRoutingPolicy(
        self, request: pb.GetRoutingPolicyRequest, context: Context
    ) -> pb.GetRoutingPolicyResponse:
        org_id, policy_id = parse_policy(request.name, "name")
        stored = await self._policies.get(current_caller(), org_id, policy_id)
        return pb.GetRoutingPolicyResponse(routing_policy=policy_message(stored))

    async def ListRoutingPolicies(
        self, request: pb.ListRoutingPoliciesRequest, context: Context
    ) -> pb.ListRoutingPoliciesResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        found, token = await self._policies.list_page(
            current_caller(), org_id, request.page_size, request.page_token
        )
        return pb.ListRoutingPoliciesResponse(
            routing_policies=[policy_message(s) for s in found],
            next_page_token=token,
        )

    async def UpdateRoutingPolicy(
        self, request: pb.UpdateRoutingPolicyRequest, context: Context
    ) -> pb.UpdateRoutingPolicyResponse:
        message = request.routing_policy
        org_id, policy_id = parse_policy(message.name, "routing_policy.name")
        stored = await self._policies.update(
            current_caller(),
            org_id,
            policy_id,
            spec_of(message),
            list(request.update_mask.paths),
            message.etag,
        )
        return pb.UpdateRoutingPolicyResponse(routing_policy=policy_message(stored))

    async def DeleteRoutingPolicy(
        self, request: pb.DeleteRoutingPolicyRequest, context: Context
    ) -> pb.DeleteRoutingPolicyResponse:
        org_id, policy_id = parse_policy(request.name, "name")
        await self._policies.delete(current_caller(), org_id, policy_id, request.etag)
        return pb.DeleteRoutingPolicyResponse()

    async def AttachRoutingPolicy(
        self, request: pb.AttachRoutingPolicyRequest, context: Context
    ) -> pb.AttachRoutingPolicyResponse:
        org_id, policy_id = parse_policy(request.policy, "policy")
        attachment = await self._policies.attach(
            current_caller(), org_id, policy_id, request.target
        )
        return pb.AttachRoutingPolicyResponse(attachment=attachment_message(attachment))

    async def DetachRoutingPolicy(
        self, request: pb.DetachRoutingPolicyRequest, context: Context
    ) -> pb.DetachRoutingPolicyResponse:
        (org_id,) = names.parse(
            "/".join(request.target.split("/")[:2]), "target", "orgs"
        )
        await self._policies.detach(current_caller(), org_id, request.target)
        return pb.DetachRoutingPolicyResponse()
