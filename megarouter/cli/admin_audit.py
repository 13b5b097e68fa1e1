"""``megarouter admin audit list``: who changed what in an org, newest first.

Registered on the ``admin`` app (see the last line of
:mod:`megarouter.cli.admin`), so it shares its ``--target`` and ``--key``
options and its error reporting. Options become the server's filter:
``--action teams.*`` matches every team change, ``--actor`` takes a
principal or key (an id inside the org, or a full name), and ``--since`` and
``--until`` take ISO 8601 times or durations back from now (``24h``, ``7d``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Annotated

import typer

from megarouter.cli import output
from megarouter.cli.admin import app
from megarouter.cli.admin_session import AdminSession, quoted, session_of
from megarouter.cli.calls import follow_pages
from megarouter.tenancy.listing import MAX_PAGE_SIZE
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import audit_pb2

audit_app = typer.Typer(help="The org's audit log of changes.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The org, ID or orgs/ID (default: the caller's)."),
]

_AGO = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

AUDIT_COLUMNS: list[output.Column] = [
    ("Time", lambda e: output.when(e.time)),
    ("Actor", lambda e: output.last_segment(e.actor)),
    ("Action", lambda e: e.action),
    ("Resource", lambda e: e.resource),
    ("Request id", lambda e: output.text(e.request_id)),
]


def parse_when(value: str, option: str, now: datetime) -> datetime:
    """``24h``, ``7d``, ``30m`` before ``now``, or an ISO 8601 time (UTC if
    it names no zone)."""
    match = _AGO.fullmatch(value.strip())
    if match:
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            "expected an ISO 8601 time such as 2026-01-31T00:00:00Z, "
            "or a duration back from now such as 24h, 7d or 30m",
            param_hint=option,
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def actor_name(session: AdminSession, actor: str, org: str | None) -> str:
    """A principal's or key's full name from what the user typed."""
    if actor.startswith("orgs/"):
        return actor
    return f"{session.org(org)}/principals/{actor}"


def audit_filter(
    session: AdminSession,
    org: str | None,
    *,
    action: str | None,
    actor: str | None,
    resource: str | None,
    since: str | None,
    until: str | None,
) -> str:
    """The server-side filter the options describe."""
    now = datetime.now(UTC)
    clauses = []
    if action:
        clauses.append(f"action = {quoted(action)}")
    if actor:
        clauses.append(f"actor = {quoted(actor_name(session, actor, org))}")
    if resource:
        clauses.append(f"resource = {quoted(resource)}")
    if since:
        clauses.append(f'time >= "{parse_when(since, "--since", now).isoformat()}"')
    if until:
        clauses.append(f'time < "{parse_when(until, "--until", now).isoformat()}"')
    return " AND ".join(clauses)


def events(
    session: AdminSession, org: str, filter_text: str, limit: int
) -> Iterator[audit_pb2.AuditEvent]:
    """The first ``limit`` entries the filter keeps, newest first."""

    def fetch(token: str) -> tuple[Sequence[audit_pb2.AuditEvent], str]:
        request = api.ListAuditEventsRequest(
            parent=org,
            filter=filter_text,
            page_size=min(limit, MAX_PAGE_SIZE),
            page_token=token,
        )
        response = session.client.admin.ListAuditEvents(request)
        return response.audit_events, response.next_page_token

    return islice(follow_pages(fetch), limit)


@audit_app.command("list")
def list_events(
    ctx: typer.Context,
    action: Annotated[
        str | None,
        typer.Option("--action", help="teams.create, or teams.* for every kind."),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="A principal or key: its ID or full name."),
    ] = None,
    resource: Annotated[
        str | None,
        typer.Option("--resource", help="A resource name; a trailing * matches more."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO 8601 time, or 24h, 7d ago.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="ISO 8601 time, or 1h, 2d ago.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many entries.")
    ] = 100,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the org's changes, newest first: who, what, which resource."""
    session = session_of(ctx)
    filter_text = audit_filter(
        session,
        org,
        action=action,
        actor=actor,
        resource=resource,
        since=since,
        until=until,
    )
    found = events(session, session.org(org), filter_text, limit)
    output.show_list(
        found,
        AUDIT_COLUMNS,
        key="audit_events",
        title="Audit log",
        as_json=as_json,
    )
