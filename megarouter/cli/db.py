"""``megarouter db ...``: schema migrations."""

from __future__ import annotations

from pathlib import Path

import typer

from megarouter.config import load_settings
from megarouter.errors import ConfigurationError
from megarouter.store import migrations

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("heads", help="Target revision."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database URL [env MEGAROUTER_DATABASE_URL]."
    ),
    config: Path | None = typer.Option(None, "--config", help="A TOML settings file."),
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    try:
        settings = load_settings(config, database_url=database_url)
    except ConfigurationError as exc:
        typer.echo(f"megarouter: {exc}", err=True)
        raise typer.Exit(2) from None
    migrations.upgrade(settings.effective_database_url, revision)
    typer.echo(f"database upgraded to {revision}")
