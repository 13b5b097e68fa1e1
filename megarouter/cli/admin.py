"""``megarouter admin ...``: orgs, teams, principals, keys and roles over gRPC.

Every command talks to a running server through :class:`MegaRouterClient`
with the key from ``--key`` or ``MEGAROUTER_API_KEY``. Resources may be
named in full (``orgs/acme/teams/ml``) or, inside one org, by their id
(``ml``); the org is ``--org`` or else the caller's own. Every command
prints a table, or JSON with ``--json``. Failures print one line on stderr
and exit 1 (2 for usage errors, such as a missing key).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from megarouter.cli import output
from megarouter.cli.admin_session import (
    ALL_PRINCIPALS,
    API_KEY_ENV,
    DEFAULT_TARGET,
    TARGET_ENV,
    AdminSession,
    fail,
    org_name,
    parse_expiry,
    quoted,
    session_of,
)
from megarouter.v1 import resources_pb2 as pb


class AdminGroup(TyperGroup):
    """Turns failed calls into one line on stderr and a non-zero exit."""

    # Any: typer vendors click, and its Context type is not public.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            session = ctx.find_object(AdminSession)
            if session is None or not session.connected:
                raise  # no call was made; --help and usage errors end here
            from megarouter.client import MegaRouterRpcError

            if not isinstance(error, MegaRouterRpcError):
                raise
            output.report_error(error, session.target)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=AdminGroup,
    help="Administer orgs, teams, principals, keys and roles.",
    no_args_is_help=True,
)
orgs_app = typer.Typer(help="Orgs (platform admins).", no_args_is_help=True)
teams_app = typer.Typer(help="Teams of an org.", no_args_is_help=True)
principals_app = typer.Typer(help="Users and service accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of principals.", no_args_is_help=True)
roles_app = typer.Typer(help="The built-in roles.", no_args_is_help=True)
bindings_app = typer.Typer(help="Who holds which role.", no_args_is_help=True)
for _name, _group in [
    ("orgs", orgs_app),
    ("teams", teams_app),
    ("principals", principals_app),
    ("keys", keys_app),
    ("roles", roles_app),
    ("bindings", bindings_app),
]:
    app.add_typer(_group, name=_name)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The org, ID or orgs/ID (default: the caller's)."),
]
DisplayName = Annotated[str | None, typer.Option("--display-name")]


class Kind(enum.StrEnum):
    USER = "user"
    SERVICE_ACCOUNT = "service-account"

    @property
    def pb(self) -> pb.PrincipalKind.ValueType:
        if self is Kind.USER:
            return pb.PRINCIPAL_KIND_USER
        return pb.PRINCIPAL_KIND_SERVICE_ACCOUNT


class KeyState(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@app.callback()
def admin(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Option("--target", envvar=TARGET_ENV, help="HOST:PORT of MegaRouter."),
    ] = DEFAULT_TARGET,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", envvar=API_KEY_ENV, show_default=False, help="An API key."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds each call may take.")
    ] = 30.0,
) -> None:
    """Administer MegaRouter over gRPC: orgs, teams, principals, keys, roles."""
    session = AdminSession(target, key, timeout)
    ctx.obj = session
    ctx.call_on_close(session.close)


@app.command("whoami")
def whoami(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the caller: principal, org, roles and key."""
    caller = session_of(ctx).client.get_caller()
    output.show_one(caller, output.CALLER_FIELDS, as_json=as_json)


# --- orgs ---------------------------------------------------------------------


@orgs_app.command("list")
def list_orgs(
    ctx: typer.Context,
    filter: Annotated[str, typer.Option("--filter", help='display_name = "x"')] = "",
    as_json: JsonOption = False,
) -> None:
    """List the orgs the caller may see."""
    orgs = session_of(ctx).client.list_orgs(filter=filter)
    output.show_list(
        orgs, output.ORG_COLUMNS, key="orgs", title="Orgs", as_json=as_json
    )


