"""``megarouter serve``: run the server."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from megarouter.errors import ConfigurationError

if TYPE_CHECKING:
    from megarouter.config import Settings


def serve(
    listen: str | None = typer.Option(
        None, "--listen", help="HOST:PORT to bind (env MEGAROUTER_LISTEN)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database URL (env MEGAROUTER_DATABASE_URL)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="A TOML settings file (env MEGAROUTER_CONFIG)."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Server processes sharing the port; 0: one per CPU "
        "(env MEGAROUTER_WORKERS).",
    ),
    worker: bool = typer.Option(
        False, "--worker", hidden=True, help="Run as one worker of --workers."
    ),
) -> None:
    """Run the MegaRouter gRPC server until SIGTERM or SIGINT."""
    from megarouter.config import load_settings

    try:
        settings = load_settings(
            config, listen=listen, database_url=database_url, workers=workers
        )
    except ConfigurationError as exc:
        typer.echo(f"megarouter: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    try:
        if not worker and settings.worker_count > 1:
            # The supervisor imports no server module: it only starts workers.
            from megarouter import workers as workers_module

            raise typer.Exit(workers_module.run(settings, config_file=config))
        run_server(settings, worker)
    except ConfigurationError as exc:
        typer.echo(f"megarouter: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


def run_server(settings: Settings, worker: bool) -> None:
    """Serve in this process: alone, or as one worker of a supervisor."""
    from megarouter import server

    if worker:
        parent = os.getppid()
        asyncio.run(server.serve(settings, reuse_port=True, parent_pid=parent))
    else:
        asyncio.run(server.serve(settings, announce=server.print_bootstrap))


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
