"""Configured rate limits: which team or API key may make how many calls.

Each rate limit is a resource ``orgs/{org}/rateLimits/{id}`` on one target,
a team (``orgs/{org}/teams/{team}``, every key of the team together) or an
API key (``orgs/{org}/principals/{principal}/keys/{key}``), with requests
and tokens per minute. The completion path asks :meth:`RateLimitStore.limits_for`
for the limits covering a caller on every call, so they are cached per org
for a few seconds and dropped at once when this process changes them.

Every change writes an audit entry in its own transaction. Callers' roles
are checked before these calls; nothing here knows about protobuf.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from megarouter.auth.caller import Caller
from megarouter.errors import (
    AlreadyExists,
    EtagMismatch,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from megarouter.governance.audit import NO_AUDIT, AuditTrail, snapshot
from megarouter.governance.ratelimits import RateLimit
from megarouter.store.database import Database
from megarouter.store.ratelimit_config_tables import RateLimitConfigRow
from megarouter.store.tables import ApiKeyRow, OrgRow, TeamRow, as_utc, utcnow
from megarouter.tenancy.listing import next_page_token, page_request

logger = logging.getLogger(__name__)

MUTABLE_FIELDS = frozenset({"requests_per_minute", "tokens_per_minute"})
_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
_SEGMENT = r"[a-z0-9][a-z0-9-]{0,62}"
_TEAM = re.compile(rf"orgs/(?P<org>{_SEGMENT})/teams/(?P<team>{_SEGMENT})")
_KEY = re.compile(
    rf"orgs/(?P<org>{_SEGMENT})/principals/(?P<principal>{_SEGMENT})"
    rf"/keys/(?P<key>{_SEGMENT})"
)
_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """One configured rate limit.

    Attributes:
        org_id: the org.
        id: the rate limit's id.
        target: the team's or key's resource name.
        requests_per_minute: None for no request limit.
        tokens_per_minute: None for no token limit.
        version: incremented by every update; the etag is derived from it.
    """

    org_id: str
    id: str
    target: str
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    version: int = 1
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"orgs/{self.org_id}/rateLimits/{self.id}"

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def as_limit(self) -> RateLimit:
        """The limit the rate limiter enforces."""
        kind, target_id = parse_target(self.target, self.org_id)
        if kind == "team":
            return RateLimit.for_team(
                self.org_id,
                target_id,
                rpm=self.requests_per_minute,
                tpm=self.tokens_per_minute,
            )
        return RateLimit.for_key(
            self.org_id,
            target_id,
            rpm=self.requests_per_minute,
            tpm=self.tokens_per_minute,
        )


def parse_target(target: str, org_id: str) -> tuple[str, str]:
    """``("team", team_id)`` or ``("key", key_id)`` from a target name.

    Raises:
        InvalidArgument: not a team or key of ``org_id``.
    """
    team = _TEAM.fullmatch(target)
    key = _KEY.fullmatch(target)
    match = team or key
    if match is None or match["org"] != org_id:
        raise InvalidArgument.for_field(
            "rate_limit.target",
            f"expected orgs/{org_id}/teams/{{team}} or "
            f"orgs/{org_id}/principals/{{principal}}/keys/{{key}}, "
            f"got {target[:300]!r}",
        )
    return ("team", match["team"]) if team else ("key", match["key"])


def _config(row: RateLimitConfigRow) -> RateLimitConfig:
    return RateLimitConfig(
        org_id=row.org_id,
        id=row.id,
        target=row.target,
        requests_per_minute=row.requests_per_minute,
        tokens_per_minute=row.tokens_per_minute,
        version=row.version,
        create_time=as_utc(row.create_time),
        update_time=as_utc(row.update_time),
    )


def _check_amounts(config: RateLimitConfig) -> None:
    """Both amounts unset or positive 64-bit, and at least one set."""
    problems = [
        FieldViolation(f"rate_limit.{name}", "must be positive and fit 64 bits")
        for name in ("requests_per_minute", "tokens_per_minute")
        if (value := getattr(config, name)) is not None and not 0 < value <= _MAX
    ]
    if config.requests_per_minute is None and config.tokens_per_minute is None:
        problems.append(
            FieldViolation(
                "rate_limit", "set requests_per_minute, tokens_per_minute or both"
            )
        )
    if problems:
        raise InvalidArgument(
            "; ".join(f"{p.field}: {p.description}" for p in problems), problems
        )


class RateLimitStore:
    """Rate limit resources of every org, and the lookup the call path uses.

    Args:
        database: where the ``rate_limit_configs`` table lives (migrated).
        audit: where changes are recorded.
        cache_ttl: seconds an org's limits are served from memory; changes
            made by other replicas show within this time.
        clock: monotonic seconds, for the cache.
    """

    def __init__(
        self,
        database: Database,
        *,
        audit: AuditTrail = NO_AUDIT,
        cache_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._audit = audit
        self._ttl = cache_ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, tuple[RateLimitConfig, ...]]] = {}

    # --- the call path -------------------------------------------------------

    async def limits_for(
        self, org_id: str, team_id: str, key_id: str
    ) -> list[RateLimit]:
        """The limits covering a caller: its key's and its team's.

        Args:
            org_id: the caller's org.
            team_id: the caller's team ("" for none).
            key_id: the API key of the call.

        Returns:
            The key's limit, then the team's, for those that have one.
        """
        configs = await self._org_limits(org_id)
        wanted = {("key", key_id)} | ({("team", team_id)} if team_id else set())
        found = []
        for config in configs:
            if parse_target(config.target, org_id) in wanted:
                found.append(config.as_limit())
        return sorted(found, key=lambda limit: limit.scope_kind != "key")

    def invalidate(self, org_id: str) -> None:
        """Reread an org's limits on next use."""
        self._cache.pop(org_id, None)

    async def _org_limits(self, org_id: str) -> tuple[RateLimitConfig, ...]:
        now = self._clock()
        cached = self._cache.get(org_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        async with self._database.sessions() as session:
            rows = await session.scalars(
                select(RateLimitConfigRow).where(
                    col(RateLimitConfigRow.org_id) == org_id
                )
            )
            configs = tuple(_config(row) for row in rows)
        self._cache[org_id] = (now, configs)
        return configs

    # --- the resource --------------------------------------------------------

    async def create(
        self, actor: Caller | None, config: RateLimitConfig
    ) -> RateLimitConfig:
        """Create a rate limit on a team or key that exists.

        Raises:
            InvalidArgument: a bad id, target or amount.
            NotFound: the org or the target does not exist.
            AlreadyExists: the id is taken or the target has a rate limit.
        """
        if not _ID.fullmatch(config.id):
            raise InvalidArgument.for_field(
                "rate_limit_id",
                "must be 1 to 63 lowercase letters, digits and hyphens, "
                "starting with a letter",
            )
        kind, target_id = parse_target(config.target, config.org_id)
        _check_amounts(config)
        row = RateLimitConfigRow(
            org_id=config.org_id,
            id=config.id,
            target=config.target,
            target_kind=kind,
            target_id=target_id,
            requests_per_minute=config.requests_per_minute,
            tokens_per_minute=config.tokens_per_minute,
        )

        try:
            async with self._database.transaction() as session:
                await self._require_target(session, config.org_id, config.target)
                session.add(row)
                await session.flush()
                self._audit.record(
                    session, actor, "ratelimits.create", config.name, None, row
                )
        except IntegrityError:
            raise AlreadyExists(
                f"{config.name} already exists, or {config.target} has a rate limit"
            ) from None

        self.invalidate(config.org_id)
        logger.info("rate limit created %s on %s", config.name, config.target)
        return _config(row)

    async def get(self, org_id: str, limit_id: str) -> RateLimitConfig:
        """One rate limit.

        Raises:
            NotFound: no such rate limit.
        """
        async with self._database.sessions() as session:
            row = await session.get(RateLimitConfigRow, (org_id, limit_id))
        if row is None:
            raise NotFound(f"orgs/{org_id}/rateLimits/{limit_id} not found")
        return _config(row)

    async def list(
        self, org_id: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[RateLimitConfig], str]:
        """A page of an org's rate limits in id order, and the next page's token.

        Raises:
            InvalidArgument: a negative page size or a foreign page token.
        """
        page = page_request(page_size, page_token)
        query = select(RateLimitConfigRow).where(
            col(RateLimitConfigRow.org_id) == org_id,
            col(RateLimitConfigRow.id) > page.after,
        )
        async with self._database.sessions() as session:
            rows = await session.scalars(
                query.order_by(col(RateLimitConfigRow.id)).limit(page.size)
            )
            configs = [_config(row) for row in rows]
        return configs, next_page_token([c.id for c in configs], page.size)

    async def update(
        self,
        actor: Caller | None,
        org_id: str,
        limit_id: str,
        changes: Mapping[str, Any],
        etag: str = "",
    ) -> RateLimitConfig:
        """Change a rate limit's requests or tokens per minute.

        Args:
            actor: who makes the change, for the audit log.
            org_id: the org.
            limit_id: the rate limit.
            changes: new values of ``requests_per_minute`` and
                ``tokens_per_minute`` (None for no limit).
            etag: the version the caller read; "" skips the check.

        Raises:
            InvalidArgument: an unknown or immutable field, or a bad amount.
            NotFound: no such rate limit.
            EtagMismatch: the etag is stale.
        """
        unknown = sorted(set(changes) - MUTABLE_FIELDS)
        if unknown or not changes:
            raise InvalidArgument.for_field(
                "update_mask",
                f"name fields to update among {', '.join(sorted(MUTABLE_FIELDS))}"
                + (f"; cannot update {', '.join(unknown)}" if unknown else ""),
            )

        async with self._database.transaction() as session:
            row = await session.get(
                RateLimitConfigRow, (org_id, limit_id), with_for_update=True
            )
            if row is None:
                raise NotFound(f"orgs/{org_id}/rateLimits/{limit_id} not found")
            current = _config(row)
            if etag and etag != current.etag:
                raise EtagMismatch(
                    f"etag {etag} is stale; {current.name} is at {current.etag}"
                )
            _check_amounts(replace(current, **changes))
            before = snapshot(row)
            for field, value in changes.items():
                setattr(row, field, value)
            row.version += 1
            row.update_time = utcnow()
            self._audit.record(
                session, actor, "ratelimits.update", current.name, before, row
            )

        self.invalidate(org_id)
        return _config(row)

    async def delete(
        self, actor: Caller | None, org_id: str, limit_id: str, etag: str = ""
    ) -> None:
        """Delete a rate limit.

        Raises:
            NotFound: no such rate limit.
            EtagMismatch: the etag is stale.
        """
        async with self._database.transaction() as session:
            row = await session.get(
                RateLimitConfigRow, (org_id, limit_id), with_for_update=True
            )
            if row is None:
                raise NotFound(f"orgs/{org_id}/rateLimits/{limit_id} not found")
            current = _config(row)
            if etag and etag != current.etag:
                raise EtagMismatch(
                    f"etag {etag} is stale; {current.name} is at {current.etag}"
                )
            self._audit.record(
                session, actor, "ratelimits.delete", current.name, row, None
            )
            await session.delete(row)

        self.invalidate(org_id)

    @staticmethod
    async def _require_target(session: Any, org_id: str, target: str) -> None:
        """NotFound unless the org and the target team or key exist."""
        if await session.get(OrgRow, org_id) is None:
            raise NotFound(f"orgs/{org_id} not found")
        team = _TEAM.fullmatch(target)
        if team is not None:
            found = await session.get(TeamRow, (org_id, team["team"]))
        else:
            key = _KEY.fullmatch(target)
            assert key is not None, "parse_target checked the shape"
            row = await session.get(ApiKeyRow, (org_id, key["key"]))
            found = row if row and row.principal_id == key["principal"] else None
        if found is None:
            raise NotFound(f"{target} not found")
