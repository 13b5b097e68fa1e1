"""How ``megarouter admin`` shows things: rich tables for people, JSON for scripts.

JSON mirrors the API: resources as protobuf JSON with the proto field names
and every field present, lists under the response's field name (``teams``,
``api_keys``, ...). Tables show the same resources with enums and times made
readable. Errors are one line on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table

from megarouter.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from megarouter.client import MegaRouterRpcError

Cell = Callable[[Any], str]
Column = tuple[str, Cell]


def as_dict(message: Message) -> dict[str, Any]:
    """The protobuf JSON of ``message``, with proto field names."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def show_list(
    items: Iterable[Message],
    columns: Sequence[Column],
    *,
    key: str,
    title: str,
    as_json: bool,
    within: str = "",
) -> None:
    """Print every item: one table row each, or ``{key: [...]}`` as JSON.

    Args:
        items: The resources.
        columns: The table's headers and cells; the first is the name.
        key: The JSON field the list goes in, as in the List response.
        title: The table's title.
        as_json: Print JSON instead of a table.
        within: A collection such as ``orgs/acme/teams``; the table shows
            names relative to it (``ml``), which commands accept back.
    """
    if as_json:
        print_json({key: [as_dict(item) for item in items]})
        return
    table = Table(*(header for header, _ in columns), title=title)
    for column in table.columns:
        column.overflow = "fold"  # never cut a resource name
    prefix = f"{within}/" if within else ""
    for item in items:
        name, *cells = (cell(item) for _, cell in columns)
        table.add_row(name.removeprefix(prefix), *cells)
    Console().print(table)


def show_one(message: Message, fields: Sequence[Column], *, as_json: bool) -> None:
    """Print one resource: a two-column table of its fields, or its JSON."""
    if as_json:
        print_json(as_dict(message))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, cell in fields:
        table.add_row(label, cell(message))
    Console().print(table)


def show_done(text: str, data: dict[str, Any], *, as_json: bool) -> None:
    """Say that something was done, or print ``data`` as JSON."""
    if as_json:
        print_json(data)
    else:
        typer.echo(text)


def report_error(error: MegaRouterRpcError, target: str) -> None:
    """One line on stderr: the code, the message, and any field violations."""
    line = f"error: {error.code.name}: {error.message}"
    violations = [
        f"{v.field}: {v.description}"
        for v in error.field_violations
        if f"{v.field}: {v.description}" not in error.message
    ]
    if violations:
        line += " [" + "; ".join(violations) + "]"
    if error.attempts:
        tried = [f"{a.provider}/{a.model}: {a.error}" for a in error.attempts]
        line += " [attempts: " + "; ".join(tried) + "]"
    if error.retry_delay is not None:
        line += f" (retry in {error.retry_delay:.3g}s)"
    if error.code.name == "UNAUTHENTICATED":
        line += " (check --key or MEGAROUTER_API_KEY)"
    elif (
        error.code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
        and not error.reason
        and not error.attempts  # the server answered: its providers failed
    ):
        line += f" (is MegaRouter running at {target}? see --target)"
    typer.echo(line, err=True)


# --- cells --------------------------------------------------------------------


def when(stamp: Timestamp) -> str:
    """``2026-12-03 17:40:12 UTC``, or "-" for an unset time."""
    if not stamp.seconds and not stamp.nanos:
        return "-"
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC")


def kind_label(kind: int) -> str:
    """``user`` or ``service-account``, as the CLI spells kinds."""
    name = pb.PrincipalKind.Name(kind)  # type: ignore[arg-type]
    return name.removeprefix("PRINCIPAL_KIND_").lower().replace("_", "-")


def state_label(state: int) -> str:
    name = pb.ApiKeyState.Name(state)  # type: ignore[arg-type]
    return name.removeprefix("API_KEY_STATE_").lower()


def text(value: str) -> str:
    return value or "-"


def last_segment(name: str) -> str:
    """The id at the end of a resource name; "-" for none."""
    return name.rsplit("/", 1)[-1] or "-"


