"""Casbin policies, stored beside the tenancy tables.

Policies live in the ``casbin_rule`` table and are read and written through
the async SQLAlchemy Casbin adapter. ``p`` lines are the built-in roles'
permissions (kept in step with :mod:`megarouter.auth.roles` at start);
``g`` lines grant a role to a principal in an org and are written in the
same transaction as the role binding they mirror.
"""

from __future__ import annotations

import logging
from importlib import resources

import casbin
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from megarouter.auth.roles import policy_lines, role_subject
from megarouter.store.database import Database
from megarouter.store.tables import CasbinRuleRow

logger = logging.getLogger(__name__)

MODEL_FILE = "rbac_model.conf"


def _model_path() -> str:
    return str(resources.files("megarouter.auth") / MODEL_FILE)


def session_adapter(session: AsyncSession) -> Adapter:
    """An adapter that writes inside ``session``'s transaction."""
    return Adapter(session.bind, db_class=CasbinRuleRow, db_session=session)


class PolicyEnforcer:
    """An in-memory Casbin enforcer loaded from the database.

    ``allows`` is synchronous and in memory; ``reload`` re-reads every
    policy line and is called when this or another process changed them.
    """

    def __init__(self, database: Database) -> None:
        adapter = Adapter(database.engine, db_class=CasbinRuleRow)
        self._enforcer = casbin.AsyncEnforcer(_model_path(), adapter)
        # Casbin evaluates its matcher expression on every enforce(); the
        # answers only change when policies reload, so they are remembered.
        self._decisions: dict[tuple[str, str, str, str], bool] = {}

    async def reload(self) -> None:
        await self._enforcer.load_policy()
        self._decisions = {}

    def allows(self, subject: str, org: str, obj: str, action: str) -> bool:
        key = (subject, org, obj, action)
        decision = self._decisions.get(key)
        if decision is None:
            decision = bool(self._enforcer.enforce(subject, org, obj, action))
            if len(self._decisions) > 100_000:  # bound memory; rebuilt lazily
                self._decisions = {}
            self._decisions[key] = decision
        return decision


async def sync_builtin_policies(session: AsyncSession) -> bool:
    """Make the stored ``p`` lines equal the built-in roles; True if changed."""
    wanted = {tuple(line) for line in policy_lines()}
    rows = (
        await session.execute(
            select(CasbinRuleRow).where(col(CasbinRuleRow.ptype) == "p")
        )
    ).scalars()
    stored = {(r.v0, r.v1, r.v2, r.v3): r for r in rows}
    stale = [row for key, row in stored.items() if key not in wanted]
    missing = [list(line) for line in wanted if line not in stored]
    if not stale and not missing:
        return False

    for row in stale:
        await session.delete(row)
    if missing:
        await session_adapter(session).add_policies("p", "p", sorted(missing))
    logger.info(
        "built-in role policies updated: %d added, %d removed", len(missing), len(stale)
    )
    return True


async def grant(session: AsyncSession, subject: str, role: str, org: str) -> None:
    """Add the ``g`` line granting ``role`` to ``subject`` in ``org``."""
    line = [subject, role_subject(role), org]
    exists = await session.scalar(
        select(col(CasbinRuleRow.id)).where(
            col(CasbinRuleRow.ptype) == "g",
            col(CasbinRuleRow.v0) == line[0],
            col(CasbinRuleRow.v1) == line[1],
            col(CasbinRuleRow.v2) == line[2],
        )
    )
    if exists is None:
        await session_adapter(session).add_policy("g", "g", line)


async def revoke(session: AsyncSession, subject: str, role: str, org: str) -> None:
    """Remove the ``g`` line granting ``role`` to ``subject`` in ``org``."""
    await session_adapter(session).remove_policy(
        "g", "g", [subject, role_subject(role), org]
    )


async def revoke_all(session: AsyncSession, subject: str) -> None:
    """Remove every grant of ``subject`` (when a principal is deleted)."""
    await session.execute(
        delete(CasbinRuleRow).where(
            col(CasbinRuleRow.ptype) == "g", col(CasbinRuleRow.v0) == subject
        )
    )
