"""API key -> Caller, with a cache that keeps the check off the database."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import col

from megarouter.auth.caller import Caller, Grant
from megarouter.auth.keys import MIN_KEY_LENGTH, KeyHasher
from megarouter.errors import Unauthenticated
from megarouter.store.database import Database
from megarouter.store.tables import ApiKeyRow, PrincipalRow, RoleBindingRow, as_utc

NEGATIVE_TTL = 1.0  # seconds an unknown key's refusal is remembered
MAX_CACHED = 100_000


class Authenticator:
    """Resolves API keys to callers.

    Verified keys are cached for ``ttl`` seconds; the cache is dropped
    whenever the auth epoch moves (a key, principal or role changed
    anywhere), so revocations take effect everywhere within one refresh
    interval. Expiry is checked on every call, cached or not.
    """

    def __init__(
        self,
        database: Database,
        hasher: KeyHasher,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._hasher = hasher
        self._ttl = ttl
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()

    def invalidate(self) -> None:
        self._cache.clear()

    async def authenticate(self, key: str) -> Caller:
        """The caller for ``key``.

        Raises:
            Unauthenticated: the key is unknown, revoked, expired, or its
                principal is disabled.
        """
        if len(key) < MIN_KEY_LENGTH:
            raise Unauthenticated("the API key is malformed")
        key_hash = self._hasher.hash(key)

        now = self._clock()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            caller = cached[1]
        else:
            caller = await self._load(key_hash)
            ttl = self._ttl if caller is not None else NEGATIVE_TTL
            self._remember(key_hash, now + ttl, caller)

        if caller is None:
            raise Unauthenticated("the API key is not valid")
        expire = caller.key_expire_time
        if expire is not None and expire <= datetime.now(UTC):
            raise Unauthenticated("the API key has expired")
        return caller

    def _remember(self, key_hash: str, until: float, caller: Caller | None) -> None:
        self._cache[key_hash] = (until, caller)
        self._cache.move_to_end(key_hash)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)

    async def _load(self, key_hash: str) -> Caller | None:
        async with self._database.sessions() as session:
            row = (
                await session.execute(
                    select(ApiKeyRow, PrincipalRow)
                    .join(
                        PrincipalRow,
                        (col(PrincipalRow.org_id) == ApiKeyRow.org_id)
                        & (col(PrincipalRow.id) == ApiKeyRow.principal_id),
                    )
                    .where(col(ApiKeyRow.key_hash) == key_hash)
                )
            ).first()
            if row is None:
                return None
            key, principal = row
            if key.revoke_time is not None or principal.disabled:
                return None
            grants = (
                await session.execute(
                    select(col(RoleBindingRow.role), col(RoleBindingRow.team_id)).where(
                        col(RoleBindingRow.org_id) == key.org_id,
                        col(RoleBindingRow.principal_id) == key.principal_id,
                    )
                )
            ).all()
        return Caller(
            org_id=key.org_id,
            principal_id=key.principal_id,
            key_id=key.id,
            team_id=principal.team_id,
            grants=tuple(Grant(role, team) for role, team in grants),
            key_expire_time=as_utc(key.expire_time) if key.expire_time else None,
        )
