"""Alembic migrations, run from code so no alembic.ini is needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from megarouter.errors import ConfigurationError
from megarouter.store.database import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    # env.py runs its own event loop, so run it on a worker thread.
    await asyncio.to_thread(upgrade, url, revision)


async def require_current(database: Database) -> None:
    """Fail clearly when the database schema is not the code's.

    Raises:
        ConfigurationError: the database is unreachable or not migrated.
    """
    script = ScriptDirectory.from_config(alembic_config(database.url))
    heads = set(script.get_heads())
    try:
        async with database.engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: set(MigrationContext.configure(sync).get_current_heads())
            )
    except (OSError, SQLAlchemyError) as exc:
        raise ConfigurationError(
            f"cannot open the database: {type(exc).__name__}: {exc}"
        ) from None
    if current != heads:
        have = ", ".join(sorted(current)) or "none"
        raise ConfigurationError(
            f"the database schema is at revision {have} but this version needs "
            f"{', '.join(sorted(heads))}: run `megarouter db upgrade`"
        )