@orgs_app.command("get")
def get_org(ctx: typer.Context, org: str, as_json: JsonOption = False) -> None:
    """Show one org."""
    found = session_of(ctx).client.get_org(org_name(org))
    output.show_one(found, output.ORG_FIELDS, as_json=as_json)


@orgs_app.command("create")
def create_org(
    ctx: typer.Context,
    org_id: str,
    display_name: DisplayName = None,
    time_zone: Annotated[str, typer.Option("--time-zone")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an org with id ORG_ID."""
    created = session_of(ctx).client.create_org(
        org_id, display_name=display_name or "", time_zone=time_zone
    )
    output.show_one(created, output.ORG_FIELDS, as_json=as_json)


@orgs_app.command("update")
def update_org(
    ctx: typer.Context,
    org: str,
    display_name: DisplayName = None,
    time_zone: Annotated[str | None, typer.Option("--time-zone")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change an org's display name or time zone."""
    require_change(display_name, time_zone)
    updated = session_of(ctx).client.update_org(
        org_name(org), display_name=display_name, time_zone=time_zone
    )
    output.show_one(updated, output.ORG_FIELDS, as_json=as_json)


@orgs_app.command("delete")
def delete_org(ctx: typer.Context, org: str, as_json: JsonOption = False) -> None:
    """Delete an org."""
    name = org_name(org)
    session_of(ctx).client.delete_org(name)
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)


def require_change(*values: object) -> None:
    if all(value is None for value in values):
        fail("nothing to change: pass at least one option to change", 2)


# --- teams --------------------------------------------------------------------


@teams_app.command("list")
def list_teams(
    ctx: typer.Context,
    org: OrgOption = None,
    filter: Annotated[str, typer.Option("--filter", help='display_name = "x"')] = "",
    as_json: JsonOption = False,
) -> None:
    """List the teams of an org."""
    session = session_of(ctx)
    parent = session.org(org)
    output.show_list(
        session.client.list_teams(parent, filter=filter),
        output.TEAM_COLUMNS,
        key="teams",
        title=f"Teams of {parent}",
        as_json=as_json,
        within=f"{parent}/teams",
    )


@teams_app.command("get")
def get_team(
    ctx: typer.Context, team: str, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """Show one team (an ID in the org, or orgs/ORG/teams/ID)."""
    session = session_of(ctx)
    found = session.client.get_team(session.name(team, "teams", org))
    output.show_one(found, output.TEAM_FIELDS, as_json=as_json)


@teams_app.command("create")
def create_team(
    ctx: typer.Context,
    team_id: str,
    org: OrgOption = None,
    display_name: DisplayName = None,
    description: Annotated[str, typer.Option("--description")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a team with id TEAM_ID."""
    session = session_of(ctx)
    created = session.client.create_team(
        session.org(org),
        team_id,
        display_name=display_name or "",
        description=description,
    )
    output.show_one(created, output.TEAM_FIELDS, as_json=as_json)


@teams_app.command("update")
def update_team(
    ctx: typer.Context,
    team: str,
    org: OrgOption = None,
    display_name: DisplayName = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a team's display name or description."""
    require_change(display_name, description)
    session = session_of(ctx)
    updated = session.client.update_team(
        session.name(team, "teams", org),
        display_name=display_name,
        description=description,
    )
    output.show_one(updated, output.TEAM_FIELDS, as_json=as_json)


@teams_app.command("delete")
def delete_team(
    ctx: typer.Context, team: str, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """Delete a team."""
    session = session_of(ctx)
    name = session.name(team, "teams", org)
    session.client.delete_team(name)
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)


# --- principals -----------------------------------------------------------------

TeamOption = Annotated[
    str | None, typer.Option("--team", help="A team, ID or full name.")
]
EmailOption = Annotated[str | None, typer.Option("--email")]


@principals_app.command("list")
def list_principals(
    ctx: typer.Context,
    org: OrgOption = None,
    kind: Annotated[Kind | None, typer.Option("--kind")] = None,
    team: TeamOption = None,
    email: EmailOption = None,
    disabled: Annotated[
        bool | None, typer.Option("--disabled/--enabled", show_default=False)
    ] = None,
    filter: Annotated[str, typer.Option("--filter", help="A raw filter.")] = "",
    as_json: JsonOption = False,
) -> None:
    """List the principals of an org, optionally only some."""
    session = session_of(ctx)
    clauses = [filter] if filter else []
    if kind is not None:
        clauses.append(f"kind = {kind.name}")
    if team is not None:
        clauses.append(f"team = {quoted(session.name(team, 'teams', org))}")
    if email is not None:
        clauses.append(f"email = {quoted(email)}")
    if disabled is not None:
        clauses.append(f"disabled = {str(disabled).lower()}")
    parent = session.org(org)
    output.show_list(
        session.client.list_principals(parent, filter=" AND ".join(clauses)),
        output.PRINCIPAL_COLUMNS,
        key="principals",
        title=f"Principals of {parent}",
        as_json=as_json,
        within=f"{parent}/principals",
    )


@principals_app.command("get")
def get_principal(
    ctx: typer.Context,
    principal: str,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one principal."""
    session = session_of(ctx)
    found = session.client.get_principal(session.name(principal, "principals", org))
    output.show_one(found, output.PRINCIPAL_FIELDS, as_json=as_json)


@principals_app.command("create")
def create_principal(
    ctx: typer.Context,
    principal_id: str,
    org: OrgOption = None,
    kind: Annotated[Kind, typer.Option("--kind")] = Kind.USER,
    display_name: DisplayName = None,
    email: EmailOption = None,
    team: TeamOption = None,
    disabled: Annotated[bool, typer.Option("--disabled")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a user or service account with id PRINCIPAL_ID."""
    session = session_of(ctx)
    created = session.client.create_principal(
        session.org(org),
        principal_id,
        kind=kind.pb,
        display_name=display_name or "",
        email=email or "",
        team=session.name(team, "teams", org) if team else "",
        disabled=disabled,
    )
    output.show_one(created, output.PRINCIPAL_FIELDS, as_json=as_json)


@principals_app.command("update")
def update_principal(
    ctx: typer.Context,
    principal: str,
    org: OrgOption = None,
    display_name: DisplayName = None,
    email: EmailOption = None,
    team: Annotated[
        str | None, typer.Option("--team", help='A team; "" for none.')
    ] = None,
    disabled: Annotated[
        bool | None, typer.Option("--disabled/--enabled", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a principal's names, email, team, or whether it is disabled."""
    require_change(display_name, email, team, disabled)
    session = session_of(ctx)
    updated = session.client.update_principal(
        session.name(principal, "principals", org),
        display_name=display_name,
        email=email,
        team=session.name(team, "teams", org) if team else team,
        disabled=disabled,
    )
    output.show_one(updated, output.PRINCIPAL_FIELDS, as_json=as_json)


@principals_app.command("delete")
def delete_principal(
    ctx: typer.Context,
    principal: str,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a principal."""
    session = session_of(ctx)
    name = session.name(principal, "principals", org)
    session.client.delete_principal(name)
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)


# --- API keys -------------------------------------------------------------------


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    principal: str,
    org: OrgOption = None,
    name: Annotated[str, typer.Option("--name", help="A display name.")] = "",
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires", help="ISO 8601 time, or 30d, 12h... (default: never)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key for PRINCIPAL; its secret is printed this once."""
    expire_time = parse_expiry(expires, datetime.now(UTC)) if expires else None
    session = session_of(ctx)
    key, secret = session.client.create_api_key(
        session.name(principal, "principals", org),
        display_name=name,
        expire_time=expire_time,
    )
    output.show_new_key(key, secret, as_json=as_json)


@keys_app.command("list")
def list_keys(
    ctx: typer.Context,
    principal: Annotated[
        str | None,
        typer.Argument(help="A principal (default: the caller).", show_default=False),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every key of the org.")] = False,
    state: Annotated[KeyState | None, typer.Option("--state")] = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the keys of PRINCIPAL, of the caller, or of the whole org (--all)."""
    session = session_of(ctx)
    if every and principal:
        fail("give PRINCIPAL or --all, not both", 2)
    if every:
        parent = f"{session.org(org)}/principals/{ALL_PRINCIPALS}"
    elif principal:
        parent = session.name(principal, "principals", org)
    else:
        parent = session.caller("principal")
    keys = session.client.list_api_keys(
        parent, filter=f"state = {state.name}" if state else ""
    )
    owner = parent.removesuffix(f"/principals/{ALL_PRINCIPALS}")
    output.show_list(
        keys,
        output.KEY_COLUMNS,
        key="api_keys",
        title=f"API keys of {owner}",
        as_json=as_json,
        within=parent.rsplit("/", 1)[0] if every else f"{parent}/keys",
    )


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context, key: str, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """Revoke KEY (its full name, PRINCIPAL/keys/ID, or its ID); it stops at once."""
    session = session_of(ctx)
    revoked = session.client.revoke_api_key(session.key_name(key, org))
    if not as_json:
        typer.echo(f"Revoked {revoked.name}.")
    output.show_one(revoked, output.KEY_FIELDS, as_json=as_json)


# --- roles and bindings ---------------------------------------------------------


@roles_app.command("list")
def list_roles(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the built-in roles and their permissions."""
    roles = session_of(ctx).client.list_roles()
    output.show_list(
        roles, output.ROLE_COLUMNS, key="roles", title="Roles", as_json=as_json
    )


@bindings_app.command("list")
def list_bindings(
    ctx: typer.Context,
    org: OrgOption = None,
    principal: Annotated[str | None, typer.Option("--principal")] = None,
    role: Annotated[str | None, typer.Option("--role")] = None,
    team: TeamOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the role bindings of an org, optionally only some."""
    session = session_of(ctx)
    clauses = []
    if principal:
        name = session.name(principal, "principals", org)
        clauses.append(f"principal = {quoted(name)}")
    if role:
        clauses.append(f"role = {quoted(role)}")
    if team:
        clauses.append(f"team = {quoted(session.name(team, 'teams', org))}")
    parent = session.org(org)
    output.show_list(
        session.client.list_role_bindings(parent, filter=" AND ".join(clauses)),
        output.BINDING_COLUMNS,
        key="role_bindings",
        title=f"Role bindings of {parent}",
        as_json=as_json,
        within=f"{parent}/roleBindings",
    )


@bindings_app.command("create")
def create_binding(
    ctx: typer.Context,
    principal: str,
    role: str,
    team: Annotated[
        str | None, typer.Option("--team", help="Limit the role to this team.")
    ] = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Grant ROLE to PRINCIPAL, in the whole org or in one team."""
    session = session_of(ctx)
    binding = session.client.create_role_binding(
        session.org(org),
        session.name(principal, "principals", org),
        role,
        team=session.name(team, "teams", org) if team else "",
    )
    output.show_one(binding, output.BINDING_FIELDS, as_json=as_json)


@bindings_app.command("delete")
def delete_binding(
    ctx: typer.Context, binding: str, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """Remove a role binding (its ID, or orgs/ORG/roleBindings/ID)."""
    session = session_of(ctx)
    name = session.name(binding, "roleBindings", org)
    session.client.delete_role_binding(name)
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)


import megarouter.cli.admin_audit  # noqa: E402  (registers subcommands)
import megarouter.cli.admin_budgets  # noqa: E402  (registers subcommands)
import megarouter.cli.admin_policies  # noqa: E402  (registers subcommands)
import megarouter.cli.admin_ratelimits  # noqa: E402  (registers subcommands)
import megarouter.cli.admin_reports  # noqa: E402,F401  (registers subcommands)
from megarouter.cli import admin_providers  # noqa: E402,F401  (registers subcommands)
