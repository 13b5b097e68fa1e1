"""``megarouter admin providers|models|credentials ...``: an org's providers.

Registered on the ``admin`` app (see the last line of
:mod:`megarouter.cli.admin`), so these commands share its ``--target`` and
``--key`` options and its error reporting. Models are named by their global
id, ``PROVIDER/MODEL``; prices are typed in US dollars per million tokens and
sent as exact integer micro-dollars. Credentials are read from stdin or from
an environment variable, never from the command line, and are never shown.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated

import typer

from megarouter.cli import output
from megarouter.cli.admin import app
from megarouter.cli.admin_session import AdminSession, fail, session_of
from megarouter.cli.calls import follow_pages, translated
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from megarouter.client import MegaRouterClient

providers_app = typer.Typer(help="Providers the org may use.", no_args_is_help=True)
models_app = typer.Typer(
    help="Models, their enablement and prices.", no_args_is_help=True
)
credentials_app = typer.Typer(
    help="The org's provider credentials (write-only secrets).", no_args_is_help=True
)
app.add_typer(providers_app, name="providers")
app.add_typer(models_app, name="models")
app.add_typer(credentials_app, name="credentials")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="The org, ID or orgs/ID (default: the caller's)."),
]


class Mode(enum.StrEnum):
    CHAT = "chat"
    EMBEDDING = "embedding"


MODE_TO_PB = {Mode.CHAT: pb.MODEL_MODE_CHAT, Mode.EMBEDDING: pb.MODEL_MODE_EMBEDDING}


# --- what the user typed ------------------------------------------------------


def micros_per_mtok(usd: str, option: str) -> int:
    """Exact micro-dollars for a price typed in dollars per million tokens."""
    from megarouter.providers.spec import MICROS_PER_USD

    try:
        amount = Decimal(usd)
    except InvalidOperation:
        fail(f"{option}: {usd!r} is not a number of US dollars", 2)
    if not amount.is_finite() or amount < 0:
        fail(f"{option}: {usd!r} must be a non-negative number of US dollars", 2)
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        fail(f"{option}: {usd!r} is finer than a micro-dollar per million tokens", 2)
    return int(micros)


def usd(micros: int) -> str:
    """``$1.25`` for 1,250,000 micro-dollars, without rounding."""
    from megarouter.providers.spec import MICROS_PER_USD

    amount = (Decimal(micros) / MICROS_PER_USD).normalize()
    text = f"{amount:f}"
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def extra_parts(pairs: Sequence[str], from_env: Sequence[str]) -> dict[str, str]:
    """Extra credential parts from ``k=v`` and ``k=ENV_VAR`` options."""
    parts: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail("--extra: expected KEY=VALUE", 2)  # never echo what may be secret
        parts[key] = value
    for pair in from_env:
        key, sep, variable = pair.partition("=")
        if not sep or not key or not variable:
            fail(f"--extra-from-env: expected KEY=ENV_VAR, got {pair!r}", 2)
        if not os.environ.get(variable):
            fail(f"--extra-from-env: environment variable {variable} is not set", 2)
        parts[key] = os.environ[variable]
    return parts


def read_api_key(from_stdin: bool, env_var: str | None) -> str:
    """The key from stdin or from an environment variable; never from argv."""
    if from_stdin == bool(env_var):
        fail("give exactly one of --api-key-stdin and --from-env VAR", 2)
    if env_var:
        key = os.environ.get(env_var, "")
        if not key:
            fail(f"--from-env: environment variable {env_var} is not set", 2)
        return key
    key = sys.stdin.readline().strip()
    if not key:
        fail("--api-key-stdin: read an empty key from stdin", 2)
    return key


def provider_name(session: AdminSession, provider: str, org: str | None) -> str:
    if provider.startswith("orgs/"):
        return provider
    return f"{session.org(org)}/providers/{provider}"


def model_name(session: AdminSession, model: str, org: str | None) -> str:
    if model.startswith("orgs/"):
        return model
    if "/" not in model:
        fail(f"name models as PROVIDER/MODEL, such as groq/{model}", 2)
    return f"{session.org(org)}/models/{model}"


# --- how things are shown -------------------------------------------------------


SOURCE_LABELS = {
    pb.CREDENTIAL_SOURCE_STORED: "stored",
    pb.CREDENTIAL_SOURCE_ENVIRONMENT: "environment",
    pb.CREDENTIAL_SOURCE_MISSING: "missing",
    pb.CREDENTIAL_SOURCE_NOT_NEEDED: "not needed",
}


def price_label(model: pb.Model) -> str:
    """``$0.15 / $0.60 (list)``, or ``unpriced``: never a silent $0."""
    if not model.HasField("price"):
        return "unpriced"
    price = model.price
    source = "override" if model.price_source == pb.PRICE_SOURCE_OVERRIDE else "list"
    return (
        f"{usd(price.input_micros_per_mtok)} / "
        f"{usd(price.output_micros_per_mtok)} ({source})"
    )


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


PROVIDER_COLUMNS: list[output.Column] = [
    ("Provider", lambda p: p.provider_id),
    ("Family", lambda p: p.family),
    ("Models", lambda p: str(p.model_count)),
    ("Enabled", lambda p: yes_no(p.enabled)),
    ("Credential", lambda p: SOURCE_LABELS.get(p.credential_source, "-")),
]
MODEL_COLUMNS: list[output.Column] = [
    ("Model", lambda m: m.model_id),
    ("Mode", lambda m: pb.ModelMode.Name(m.mode).removeprefix("MODEL_MODE_").lower()),
    ("Context", lambda m: str(m.context_window or "-")),
    ("Enabled", lambda m: yes_no(m.enabled)),
    ("USD per Mtok in / out", price_label),
]
CREDENTIAL_COLUMNS: list[output.Column] = [
    ("Provider", lambda c: output.last_segment(c.provider)),
    ("Extra parts", lambda c: ", ".join(c.extra_keys) or "-"),
    ("Updated", lambda c: output.when(c.update_time)),
]


def all_providers(client: MegaRouterClient, org: str) -> Iterator[pb.Provider]:
    def fetch(token: str) -> tuple[Sequence[pb.Provider], str]:
        request = api.ListProvidersRequest(parent=org, page_token=token)
        response = client.admin.ListProviders(request)
        return response.providers, response.next_page_token

    return follow_pages(fetch)


def all_models(
    client: MegaRouterClient, request: api.ListModelsRequest
) -> Iterator[pb.Model]:
    def fetch(token: str) -> tuple[Sequence[pb.Model], str]:
        request.page_token = token
        response = client.admin.ListModels(request)
        return response.models, response.next_page_token

    return follow_pages(fetch)


# --- providers ------------------------------------------------------------------


@providers_app.command("list")
def list_providers(
    ctx: typer.Context, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """List the providers installed plugins registered, as the org sees them."""
    session = session_of(ctx)
    found = all_providers(session.client, session.org(org))
    output.show_list(
        found, PROVIDER_COLUMNS, key="providers", title="Providers", as_json=as_json
    )


def _set_provider(
    ctx: typer.Context, provider: str, org: str | None, on: bool
) -> pb.Provider:
    """Enable or disable a provider; the provider as it is now."""
    session = session_of(ctx)
    name = provider_name(session, provider, org)
    admin = session.client.admin
    with translated():
        if on:
            return admin.EnableProvider(api.EnableProviderRequest(name=name)).provider
        return admin.DisableProvider(api.DisableProviderRequest(name=name)).provider


@providers_app.command("enable")
def enable_provider(
    ctx: typer.Context,
    provider: str,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Let the org use PROVIDER's enabled models again."""
    shown = _set_provider(ctx, provider, org, True)
    output.show_one(shown, PROVIDER_COLUMNS, as_json=as_json)


