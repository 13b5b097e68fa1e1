"""``megarouter admin policies ...``: an org's named routing policies.

Registered on the ``admin`` app (see the last lines of
:mod:`megarouter.cli.admin`), so these commands share its ``--target`` and
``--key`` options and its error reporting. Policies are named by id (``fast``)
or in full (``orgs/acme/routingPolicies/fast``). Amounts of money are typed
and shown in US dollars and sent as exact integer micro-dollars.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer
from google.protobuf import field_mask_pb2

from megarouter.cli import output
from megarouter.cli.admin import app
from megarouter.cli.admin_providers import usd
from megarouter.cli.admin_session import AdminSession, fail, session_of
from megarouter.cli.calls import follow_pages, translated
from megarouter.v1 import routing_policy_pb2 as rp

if TYPE_CHECKING:
    from megarouter.client import MegaRouterClient

policies_app = typer.Typer(
    help="Routing policies: how 'auto' picks a model.", no_args_is_help=True
)
app.add_typer(policies_app, name="policies")

COLLECTION = "routingPolicies"
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The org, ID or orgs/ID (default: the caller's)."),
]
PolicyArgument = Annotated[str, typer.Argument(help="The policy's id or full name.")]


class StrategyChoice(enum.StrEnum):
    COST_FIRST = "cost-first"
    QUALITY_FIRST = "quality-first"
    BALANCED = "balanced"
    LATENCY_FIRST = "latency-first"

    @property
    def pb(self) -> rp.RoutingStrategy.ValueType:
        return rp.RoutingStrategy.Value(
            "ROUTING_STRATEGY_" + self.value.replace("-", "_").upper()
        )


class Clearable(enum.StrEnum):
    MIN_QUALITY = "min-quality"
    MAX_COST = "max-cost"
    MAX_LATENCY = "max-latency"
    ALLOWED_MODELS = "allowed-models"

    @property
    def field(self) -> str:
        return {
            Clearable.MIN_QUALITY: "min_quality",
            Clearable.MAX_COST: "max_cost_micros",
            Clearable.MAX_LATENCY: "max_latency_ms",
            Clearable.ALLOWED_MODELS: "allowed_models",
        }[self]


# --- what the user typed ------------------------------------------------------


def usd_to_micros(amount: str, option: str) -> int:
    """Exact micro-dollars for an amount typed in US dollars."""
    from megarouter.providers.spec import MICROS_PER_USD

    try:
        value = Decimal(amount)
    except InvalidOperation:
        fail(f"{option}: {amount!r} is not a number of US dollars", 2)
    micros = value * MICROS_PER_USD
    if not value.is_finite() or micros != micros.to_integral_value():
        fail(f"{option}: {amount!r} must be whole micro-dollars (1e-6 USD)", 2)
    return int(micros)


def settings(
    description: str | None,
    strategy: StrategyChoice | None,
    min_quality: float | None,
    max_cost: str | None,
    max_latency_ms: int | None,
    willingness: str | None,
    allow: Sequence[str] | None,
    max_attempts: int | None,
) -> tuple[rp.RoutingPolicy, list[str]]:
    """The policy fields the user gave, and their names for an update mask."""
    values: dict[str, Any] = {
        "description": description,
        "strategy": strategy.pb if strategy else None,
        "min_quality": min_quality,
        "max_cost_micros": usd_to_micros(max_cost, "--max-cost") if max_cost else None,
        "max_latency_ms": max_latency_ms,
        "willingness_to_pay_micros": (
            usd_to_micros(willingness, "--willingness-to-pay") if willingness else None
        ),
        "allowed_models": list(allow) if allow else None,
        "max_attempts": max_attempts,
    }
    given = {field: value for field, value in values.items() if value is not None}
    return rp.RoutingPolicy(**given), list(given)


def policy_name(session: AdminSession, policy: str, org: str | None) -> str:
    return session.name(policy, COLLECTION, org)


def target_name(
    session: AdminSession,
    org: str | None,
    org_wide: bool,
    team: str | None,
    key: str | None,
) -> str:
    """The one attachment target the user named."""
    if sum((org_wide, team is not None, key is not None)) != 1:
        fail("give exactly one of --on-org, --on-team TEAM and --on-key KEY", 2)
    if team is not None:
        return session.name(team, "teams", org)
    if key is not None:
        return session.key_name(key, org)
    return session.org(org)


# --- how policies are shown -----------------------------------------------------


def strategy_label(policy: rp.RoutingPolicy) -> str:
    name = rp.RoutingStrategy.Name(policy.strategy)
    return name.removeprefix("ROUTING_STRATEGY_").lower().replace("_", "-")


def limits_label(policy: rp.RoutingPolicy) -> str:
    """``quality >= 0.6, cost <= $0.0025, latency <= 900 ms``, or ``-``."""
    limits = []
    if policy.HasField("min_quality"):
        limits.append(f"quality >= {policy.min_quality:g}")
    if policy.HasField("max_cost_micros"):
        limits.append(f"cost <= {usd(policy.max_cost_micros)}")
    if policy.HasField("max_latency_ms"):
        limits.append(f"latency <= {policy.max_latency_ms} ms")
    return ", ".join(limits) or "-"


COLUMNS: list[output.Column] = [
    ("Policy", lambda p: output.last_segment(p.name)),
    ("Strategy", strategy_label),
    ("Limits", limits_label),
    ("Models", lambda p: ", ".join(p.allowed_models) or "any"),
    ("Attempts", lambda p: str(p.max_attempts)),
    ("Attached to", lambda p: ", ".join(p.attached_to) or "-"),
]
FIELDS: list[output.Column] = [
    *COLUMNS,
    ("Willingness to pay", lambda p: usd(p.willingness_to_pay_micros) + " / point"),
    ("Description", lambda p: output.text(p.description)),
    ("Updated", lambda p: output.when(p.update_time)),
    ("Etag", lambda p: p.etag),
]


def all_policies(client: MegaRouterClient, org: str) -> Iterator[rp.RoutingPolicy]:
    def fetch(token: str) -> tuple[Sequence[rp.RoutingPolicy], str]:
        request = rp.ListRoutingPoliciesRequest(parent=org, page_token=token)
        response = client.admin.ListRoutingPolicies(request)
        return response.routing_policies, response.next_page_token

    return follow_pages(fetch)


# --- commands -------------------------------------------------------------------

Description = Annotated[str | None, typer.Option("--description")]
StrategyOption = Annotated[
    StrategyChoice | None, typer.Option("--strategy", help="How to rank models.")
]
MinQuality = Annotated[
    float | None, typer.Option("--min-quality", help="Quality floor, 0 to 1.")
]
MaxCost = Annotated[
    str | None, typer.Option("--max-cost", help="Most a call may cost, in USD.")
]
MaxLatency = Annotated[
    int | None, typer.Option("--max-latency-ms", help="Highest latency, in ms.")
]
Willingness = Annotated[
    str | None,
    typer.Option(
        "--willingness-to-pay",
        help="For balanced: USD per call one point of quality (0 to 1) is worth.",
    ),
]
Allow = Annotated[
    list[str] | None,
    typer.Option("--allow", help="A model or PROVIDER/* it may use (repeatable)."),
]
MaxAttempts = Annotated[
    int | None, typer.Option("--max-attempts", help="Candidates a call may try.")
]
OnOrg = Annotated[bool, typer.Option("--on-org", help="The whole org.")]
OnTeam = Annotated[str | None, typer.Option("--on-team", help="A team.")]
OnKey = Annotated[str | None, typer.Option("--on-key", help="An API key.")]


@policies_app.command("list")
def list_policies(
    ctx: typer.Context, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """List the org's routing policies and where each is attached."""
    session = session_of(ctx)
    found = all_policies(session.client, session.org(org))
    output.show_list(
        found,
        COLUMNS,
        key="routing_policies",
        title="Routing policies",
        as_json=as_json,
    )


