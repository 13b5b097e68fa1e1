"""``megarouter serve``: run the server."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import typer

from megarouter import workers as workers_module
from megarouter.config import load_settings
from megarouter.errors import ConfigurationError
from megarouter.server import print_bootstrap
from megarouter.server import serve as run_server


def serve(
    listen: str | None = typer.Option(
        None, "--listen", help="HOST:PORT to bind [env MEGAROUTER_LISTEN]."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database URL [env MEGAROUTER_DATABASE_URL]."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="A TOML settings file [env MEGAROUTER_CONFIG]."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Server processes sharing the port; 0: one per CPU "
        "[env MEGAROUTER_WORKERS].",
    ),
    worker: bool = typer.Option(
        False, "--worker", hidden=True, help="Run as one worker of --workers."
    ),
) -> None:
    """Run the MegaRouter gRPC server until SIGTERM or SIGINT."""
    try:
        settings = load_settings(
            config, listen=listen, database_url=database_url, workers=workers
        )
    except ConfigurationError as exc:
        typer.echo(f"megarouter: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    try:
        if worker:
            parent = os.getppid()
            asyncio.run(run_server(settings, reuse_port=True, parent_pid=parent))
        elif settings.worker_count > 1:
            raise typer.Exit(workers_module.run(settings))
        else:
            asyncio.run(run_server(settings, announce=print_bootstrap))
    except ConfigurationError as exc:
        typer.echo(f"megarouter: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Casbin prints its model and Alembic each migration step at INFO.
    for noisy in ("casbin", "alembic"):
        logging.getLogger(noisy).setLevel(
            max(logging.WARNING, logging.getLevelName(level))
        )
