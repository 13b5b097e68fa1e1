"""``megarouter admin budgets ...``: spending limits, and how much is left.

Registered on the ``admin`` app (see the last lines of
:mod:`megarouter.cli.admin`). Amounts are typed and shown in US dollars
(``--limit 250`` or ``--limit 0.75``) and sent exactly, as integer
micro-dollars; an amount finer than a micro-dollar is refused.
"""

from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation
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

budgets_app = typer.Typer(
    help="Spending limits on the org, teams, principals, keys and scenarios.",
    no_args_is_help=True,
)
app.add_typer(budgets_app, name="budgets")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The org, ID or orgs/ID (default: the caller's)."),
]
EtagOption = Annotated[
    str, typer.Option("--etag", help="Act only if the budget is at this etag.")
]
BudgetArgument = Annotated[str, typer.Argument(help="The budget's ID or full name.")]


class Scope(enum.StrEnum):
    ORG = "org"
    TEAM = "team"
    PRINCIPAL = "principal"
    KEY = "key"
    SCENARIO = "scenario"


class Period(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    LIFETIME = "lifetime"


SCOPE_TO_PB = {
    Scope.ORG: gov.BUDGET_SCOPE_KIND_ORG,
    Scope.TEAM: gov.BUDGET_SCOPE_KIND_TEAM,
    Scope.PRINCIPAL: gov.BUDGET_SCOPE_KIND_PRINCIPAL,
    Scope.KEY: gov.BUDGET_SCOPE_KIND_KEY,
    Scope.SCENARIO: gov.BUDGET_SCOPE_KIND_SCENARIO,
}
SCOPE_LABEL = {value: key.value for key, value in SCOPE_TO_PB.items()}
PERIOD_TO_PB = {
    Period.DAILY: gov.BUDGET_PERIOD_DAILY,
    Period.WEEKLY: gov.BUDGET_PERIOD_WEEKLY,
    Period.MONTHLY: gov.BUDGET_PERIOD_MONTHLY,
    Period.LIFETIME: gov.BUDGET_PERIOD_LIFETIME,
}
PERIOD_LABEL = {value: key.value for key, value in PERIOD_TO_PB.items()}


# --- amounts ------------------------------------------------------------------


def usd_to_micros(amount: str, option: str) -> int:
    """Exact micro-dollars for a positive amount typed in US dollars."""
    from megarouter.providers.spec import MICROS_PER_USD

    try:
        value = Decimal(amount.strip().removeprefix("$").replace(",", ""))
    except InvalidOperation:
        fail(f"{option}: {amount!r} is not a number of US dollars", 2)
    if not value.is_finite() or value <= 0:
        fail(f"{option}: {amount!r} must be a positive number of US dollars", 2)
    micros = value * MICROS_PER_USD
    if micros != micros.to_integral_value():
        fail(f"{option}: {amount!r} is finer than a micro-dollar", 2)
    return int(micros)


def usd(micros: int) -> str:
    """``$1.25`` for 1,250,000 micro-dollars, without rounding."""
    from megarouter.providers.spec import MICROS_PER_USD

    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    text = f"{(Decimal(micros) / MICROS_PER_USD).normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{sign}${int(whole):,}.{fraction.ljust(2, '0')}"


def scope_label(budget: gov.Budget) -> str:
    kind = SCOPE_LABEL.get(budget.scope_kind, "?")
    return kind if kind == "org" else f"{kind} {budget.scope_value}"


def cheaper_label(budget: gov.Budget) -> str:
    if not budget.HasField("prefer_cheaper_below_micros"):
        return "-"
    return f"below {usd(budget.prefer_cheaper_below_micros)}"


BUDGET_COLUMNS: list[output.Column] = [
    ("Name", lambda b: b.name),
    ("Scope", scope_label),
    ("Period", lambda b: PERIOD_LABEL.get(b.period, "?")),
    ("Limit", lambda b: usd(b.limit_micros)),
    (
        "Enforcement",
        lambda b: "soft" if b.enforcement == gov.BUDGET_ENFORCEMENT_SOFT else "hard",
    ),
]
BUDGET_FIELDS: list[output.Column] = [
    *BUDGET_COLUMNS,
    ("Prefer cheaper", cheaper_label),
    ("Display name", lambda b: output.text(b.display_name)),
    ("Etag", lambda b: b.etag),
]

STATUS_FIELDS: list[output.Column] = [
    ("Budget", lambda s: s.budget),
    ("Limit", lambda s: usd(s.limit_micros)),
    ("Spent", lambda s: usd(s.spent_micros)),
    ("Leased", lambda s: usd(s.leased_micros)),
    ("Remaining", lambda s: usd(s.remaining_micros)),
    ("Written off", lambda s: usd(s.written_off_micros)),
    ("Window start", lambda s: output.when(s.window_start_time)),
    (
        "Window end",
        lambda s: (
            output.when(s.window_end_time) if s.HasField("window_end_time") else "never"
        ),
    ),
]


def stub(session: AdminSession) -> api_grpc.AdminServiceStub:
    return session.client.admin


# --- commands -----------------------------------------------------------------


@budgets_app.command("list")
def list_budgets(
    ctx: typer.Context, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """List the org's budgets."""
    session = session_of(ctx)
    parent = session.org(org)

    def fetch(token: str) -> tuple[list[gov.Budget], str]:
        request = gov.ListBudgetsRequest(parent=parent, page_token=token)
        response = stub(session).ListBudgets(request)
        return list(response.budgets), response.next_page_token

    output.show_list(
        follow_pages(fetch),
        BUDGET_COLUMNS,
        key="budgets",
        title="Budgets",
        as_json=as_json,
        within=f"{parent}/budgets",
    )


@budgets_app.command("create")
def create_budget(
    ctx: typer.Context,
    budget_id: Annotated[str, typer.Argument(help="The new budget's ID.")],
    scope: Annotated[Scope, typer.Option("--scope", help="What the budget limits.")],
    period: Annotated[
        Period, typer.Option("--period", help="When spending starts again.")
    ],
    limit: Annotated[str, typer.Option("--limit", help="US dollars per period.")],
    value: Annotated[
        str,
        typer.Option(
            "--value", help="The team, principal or key ID, or the scenario tag."
        ),
    ] = "",
    soft: Annotated[
        bool, typer.Option("--soft", help="Alert instead of refusing calls.")
    ] = False,
    prefer_cheaper_below: Annotated[
        str | None,
        typer.Option(
            "--prefer-cheaper-below",
            help="US dollars left below which auto prefers cheaper models.",
        ),
    ] = None,
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a budget on the org, a team, a principal, a key or a scenario."""
    if scope is not Scope.ORG and not value:
        fail(f"--value is required for a {scope.value} budget", 2)
    budget = gov.Budget(
        scope_kind=SCOPE_TO_PB[scope],
        scope_value=value,
        period=PERIOD_TO_PB[period],
        limit_micros=usd_to_micros(limit, "--limit"),
        enforcement=gov.BUDGET_ENFORCEMENT_SOFT
        if soft
        else gov.BUDGET_ENFORCEMENT_HARD,
        display_name=display_name,
    )
    if prefer_cheaper_below is not None:
        budget.prefer_cheaper_below_micros = usd_to_micros(
            prefer_cheaper_below, "--prefer-cheaper-below"
        )
    session = session_of(ctx)
    request = gov.CreateBudgetRequest(
        parent=session.org(org), budget_id=budget_id, budget=budget
    )
    with translated():
        created = stub(session).CreateBudget(request).budget
    output.show_one(created, BUDGET_FIELDS, as_json=as_json)


@budgets_app.command("get")
def get_budget(
    ctx: typer.Context,
    budget: BudgetArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one budget."""
    session = session_of(ctx)
    request = gov.GetBudgetRequest(name=session.name(budget, "budgets", org))
    with translated():
        found = stub(session).GetBudget(request).budget
    output.show_one(found, BUDGET_FIELDS, as_json=as_json)


@budgets_app.command("update")
def update_budget(
    ctx: typer.Context,
    budget: BudgetArgument,
    limit: Annotated[
        str | None, typer.Option("--limit", help="US dollars per period.")
    ] = None,
    enforcement: Annotated[
        bool | None,
        typer.Option("--hard/--soft", help="Refuse calls, or only alert."),
    ] = None,
    prefer_cheaper_below: Annotated[
        str | None,
        typer.Option("--prefer-cheaper-below", help="US dollars; 'never' clears it."),
    ] = None,
    display_name: Annotated[str | None, typer.Option("--display-name")] = None,
    etag: EtagOption = "",
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a budget's limit, enforcement, threshold or display name."""
    session = session_of(ctx)
    wanted = gov.Budget(name=session.name(budget, "budgets", org), etag=etag)
    paths = []
    if limit is not None:
        wanted.limit_micros = usd_to_micros(limit, "--limit")
        paths.append("limit_micros")
    if enforcement is not None:
        wanted.enforcement = (
            gov.BUDGET_ENFORCEMENT_HARD if enforcement else gov.BUDGET_ENFORCEMENT_SOFT
        )
        paths.append("enforcement")
    if prefer_cheaper_below is not None:
        if prefer_cheaper_below != "never":
            wanted.prefer_cheaper_below_micros = usd_to_micros(
                prefer_cheaper_below, "--prefer-cheaper-below"
            )
        paths.append("prefer_cheaper_below_micros")
    if display_name is not None:
        wanted.display_name = display_name
        paths.append("display_name")
    if not paths:
        fail("nothing to change: pass at least one option", 2)
    request = gov.UpdateBudgetRequest(
        budget=wanted, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    with translated():
        updated = stub(session).UpdateBudget(request).budget
    output.show_one(updated, BUDGET_FIELDS, as_json=as_json)


@budgets_app.command("delete")
def delete_budget(
    ctx: typer.Context,
    budget: BudgetArgument,
    etag: EtagOption = "",
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a budget and its spend history."""
    session = session_of(ctx)
    name = session.name(budget, "budgets", org)
    with translated():
        stub(session).DeleteBudget(gov.DeleteBudgetRequest(name=name, etag=etag))
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)


@budgets_app.command("status")
def budget_status(
    ctx: typer.Context,
    budget: BudgetArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what a budget spent, holds and has left in its current window."""
    session = session_of(ctx)
    request = gov.GetBudgetStatusRequest(name=session.name(budget, "budgets", org))
    with translated():
        status = stub(session).GetBudgetStatus(request).status
    output.show_one(status, STATUS_FIELDS, as_json=as_json)
