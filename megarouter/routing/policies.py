"""Named routing policies: stored per org, attached to orgs, teams and API
keys, and resolved for every call.

A call's policy is, from the most specific: the policy the request names,
the one attached to the caller's API key, to its team, to its org, and
otherwise the built-in default :class:`RoutingPolicy`. Calls read an
in-memory snapshot of their org's policies and attachments, reloaded at most
every ``ttl`` seconds (and at once after a change made through this
process), so steady-state calls never wait for the database.

Managing policies needs the org_admin role; a team_admin may attach and
detach policies on its own team and on its team members' API keys. The
interceptor has already checked the caller's permission in its own org.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from megarouter.auth.caller import Caller
from megarouter.completions.requests import CallContext
from megarouter.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from megarouter.governance.audit import AuditTrail, snapshot
from megarouter.routing.decision import RoutingPolicy
from megarouter.routing.policy_spec import (
    PolicySpec,
    check_spec,
    policy_name,
    spec_values,
)
from megarouter.store.database import Database
from megarouter.store.policy_tables import (
    RoutingPolicyAttachmentRow,
    RoutingPolicyRow,
)
from megarouter.store.tables import ApiKeyRow, OrgRow, PrincipalRow, TeamRow, utcnow
from megarouter.tenancy import names
from megarouter.tenancy.base import TenancyStore
from megarouter.tenancy.listing import page_request

logger = logging.getLogger(__name__)

REQUEST_FIELD = "routing.policy"


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A policy as stored: its settings, where it applies, and its version."""

    row: RoutingPolicyRow
    attached_to: tuple[str, ...]

    @property
    def name(self) -> str:
        return policy_name(self.row.org_id, self.row.id)

    @property
    def spec(self) -> PolicySpec:
        return PolicySpec.of_row(self.row)


@dataclass(frozen=True, slots=True)
class Attachment:
    """One target (org, team or API key name) and the policy applied to it."""

    target: str
    policy: str
    create_time: datetime


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One org's policies and attachments, as calls read them."""

    policies: dict[str, RoutingPolicy]  # by policy id
    attachments: dict[str, str]  # target name -> policy id
    loaded_at: float


