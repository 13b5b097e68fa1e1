"""``megarouter db ...``: schema migrations and stored-data housekeeping."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from megarouter.errors import ConfigurationError

# The store and the settings import sqlalchemy and pydantic: each command
# imports them when it runs, so that `megarouter --help` need not.

app = typer.Typer(help="Database schema and stored prompts.", no_args_is_help=True)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm])\s*$")
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("heads", help="Target revision."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database URL (env MEGAROUTER_DATABASE_URL)."
    ),
    config: Path | None = typer.Option(None, "--config", help="A TOML settings file."),
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from megarouter.store import migrations

    url = _database_url(database_url, config)
    migrations.upgrade(url, revision)
    typer.echo(f"database upgraded to {revision}")


@app.command("prune-prompts")
def prune_prompts(
    older_than: str = typer.Option(
        ...,
        "--older-than",
        help="Delete prompt samples older than this: 30d, 12h, 90m; 0d deletes all.",
    ),
    org: str | None = typer.Option(None, "--org", help="Only this org's samples."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database URL (env MEGAROUTER_DATABASE_URL)."
    ),
    config: Path | None = typer.Option(None, "--config", help="A TOML settings file."),
) -> None:
    """Delete stored prompt samples (servers also do so after the retention)."""
    match = _AGE.match(older_than)
    if match is None:
        raise typer.BadParameter(
            "expected a number and a unit, such as 30d, 12h or 90m",
            param_hint="--older-than",
        )
    age = timedelta(**{_AGE_UNITS[match.group(2)]: float(match.group(1))})
    before = datetime.now(UTC) - age
    url = _database_url(database_url, config)
    deleted = asyncio.run(_prune(url, before, org))
    typer.echo(
        f"deleted {deleted} prompt samples taken before {before:%Y-%m-%d %H:%M} UTC"
    )


async def _prune(url: str, before: datetime, org: str | None) -> int:
    from megarouter.routing.prompt_samples import prune_prompt_samples
    from megarouter.store import migrations
    from megarouter.store.database import Database

    database = Database(url)
    try:
        await migrations.require_current(database)
        return await prune_prompt_samples(database, before, org)
    except ConfigurationError as exc:
        typer.echo(f"megarouter: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        await database.dispose()


def _database_url(database_url: str | None, config: Path | None) -> str:
    from megarouter.config import load_settings

    try:
        settings = load_settings(config, database_url=database_url)
    except ConfigurationError as exc:
        typer.echo(f"megarouter: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings.effective_database_url