@providers_app.command("disable")
def disable_provider(
    ctx: typer.Context,
    provider: str,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop the org from using any model of PROVIDER."""
    shown = _set_provider(ctx, provider, org, False)
    output.show_one(shown, PROVIDER_COLUMNS, as_json=as_json)


# --- models -----------------------------------------------------------------------


@models_app.command("list")
def list_models(
    ctx: typer.Context,
    provider: Annotated[
        str, typer.Option("--provider", help="Only this provider's models.")
    ] = "",
    mode: Annotated[
        Mode | None, typer.Option("--mode", help="chat or embedding.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list models the org may not use.")
    ] = False,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """List models with the org's enablement and the price it is charged."""
    session = session_of(ctx)
    request = api.ListModelsRequest(
        parent=session.org(org),
        provider_id=provider,
        mode=MODE_TO_PB[mode] if mode else pb.MODEL_MODE_UNSPECIFIED,
        show_disabled=show_all,
    )
    found = all_models(session.client, request)
    output.show_list(
        found, MODEL_COLUMNS, key="models", title="Models", as_json=as_json
    )


ModelArgument = Annotated[str, typer.Argument(help="PROVIDER/MODEL, such as groq/x.")]


def _change_model(
    ctx: typer.Context, model: str, org: str | None, how: str
) -> pb.Model:
    """Send one model change (enable, disable, clear-price); the model now."""
    session = session_of(ctx)
    name = model_name(session, model, org)
    admin = session.client.admin
    with translated():
        if how == "enable":
            return admin.EnableModel(api.EnableModelRequest(name=name)).model
        if how == "disable":
            return admin.DisableModel(api.DisableModelRequest(name=name)).model
        return admin.ClearModelPrice(api.ClearModelPriceRequest(name=name)).model


@models_app.command("enable")
def enable_model(
    ctx: typer.Context,
    model: ModelArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Let the org use MODEL again (its provider must be enabled too)."""
    shown = _change_model(ctx, model, org, "enable")
    output.show_one(shown, MODEL_COLUMNS, as_json=as_json)


@models_app.command("disable")
def disable_model(
    ctx: typer.Context,
    model: ModelArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop the org from using MODEL."""
    shown = _change_model(ctx, model, org, "disable")
    output.show_one(shown, MODEL_COLUMNS, as_json=as_json)


@models_app.command("set-price")
def set_model_price(
    ctx: typer.Context,
    model: ModelArgument,
    input_usd: Annotated[
        str, typer.Option("--input", help="US dollars per million input tokens.")
    ],
    output_usd: Annotated[
        str, typer.Option("--output", help="US dollars per million output tokens.")
    ],
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charge the org this price for MODEL, over its list price."""
    price = pb.ModelPrice(
        input_micros_per_mtok=micros_per_mtok(input_usd, "--input"),
        output_micros_per_mtok=micros_per_mtok(output_usd, "--output"),
    )
    session = session_of(ctx)
    request = api.SetModelPriceRequest(
        name=model_name(session, model, org), price=price
    )
    with translated():
        shown = session.client.admin.SetModelPrice(request).model
    output.show_one(shown, MODEL_COLUMNS, as_json=as_json)


@models_app.command("clear-price")
def clear_model_price(
    ctx: typer.Context,
    model: ModelArgument,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drop the org's price for MODEL; its list price applies again."""
    shown = _change_model(ctx, model, org, "clear-price")
    output.show_one(shown, MODEL_COLUMNS, as_json=as_json)


# --- credentials --------------------------------------------------------------------


@credentials_app.command("set")
def set_credential(
    ctx: typer.Context,
    provider: str,
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read the key from stdin.")
    ] = False,
    from_env: Annotated[
        str | None,
        typer.Option("--from-env", metavar="VAR", help="Read the key from $VAR."),
    ] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option("--extra", metavar="KEY=VALUE", help="A further part (region)."),
    ] = None,
    extra_from_env: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-from-env",
            metavar="KEY=VAR",
            help="A further secret part read from $VAR (secret_access_key).",
        ),
    ] = None,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store the org's credential for PROVIDER, encrypted; it is never shown."""
    key = read_api_key(api_key_stdin, from_env)
    parts = extra_parts(extra or [], extra_from_env or [])
    session = session_of(ctx)
    request = api.SetProviderCredentialRequest(
        provider=provider_name(session, provider, org), api_key=key, extra=parts
    )
    with translated():
        stored = session.client.admin.SetProviderCredential(request).credential
    output.show_one(stored, CREDENTIAL_COLUMNS, as_json=as_json)


@credentials_app.command("delete")
def delete_credential(
    ctx: typer.Context,
    provider: str,
    org: OrgOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forget the org's stored credential for PROVIDER."""
    session = session_of(ctx)
    name = f"{provider_name(session, provider, org)}/credential"
    with translated():
        request = api.DeleteProviderCredentialRequest(name=name)
        session.client.admin.DeleteProviderCredential(request)
    output.show_done(f"Deleted {name}.", {"deleted": name}, as_json=as_json)


@credentials_app.command("list")
def list_credentials(
    ctx: typer.Context, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """List the org's stored credentials: providers and part names only."""
    session = session_of(ctx)
    request = api.ListProviderCredentialsRequest(parent=session.org(org))
    with translated():
        stored = session.client.admin.ListProviderCredentials(request).credentials
    output.show_list(
        stored,
        CREDENTIAL_COLUMNS,
        key="credentials",
        title="Provider credentials",
        as_json=as_json,
    )
