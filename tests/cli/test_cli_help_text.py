"""Help text reaches the terminal whole.

Typer renders help through rich, which reads ``[word ...]`` as a markup tag
and drops it: "[env MEGAROUTER_LISTEN]" once vanished from `serve --help`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from rich.markup import render

from megarouter.cli.main import app


def _texts(command: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every help text of a command tree, with where it was found."""
    for text in (command.help, command.short_help, command.epilog):
        if text:
            yield path, text
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            yield f"{path} {param.name}", text
    if hasattr(command, "list_commands"):  # a group (typer vendors click)
        context = command.context_class(command, info_name=path)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, f"{path} {name}"
            yield from _texts(sub, f"{path} {name}")


def test_no_help_text_loses_words_to_rich_markup() -> None:
    root = typer.main.get_command(app)
    eaten = [
        (where, text)
        for where, text in _texts(root, "megarouter")
        if render(text).plain != text
    ]
    assert eaten == []


def test_every_command_and_option_is_walked() -> None:
    found = dict(_texts(typer.main.get_command(app), "megarouter"))
    assert "megarouter serve listen" in found
    assert "megarouter admin budgets list org" in found
