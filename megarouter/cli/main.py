"""The ``megarouter`` command."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="megarouter",
    help="One gRPC endpoint in front of every LLM provider.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _register_subcommands() -> None:
    # Each area owns one module with a typer app; importing them here keeps
    # `megarouter --help` listing every command. So that it stays quick, those
    # modules import grpc, the store, numpy and the server inside their
    # commands (tests/cli/test_cli_imports.py checks).
    from megarouter.cli import admin, db, router, serve

    app.command("serve")(serve.serve)
    app.add_typer(db.app, name="db")
    app.add_typer(admin.app, name="admin")
    app.add_typer(router.app, name="router")

    from megarouter.cli import plugins

    app.add_typer(plugins.app, name="plugins")
    app.add_typer(
        plugins.models_app,
        name="models",
        help="The model catalog: installed here, or open to your key on a server.",
    )

    from megarouter.cli import chat

    app.command("route")(chat.route)
    app.command("complete")(chat.complete)
    plugins.models_app.command("available")(chat.available_models)


_register_subcommands()
