"""First start: the built-in policies, and an admin on an empty database."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from megarouter.auth import policy
from megarouter.auth.epoch import bump_epoch, ensure_epoch_row
from megarouter.auth.keys import KeyHasher, mint_key, new_key_id, visible_prefix
from megarouter.store.database import Database
from megarouter.store.tables import (
    ApiKeyRow,
    OrgRow,
    PrincipalRow,
    RoleBindingRow,
)
from megarouter.tenancy import names
from megarouter.tenancy.bindings import new_binding_id

logger = logging.getLogger(__name__)

ADMIN_PRINCIPAL = "admin"
ADMIN_ROLES = ("platform_admin", "org_admin")


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    org_id: str
    principal: str
    secret: str  # the admin key, to show once; "" when it came from settings


async def prepare(database: Database) -> None:
    """Make sure the epoch row and the built-in role policies are in place."""
    try:
        async with database.transaction() as session:
            await ensure_epoch_row(session)
            if await policy.sync_builtin_policies(session):
                await bump_epoch(session)
    except IntegrityError:  # another process prepared it at the same moment
        logger.info("another process prepared the database first")


async def bootstrap(
    database: Database, hasher: KeyHasher, org_id: str, given_key: str | None
) -> BootstrapResult | None:
    """Create the bootstrap org, admin and key if there is no org yet.

    Returns:
        What was created, or None when the database already had an org.
    """
    names.check_id(org_id, "bootstrap_org")
    secret = given_key or mint_key()
    try:
        async with database.transaction() as session:
            if await session.scalar(select(func.count()).select_from(OrgRow)):
                return None
            session.add(OrgRow(id=org_id, display_name="Bootstrap org"))
            await session.flush()
            session.add(
                PrincipalRow(
                    org_id=org_id,
                    id=ADMIN_PRINCIPAL,
                    kind="service_account",
                    display_name="Bootstrap administrator",
                )
            )
            await session.flush()
            subject = names.principal_name(org_id, ADMIN_PRINCIPAL)
            for role in ADMIN_ROLES:
                session.add(
                    RoleBindingRow(
                        org_id=org_id,
                        id=new_binding_id(),
                        principal_id=ADMIN_PRINCIPAL,
                        role=role,
                    )
                )
                await policy.grant(session, subject, role, org_id)
            session.add(
                ApiKeyRow(
                    org_id=org_id,
                    id=new_key_id(),
                    principal_id=ADMIN_PRINCIPAL,
                    display_name="bootstrap",
                    prefix=visible_prefix(secret),
                    key_hash=hasher.hash(secret),
                )
            )
            await bump_epoch(session)
    except IntegrityError:  # another process bootstrapped at the same moment
        return None
    logger.info("bootstrapped org %s with principal %s", org_id, ADMIN_PRINCIPAL)
    return BootstrapResult(
        org_id,
        names.principal_name(org_id, ADMIN_PRINCIPAL),
        "" if given_key else secret,
    )