class RoutingPolicies(TenancyStore):
    """An org's named routing policies, and the policy that applies to a call.

    Args:
        database: where policies and attachments are stored.
        ttl: the longest a call may see a policy change made by another
            process, in seconds.
        clock: a monotonic clock in seconds (tests pass their own).
        audit: records every change in the audit log; None records nothing.
    """

    def __init__(
        self,
        database: Database,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        audit: AuditTrail | None = None,
    ) -> None:
        super().__init__(database, audit=audit)
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, _Snapshot] = {}
        self._generation: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # --- the call path ------------------------------------------------------

    async def policy_for(self, call: CallContext, name: str) -> RoutingPolicy:
        """The policy that applies to ``call``.

        Args:
            call: the call; its caller's key, team and org are looked up.
            name: the policy the request names (its id, or its full name in
                the caller's org), or "" for the caller's attached policy.

        Raises:
            InvalidArgument: on ``routing.policy``, when the named policy
                does not exist in the caller's org.
        """
        caller = call.caller
        org_snapshot = await self._snapshot(caller.org_id)
        if name:
            policy_id = _requested_id(name, caller.org_id)
            policy = org_snapshot.policies.get(policy_id)
            if policy is None:
                raise InvalidArgument.for_field(
                    REQUEST_FIELD,
                    f"no routing policy {name!r} in {names.org_name(caller.org_id)}",
                )
            return policy
        for target in _targets_of(caller):
            policy_id = org_snapshot.attachments.get(target, "")
            if policy_id in org_snapshot.policies:
                return org_snapshot.policies[policy_id]
        return RoutingPolicy()

    async def _snapshot(self, org_id: str) -> _Snapshot:
        cached = self._cache.get(org_id)
        if cached is not None and self._clock() - cached.loaded_at < self._ttl:
            return cached
        lock = self._locks.setdefault(org_id, asyncio.Lock())
        async with lock:  # one load per org at a time; the others reuse it
            cached = self._cache.get(org_id)
            if cached is not None and self._clock() - cached.loaded_at < self._ttl:
                return cached
            generation = self._generation.get(org_id, 0)
            loaded = await self._load(org_id)
            if self._generation.get(org_id, 0) == generation:
                self._cache[org_id] = loaded
            return loaded

    async def _load(self, org_id: str) -> _Snapshot:
        started = self._clock()
        async with self.database.sessions() as session:
            rows = await session.scalars(
                select(RoutingPolicyRow).where(col(RoutingPolicyRow.org_id) == org_id)
            )
            policies = {
                row.id: PolicySpec.of_row(row).routing_policy(
                    policy_name(org_id, row.id)
                )
                for row in rows
            }
            links = await session.scalars(
                select(RoutingPolicyAttachmentRow).where(
                    col(RoutingPolicyAttachmentRow.org_id) == org_id
                )
            )
            attachments = {link.target: link.policy_id for link in links}
        logger.debug("loaded %d routing policies of org %s", len(policies), org_id)
        return _Snapshot(policies, attachments, started)

    def _invalidate(self, org_id: str) -> None:
        self._generation[org_id] = self._generation.get(org_id, 0) + 1
        self._cache.pop(org_id, None)

    # --- policies -------------------------------------------------------------

    async def create(
        self, caller: Caller, org_id: str, policy_id: str, spec: PolicySpec
    ) -> StoredPolicy:
        """Store a new policy.

        Raises:
            InvalidArgument: a bad id or setting (every bad field is named).
            AlreadyExists: the org has a policy of that id.
            NotFound: the org does not exist or is not the caller's.
            PermissionDenied: the caller is not an org administrator.
        """
        self.require_org_visible(caller, org_id)
        self.require_org_admin(caller, "routingPolicies.create")
        names.check_id(policy_id, "routing_policy_id")
        check_spec(spec)
        row = RoutingPolicyRow(org_id=org_id, id=policy_id, **spec_values(spec))
        name = policy_name(org_id, policy_id)
        async with self.database.transaction() as session:
            if await session.get(OrgRow, org_id) is None:
                raise NotFound(f"orgs/{org_id} not found")
            if await session.get(RoutingPolicyRow, (org_id, policy_id)) is not None:
                raise AlreadyExists(f"{name} already exists")
            session.add(row)
            self.audit.record(
                session, caller, "routingPolicies.create", name, None, row
            )
        self._invalidate(org_id)
        return StoredPolicy(row, ())

    async def get(self, caller: Caller, org_id: str, policy_id: str) -> StoredPolicy:
        self.require_org_visible(caller, org_id)
        async with self.database.sessions() as session:
            row = await self._row(session, org_id, policy_id)
            return (await self._with_attachments(session, [row]))[0]

    async def list_page(
        self, caller: Caller, org_id: str, page_size: int, page_token: str
    ) -> tuple[list[StoredPolicy], str]:
        """One page of the org's policies by id, and the next page's token."""
        self.require_org_visible(caller, org_id)
        page = page_request(page_size, page_token)
        stmt = select(RoutingPolicyRow).where(col(RoutingPolicyRow.org_id) == org_id)
        async with self.database.sessions() as session:
            rows, token = await self.page(
                session, stmt, RoutingPolicyRow.id, page, lambda r: r.id
            )
            return await self._with_attachments(session, rows), token

    async def update(
        self,
        caller: Caller,
        org_id: str,
        policy_id: str,
        spec: PolicySpec,
        mask: Sequence[str],
        etag: str,
    ) -> StoredPolicy:
        """Change the fields named in ``mask`` (every field when empty).

        Raises:
            InvalidArgument: an unknown mask path or a bad resulting setting.
            EtagMismatch: ``etag`` is stale, or a concurrent update won.
        """
        self.require_org_visible(caller, org_id)
        self.require_org_admin(caller, "routingPolicies.update")
        fields = self.check_update_mask(mask, set(PolicySpec.__dataclass_fields__))
        async with self.database.transaction() as session:
            row = await self._row(session, org_id, policy_id)
            self.check_etag(row.version, etag)
            merged = replace(
                PolicySpec.of_row(row), **{f: getattr(spec, f) for f in fields}
            )
            check_spec(merged)
            before = snapshot(row)
            keys = {"org_id": org_id, "id": policy_id}
            row = await self.save_changes(session, row, keys, spec_values(merged))
            name = policy_name(org_id, policy_id)
            self.audit.record(
                session, caller, "routingPolicies.update", name, before, row
            )
            stored = (await self._with_attachments(session, [row]))[0]
        self._invalidate(org_id)
        return stored

    async def delete(
        self, caller: Caller, org_id: str, policy_id: str, etag: str
    ) -> None:
        """Delete a policy that is attached nowhere.

        Raises:
            FailedPrecondition: the policy is attached; detach it first.
        """
        self.require_org_visible(caller, org_id)
        self.require_org_admin(caller, "routingPolicies.delete")
        name = policy_name(org_id, policy_id)
        async with self.database.transaction() as session:
            row = await self._row(session, org_id, policy_id)
            self.check_etag(row.version, etag)
            stored = (await self._with_attachments(session, [row]))[0]
            if stored.attached_to:
                raise FailedPrecondition(
                    f"{name} is attached to {', '.join(stored.attached_to)}; "
                    "detach it first"
                )
            await session.delete(row)
            self.audit.record(
                session, caller, "routingPolicies.delete", name, row, None
            )
        self._invalidate(org_id)

    # --- attachments ----------------------------------------------------------

    async def attach(
        self, caller: Caller, org_id: str, policy_id: str, target: str
    ) -> Attachment:
        """Make the policy apply to ``target``, replacing its previous one.

        Raises:
            InvalidArgument: ``target`` is not an org, team or key name of
                the policy's org.
            NotFound: the policy or the target does not exist.
            PermissionDenied: the caller may not manage ``target``'s policy.
        """
        self.require_org_visible(caller, org_id)
        kind = _target_kind(target, org_id)
        name = policy_name(org_id, policy_id)
        async with self.database.transaction() as session:
            await self._row(session, org_id, policy_id)
            await self._check_target(session, caller, org_id, kind, target)
            before = await session.get(RoutingPolicyAttachmentRow, (org_id, target))
            now = utcnow()
            await _upsert_attachment(session, org_id, target, policy_id, now)
            self.audit.record(
                session,
                caller,
                "routingPolicies.attach",
                name,
                {"target": target, "previous": _policy_of(before, org_id)},
                {"target": target, "policy": name},
            )
        self._invalidate(org_id)
        return Attachment(target, name, now)

    async def detach(self, caller: Caller, org_id: str, target: str) -> None:
        """Remove the policy attached to ``target``.

        Raises:
            NotFound: no policy is attached to ``target``.
        """
        self.require_org_visible(caller, org_id)
        kind = _target_kind(target, org_id)
        async with self.database.transaction() as session:
            row = await session.get(RoutingPolicyAttachmentRow, (org_id, target))
            if row is None:
                raise NotFound(f"no routing policy is attached to {target}")
            await self._check_target(session, caller, org_id, kind, target)
            await session.execute(
                delete(RoutingPolicyAttachmentRow).where(
                    col(RoutingPolicyAttachmentRow.org_id) == org_id,
                    col(RoutingPolicyAttachmentRow.target) == target,
                )
            )
            name = policy_name(org_id, row.policy_id)
            self.audit.record(
                session,
                caller,
                "routingPolicies.detach",
                name,
                {"target": target, "policy": name},
                None,
            )
        self._invalidate(org_id)

    async def _check_target(
        self,
        session: AsyncSession,
        caller: Caller,
        org_id: str,
        kind: str,
        target: str,
    ) -> None:
        """NOT_FOUND for a missing target; PERMISSION_DENIED for one the
        caller may not manage."""
        team_id: str | None = None
        if kind == "org":
            found = await session.get(OrgRow, org_id) is not None
        elif kind == "team":
            team_id = target.rsplit("/", 1)[1]
            found = await session.get(TeamRow, (org_id, team_id)) is not None
        else:
            _, principal_id, key_id = names.parse(
                target, "target", "orgs", "principals", "keys"
            )
            key = await session.get(ApiKeyRow, (org_id, key_id))
            principal = await session.get(PrincipalRow, (org_id, principal_id))
            found = key is not None and key.principal_id == principal_id
            team_id = principal.team_id if principal is not None else None
        if not found:
            raise NotFound(f"{target} not found")
        if caller.is_org_admin or (team_id and team_id in caller.admin_teams):
            return
        raise PermissionDenied(
            f"routingPolicies.attach on {target} needs the org_admin role, "
            "or team_admin of the team it belongs to"
        )

    # --- reading rows ---------------------------------------------------------

    @staticmethod
    async def _row(
        session: AsyncSession, org_id: str, policy_id: str
    ) -> RoutingPolicyRow:
        row = await session.get(RoutingPolicyRow, (org_id, policy_id))
        if row is None:
            raise NotFound(f"{policy_name(org_id, policy_id)} not found")
        return row

    @staticmethod
    async def _with_attachments(
        session: AsyncSession, rows: Sequence[RoutingPolicyRow]
    ) -> list[StoredPolicy]:
        if not rows:
            return []
        org_id = rows[0].org_id
        links = await session.scalars(
            select(RoutingPolicyAttachmentRow)
            .where(
                col(RoutingPolicyAttachmentRow.org_id) == org_id,
                col(RoutingPolicyAttachmentRow.policy_id).in_([r.id for r in rows]),
            )
            .order_by(col(RoutingPolicyAttachmentRow.target))
        )
        targets: dict[str, list[str]] = {}
        for link in links:
            targets.setdefault(link.policy_id, []).append(link.target)
        return [StoredPolicy(row, tuple(targets.get(row.id, ()))) for row in rows]


