"""Alembic environment: runs migrations over the async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

# Imported for their side effect: each registers its tables.
import megarouter.store.audit_tables
import megarouter.store.budget_tables
import megarouter.store.feedback_tables
import megarouter.store.policy_tables
import megarouter.store.prompt_sample_tables
import megarouter.store.provider_tables
import megarouter.store.ratelimit_config_tables
import megarouter.store.ratelimit_tables
import megarouter.store.tables
import megarouter.store.usage_tables  # noqa: F401
from megarouter.store.database import create_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; give a database URL")
asyncio.run(_run_async())