@policies_app.command("get")
def get_policy(
    ctx: typer.Context,
    policy: PolicyArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one routing policy."""
    session = session_of(ctx)
    request = rp.GetRoutingPolicyRequest(name=policy_name(session, policy, org))
    with translated():
        shown = session.client.admin.GetRoutingPolicy(request).routing_policy
    output.show_one(shown, FIELDS, as_json=as_json)


@policies_app.command("create")
def create_policy(
    ctx: typer.Context,
    policy_id: Annotated[str, typer.Argument(help="The new policy's id.")],
    description: Description = None,
    strategy: StrategyOption = None,
    min_quality: MinQuality = None,
    max_cost: MaxCost = None,
    max_latency_ms: MaxLatency = None,
    willingness: Willingness = None,
    allow: Allow = None,
    max_attempts: MaxAttempts = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a routing policy (balanced, 3 attempts, any model by default)."""
    session = session_of(ctx)
    policy, _ = settings(
        description,
        strategy,
        min_quality,
        max_cost,
        max_latency_ms,
        willingness,
        allow,
        max_attempts,
    )
    request = rp.CreateRoutingPolicyRequest(
        parent=session.org(org), routing_policy_id=policy_id, routing_policy=policy
    )
    with translated():
        shown = session.client.admin.CreateRoutingPolicy(request).routing_policy
    output.show_one(shown, FIELDS, as_json=as_json)


@policies_app.command("update")
def update_policy(
    ctx: typer.Context,
    policy: PolicyArgument,
    description: Description = None,
    strategy: StrategyOption = None,
    min_quality: MinQuality = None,
    max_cost: MaxCost = None,
    max_latency_ms: MaxLatency = None,
    willingness: Willingness = None,
    allow: Allow = None,
    max_attempts: MaxAttempts = None,
    clear: Annotated[
        list[Clearable] | None,
        typer.Option("--clear", help="Remove a limit (repeatable)."),
    ] = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the given settings of a routing policy; the others stay."""
    session = session_of(ctx)
    changed, fields = settings(
        description,
        strategy,
        min_quality,
        max_cost,
        max_latency_ms,
        willingness,
        allow,
        max_attempts,
    )
    cleared = [c.field for c in clear or ()]
    if not fields and not cleared:
        fail("nothing to change: give a setting or --clear", 2)
    if set(fields) & set(cleared):
        fail("a setting cannot be both given and cleared", 2)
    changed.name = policy_name(session, policy, org)
    request = rp.UpdateRoutingPolicyRequest(
        routing_policy=changed,
        update_mask=field_mask_pb2.FieldMask(paths=fields + cleared),
    )
    with translated():
        shown = session.client.admin.UpdateRoutingPolicy(request).routing_policy
    output.show_one(shown, FIELDS, as_json=as_json)


@policies_app.command("delete")
def delete_policy(
    ctx: typer.Context,
    policy: PolicyArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a routing policy that is attached nowhere."""
    session = session_of(ctx)
    name = policy_name(session, policy, org)
    with translated():
        session.client.admin.DeleteRoutingPolicy(
            rp.DeleteRoutingPolicyRequest(name=name)
        )
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)


@policies_app.command("attach")
def attach_policy(
    ctx: typer.Context,
    policy: PolicyArgument,
    on_org: OnOrg = False,
    on_team: OnTeam = None,
    on_key: OnKey = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply POLICY to the org, a team or an API key (replacing its previous)."""
    session = session_of(ctx)
    request = rp.AttachRoutingPolicyRequest(
        policy=policy_name(session, policy, org),
        target=target_name(session, org, on_org, on_team, on_key),
    )
    with translated():
        attached = session.client.admin.AttachRoutingPolicy(request).attachment
    output.show_done(
        f"{attached.policy} now applies to {attached.target}.",
        {"target": attached.target, "policy": attached.policy},
        as_json=as_json,
    )


@policies_app.command("detach")
def detach_policy(
    ctx: typer.Context,
    on_org: OnOrg = False,
    on_team: OnTeam = None,
    on_key: OnKey = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove the policy attached to the org, a team or an API key."""
    session = session_of(ctx)
    target = target_name(session, org, on_org, on_team, on_key)
    with translated():
        session.client.admin.DetachRoutingPolicy(
            rp.DetachRoutingPolicyRequest(target=target)
        )
    output.show_done(
        f"Detached the routing policy of {target}.",
        {"detached": target},
        as_json=as_json,
    )
