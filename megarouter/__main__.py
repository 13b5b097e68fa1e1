"""``python -m megarouter`` runs the command line."""

from megarouter.cli.main import app

app()