def _targets_of(caller: Caller) -> list[str]:
    """The caller's key, team and org names, most specific first."""
    targets = [caller.key_name]
    if caller.team_id:
        targets.append(names.team_name(caller.org_id, caller.team_id))
    targets.append(names.org_name(caller.org_id))
    return targets


def _requested_id(name: str, org_id: str) -> str:
    """The policy id a request names, by id or by full name in ``org_id``."""
    if "/" not in name:
        if not names.ID_PATTERN.fullmatch(name):
            raise InvalidArgument.for_field(
                REQUEST_FIELD, f"{name[:100]!r} is not a routing policy id"
            )
        return name
    named_org, policy_id = names.parse(name, REQUEST_FIELD, "orgs", "routingPolicies")
    if named_org != org_id:
        raise InvalidArgument.for_field(
            REQUEST_FIELD, f"must be a routing policy of orgs/{org_id}"
        )
    return policy_id


def _target_kind(target: str, org_id: str) -> str:
    """``org``, ``team`` or ``key``, for a target name in ``org_id``."""
    shapes = {
        2: ("org", ("orgs",)),
        4: ("team", ("orgs", "teams")),
        6: ("key", ("orgs", "principals", "keys")),
    }
    kind, collections = shapes.get(len(target.split("/")), ("", ()))
    if not kind:
        raise InvalidArgument.for_field(
            "target",
            "expected orgs/{org}, orgs/{org}/teams/{team} or "
            f"orgs/{{org}}/principals/{{principal}}/keys/{{key}}, got {target[:300]!r}",
        )
    ids = names.parse(target, "target", *collections)
    if "-" in ids:
        raise InvalidArgument.for_field("target", "must not contain wildcards")
    if ids[0] != org_id:
        raise InvalidArgument.for_field(
            "target", f"must be in the policy's org, orgs/{org_id}"
        )
    return kind


async def _upsert_attachment(
    session: AsyncSession, org_id: str, target: str, policy_id: str, now: datetime
) -> None:
    """One statement on either database, so concurrent attaches never clash."""
    table = RoutingPolicyAttachmentRow.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    values = {"policy_id": policy_id, "create_time": now}
    statement = insert(table).values(org_id=org_id, target=target, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["org_id", "target"], set_=values
        )
    )


def _policy_of(row: RoutingPolicyAttachmentRow | None, org_id: str) -> str | None:
    return policy_name(org_id, row.policy_id) if row is not None else None
