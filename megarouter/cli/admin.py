"""``megarouter admin ...``: administer over gRPC (being written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Administer orgs, teams, principals, keys and roles.")
