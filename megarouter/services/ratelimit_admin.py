"""AdminService's rate-limit calls: protobuf in and out.

Resource names: ``orgs/{org}/rateLimits/{rate_limit}``. On the wire a zero
requests or tokens per minute means no limit of that kind.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from grpc import aio

from megarouter.auth.interceptor import current_caller
from megarouter.errors import InvalidArgument
from megarouter.governance.ratelimit_store import MUTABLE_FIELDS, RateLimitConfig
from megarouter.services.admin_convert import timestamp
from megarouter.services.budget_admin import Governance, visible_org
from megarouter.tenancy import names
from megarouter.v1 import governance_pb2 as gov

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"


def _limit_or_none(value: int) -> int | None:
    return value or None


def rate_limit_message(config: RateLimitConfig) -> gov.RateLimit:
    message = gov.RateLimit(
        name=config.name,
        target=config.target,
        requests_per_minute=config.requests_per_minute or 0,
        tokens_per_minute=config.tokens_per_minute or 0,
        etag=config.etag,
    )
    if config.create_time is not None:
        message.create_time.CopyFrom(timestamp(config.create_time))
    if config.update_time is not None:
        message.update_time.CopyFrom(timestamp(config.update_time))
    return message


def parse_rate_limit(name: str, field: str) -> tuple[str, str]:
    """``(org, rate limit)`` from ``orgs/{org}/rateLimits/{rate_limit}``."""
    org_id, limit_id = names.parse(name, field, "orgs", "rateLimits")
    return visible_org(current_caller(), org_id), limit_id


class RateLimitAdminMixin:
    """The rate-limit calls of AdminService; mixed into ``AdminServicer``,
    which sets ``self._governance``."""

    _governance: Governance

    async def CreateRateLimit(
        self, request: gov.CreateRateLimitRequest, context: Context
    ) -> gov.CreateRateLimitResponse:
        caller = current_caller()
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        visible_org(caller, org_id)
        wanted = request.rate_limit
        config = RateLimitConfig(
            org_id=org_id,
            id=request.rate_limit_id,
            target=wanted.target,
            requests_per_minute=_limit_or_none(wanted.requests_per_minute),
            tokens_per_minute=_limit_or_none(wanted.tokens_per_minute),
        )
        created = await self._governance.ratelimits.create(caller, config)
        return gov.CreateRateLimitResponse(rate_limit=rate_limit_message(created))

    async def GetRateLimit(
        self, request: gov.GetRateLimitRequest, context: Context
    ) -> gov.GetRateLimitResponse:
        org_id, limit_id = parse_rate_limit(request.name, "name")
        config = await self._governance.ratelimits.get(org_id, limit_id)
        return gov.GetRateLimitResponse(rate_limit=rate_limit_message(config))

    async def ListRateLimits(
        self, request: gov.ListRateLimitsRequest, context: Context
    ) -> gov.ListRateLimitsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        visible_org(current_caller(), org_id)
        configs, token = await self._governance.ratelimits.list(
            org_id, request.page_size, request.page_token
        )
        return gov.ListRateLimitsResponse(
            rate_limits=[rate_limit_message(c) for c in configs],
            next_page_token=token,
        )

    async def UpdateRateLimit(
        self, request: gov.UpdateRateLimitRequest, context: Context
    ) -> gov.UpdateRateLimitResponse:
        wanted = request.rate_limit
        org_id, limit_id = parse_rate_limit(wanted.name, "rate_limit.name")
        paths = list(request.update_mask.paths)
        unknown = sorted(set(paths) - MUTABLE_FIELDS)
        if unknown or not paths:
            raise InvalidArgument.for_field(
                "update_mask",
                "name requests_per_minute, tokens_per_minute or both"
                + (f"; cannot update {', '.join(unknown)}" if unknown else ""),
            )
        changes = {path: _limit_or_none(getattr(wanted, path)) for path in paths}
        config = await self._governance.ratelimits.update(
            current_caller(), org_id, limit_id, changes, wanted.etag
        )
        return gov.UpdateRateLimitResponse(rate_limit=rate_limit_message(config))

    async def DeleteRateLimit(
        self, request: gov.DeleteRateLimitRequest, context: Context
    ) -> gov.DeleteRateLimitResponse:
        org_id, limit_id = parse_rate_limit(request.name, "name")
        await self._governance.ratelimits.delete(
            current_caller(), org_id, limit_id, request.etag
        )
        return gov.DeleteRateLimitResponse()
