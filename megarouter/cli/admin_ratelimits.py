"""``megarouter admin ratelimits ...``: requests and tokens per minute.

Registered on the ``admin`` app (see the last lines of
:mod:`megarouter.cli.admin`). A rate limit targets a team (``--team ml``)
or an API key (``--key-id k1a2``, or ``bot/keys/k1a2``); ``0`` or ``none``
as an amount means no limit of that kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from google.protobuf import field_mask_pb2

from megarouter.cli import output
from megarouter.cli.admin import app
from megarouter.cli.admin_session import AdminSession, fail, session_of
from megarouter.cli.calls import follow_pages, translated
from megarouter.v1 import governance_pb2 as gov

if TYPE_CHECKING:
    from megarouter.v1 import admin_service_pb2_grpc as api_grpc

ratelimits_app = typer.Typer(
    help="Requests and tokens per minute for teams and API keys.",
    no_args_is_help=True,
)
app.add_typer(ratelimits_app, name="ratelimits")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The org, ID or orgs/ID (default: the caller's)."),
]
EtagOption = Annotated[
    str, typer.Option("--etag", help="Act only if the rate limit is at this etag.")
]
LimitArgument = Annotated[str, typer.Argument(help="The rate limit's ID or name.")]
RpmOption = Annotated[
    str | None,
    typer.Option("--rpm", help="Requests per minute (0 or none: no limit)."),
]
TpmOption = Annotated[
    str | None,
    typer.Option("--tpm", help="Tokens per minute (0 or none: no limit)."),
]


def per_minute(value: str, option: str) -> int:
    """A whole amount per minute; 0 for ``none``."""
    text = value.strip().replace(",", "").replace("_", "")
    if text.lower() == "none":
        return 0
    if not text.isdigit():
        fail(f"{option}: {value!r} is not a whole number (or none)", 2)
    return int(text)


def limit_label(amount: int) -> str:
    return f"{amount:,}" if amount else "none"


RATE_LIMIT_COLUMNS: list[output.Column] = [
    ("Name", lambda r: r.name),
    ("Target", lambda r: r.target),
    ("Requests/min", lambda r: limit_label(r.requests_per_minute)),
    ("Tokens/min", lambda r: limit_label(r.tokens_per_minute)),
    ("Etag", lambda r: r.etag),
]


def stub(session: AdminSession) -> api_grpc.AdminServiceStub:
    return session.client.admin


def target_name(
    session: AdminSession, team: str | None, key: str | None, org: str | None
) -> str:
    """The target's full name from ``--team`` or ``--key-id``."""
    if (team is None) == (key is None):
        fail("name exactly one target: --team TEAM or --key-id KEY", 2)
    if team is not None:
        return session.name(team, "teams", org)
    assert key is not None
    return session.key_name(key, org)


@ratelimits_app.command("list")
def list_rate_limits(
    ctx: typer.Context, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """List the org's rate limits."""
    session = session_of(ctx)
    parent = session.org(org)

    def fetch(token: str) -> tuple[list[gov.RateLimit], str]:
        request = gov.ListRateLimitsRequest(parent=parent, page_token=token)
        response = stub(session).ListRateLimits(request)
        return list(response.rate_limits), response.next_page_token

    output.show_list(
        follow_pages(fetch),
        RATE_LIMIT_COLUMNS,
        key="rate_limits",
        title="Rate limits",
        as_json=as_json,
        within=f"{parent}/rateLimits",
    )


@ratelimits_app.command("create")
def create_rate_limit(
    ctx: typer.Context,
    limit_id: Annotated[str, typer.Argument(help="The new rate limit's ID.")],
    team: Annotated[
        str | None, typer.Option("--team", help="Limit every key of this team.")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key-id", help="Limit this API key.")
    ] = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Limit a team or an API key to requests and tokens per minute."""
    session = session_of(ctx)
    wanted = gov.RateLimit(
        target=target_name(session, team, key, org),
        requests_per_minute=per_minute(rpm, "--rpm") if rpm else 0,
        tokens_per_minute=per_minute(tpm, "--tpm") if tpm else 0,
    )
    if not (wanted.requests_per_minute or wanted.tokens_per_minute):
        fail("pass --rpm, --tpm or both", 2)
    request = gov.CreateRateLimitRequest(
        parent=session.org(org), rate_limit_id=limit_id, rate_limit=wanted
    )
    with translated():
        created = stub(session).CreateRateLimit(request).rate_limit
    output.show_one(created, RATE_LIMIT_COLUMNS, as_json=as_json)


@ratelimits_app.command("get")
def get_rate_limit(
    ctx: typer.Context,
    limit: LimitArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one rate limit."""
    session = session_of(ctx)
    request = gov.GetRateLimitRequest(name=session.name(limit, "rateLimits", org))
    with translated():
        found = stub(session).GetRateLimit(request).rate_limit
    output.show_one(found, RATE_LIMIT_COLUMNS, as_json=as_json)


@ratelimits_app.command("update")
def update_rate_limit(
    ctx: typer.Context,
    limit: LimitArgument,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    etag: EtagOption = "",
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a rate limit's requests or tokens per minute."""
    session = session_of(ctx)
    wanted = gov.RateLimit(name=session.name(limit, "rateLimits", org), etag=etag)
    paths = []
    if rpm is not None:
        wanted.requests_per_minute = per_minute(rpm, "--rpm")
        paths.append("requests_per_minute")
    if tpm is not None:
        wanted.tokens_per_minute = per_minute(tpm, "--tpm")
        paths.append("tokens_per_minute")
    if not paths:
        fail("nothing to change: pass --rpm, --tpm or both", 2)
    request = gov.UpdateRateLimitRequest(
        rate_limit=wanted, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    with translated():
        updated = stub(session).UpdateRateLimit(request).rate_limit
    output.show_one(updated, RATE_LIMIT_COLUMNS, as_json=as_json)


@ratelimits_app.command("delete")
def delete_rate_limit(
    ctx: typer.Context,
    limit: LimitArgument,
    etag: EtagOption = "",
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a rate limit."""
    session = session_of(ctx)
    name = session.name(limit, "rateLimits", org)
    with translated():
        stub(session).DeleteRateLimit(gov.DeleteRateLimitRequest(name=name, etag=etag))
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)