ORG_COLUMNS: list[Column] = [
    ("Name", lambda o: o.name),
    ("Display name", lambda o: text(o.display_name)),
    ("Time zone", lambda o: text(o.time_zone)),
    ("Created", lambda o: when(o.create_time)),
]
ORG_FIELDS = [*ORG_COLUMNS, ("Updated", lambda o: when(o.update_time))]

TEAM_COLUMNS: list[Column] = [
    ("Name", lambda t: t.name),
    ("Display name", lambda t: text(t.display_name)),
    ("Description", lambda t: text(t.description)),
]
TEAM_FIELDS = [
    *TEAM_COLUMNS,
    ("Created", lambda t: when(t.create_time)),
    ("Updated", lambda t: when(t.update_time)),
]

PRINCIPAL_COLUMNS: list[Column] = [
    ("Name", lambda p: p.name),
    ("Kind", lambda p: kind_label(p.kind)),
    ("Display name", lambda p: text(p.display_name)),
    ("Email", lambda p: text(p.email)),
    ("Team", lambda p: last_segment(p.team)),
    ("Disabled", lambda p: "yes" if p.disabled else "no"),
]
PRINCIPAL_FIELDS = [
    *PRINCIPAL_COLUMNS[:4],
    ("Team", lambda p: text(p.team)),
    PRINCIPAL_COLUMNS[5],
    ("Created", lambda p: when(p.create_time)),
    ("Updated", lambda p: when(p.update_time)),
]

KEY_COLUMNS: list[Column] = [
    ("Name", lambda k: k.name),
    ("Display name", lambda k: text(k.display_name)),
    ("Prefix", lambda k: k.prefix),
    ("State", lambda k: state_label(k.state)),
    (
        "Expires",
        lambda k: when(k.expire_time) if k.HasField("expire_time") else "never",
    ),
    ("Created", lambda k: when(k.create_time)),
]
KEY_FIELDS = [*KEY_COLUMNS, ("Revoked", lambda k: when(k.revoke_time))]

BINDING_COLUMNS: list[Column] = [
    ("Name", lambda b: b.name),
    ("Principal", lambda b: last_segment(b.principal)),
    ("Role", lambda b: b.role),
    ("Team", lambda b: last_segment(b.team) if b.team else "(whole org)"),
    ("Created", lambda b: when(b.create_time)),
]

BINDING_FIELDS: list[Column] = [
    ("Name", lambda b: b.name),
    ("Principal", lambda b: b.principal),
    ("Role", lambda b: b.role),
    ("Team", lambda b: b.team or "(whole org)"),
    ("Created", lambda b: when(b.create_time)),
]

ROLE_COLUMNS: list[Column] = [
    ("Role", lambda r: r.name),
    ("Description", lambda r: r.description),
    ("Permissions", lambda r: ", ".join(r.permissions)),
]


def role_of(binding: pb.RoleBinding) -> str:
    """``developer``, or ``team_admin (ml)`` for a role limited to a team."""
    if binding.team:
        return f"{binding.role} ({last_segment(binding.team)})"
    return binding.role


CALLER_FIELDS: list[Column] = [
    ("Principal", lambda c: c.principal.name),
    ("Kind", lambda c: kind_label(c.principal.kind)),
    ("Display name", lambda c: text(c.principal.display_name)),
    ("Org", lambda c: c.org),
    ("Team", lambda c: text(c.principal.team)),
    ("Roles", lambda c: ", ".join(role_of(b) for b in c.role_bindings) or "none"),
    ("API key", lambda c: c.api_key),
]


def show_new_key(key: pb.ApiKey, secret: str, *, as_json: bool) -> None:
    """Print a new key's metadata and, this once, its secret."""
    if as_json:
        print_json({"api_key": as_dict(key), "secret": secret})
        return
    typer.echo(f"Created API key {key.name} (prefix {key.prefix}).")
    if not secret:  # an idempotent retry: the secret was shown before
        typer.echo("This request id was used before; its secret was shown then.")
        return
    typer.echo("Its secret is shown only now; MegaRouter cannot show it again:")
    typer.echo("")
    typer.echo(f"    {secret}")
    typer.echo("")
    typer.echo(
        "Send it as 'authorization: Bearer <secret>', or set MEGAROUTER_API_KEY."
    )
