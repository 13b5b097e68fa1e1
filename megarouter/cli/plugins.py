"""``megarouter plugins ...`` and ``megarouter models ...``: offline catalog views.

Both load the installed provider plugins (entry-point group ``megarouter``,
limited by the ``MEGAROUTER_PLUGINS`` setting), then the deployment's
providers file (``MEGAROUTER_PROVIDERS_FILE``), without touching the network
or the database.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from megarouter.errors import ConfigurationError
from megarouter.plugin_template import scaffold_plugin

# Loading plugins needs the settings and the provider machinery (pydantic,
# httpx); the commands import them when they run, so `megarouter --help`
# need not.
if TYPE_CHECKING:
    from megarouter.providers.registry import (
        PluginOrigin,
        ProviderRegistry,
        RegisteredModel,
    )
    from megarouter.providers.spec import Price

app = typer.Typer(
    help="Provider plugins: list the installed ones, scaffold a new one.",
    no_args_is_help=True,
)
models_app = typer.Typer(
    help="The model catalog the installed plugins provide.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")]


class Mode(enum.StrEnum):
    """``ModelMode``'s values, as choices (a test checks both agree)."""

    CHAT = "chat"
    EMBEDDING = "embedding"


@dataclass(slots=True)
class PluginSummary:
    """What one plugin brought, for listing."""

    origin: PluginOrigin
    families: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    models: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        listed: dict[str, Any] = {
            "plugin": self.origin.plugin,
            "distribution": self.origin.distribution,
            "version": self.origin.version,
            "families": self.families,
            "providers": self.providers,
            "models": self.models,
            "problems": self.problems,
        }
        if self.origin.file:
            listed["file"] = self.origin.file
        return listed


def load_installed_plugins() -> ProviderRegistry:
    """The installed plugins the settings allow, then the providers file."""
    from megarouter.config import load_settings
    from megarouter.providers.registry import ProviderRegistry

    registry = ProviderRegistry()
    try:
        settings = load_settings()
        registry.load(
            settings.plugin_allow_list, providers_file=settings.providers_file
        )
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return registry


def summarize_plugins(registry: ProviderRegistry) -> list[PluginSummary]:
    """One summary per plugin, including plugins that failed to load."""
    summaries: dict[str, PluginSummary] = {
        origin.plugin: PluginSummary(origin) for origin in registry.plugins
    }

    def summary_of(origin: PluginOrigin) -> PluginSummary:
        return summaries.setdefault(origin.plugin, PluginSummary(origin))

    for family, origin in registry.family_origins.items():
        summary_of(origin).families.append(family)
    for name, registered in registry.providers.items():
        summary = summary_of(registered.origin)
        summary.providers.append(name)
        summary.models += len(registered.spec.models)
    for problem in registry.problems:
        summary_of(problem.origin).problems.append(problem.message)
    return sorted(summaries.values(), key=lambda s: s.origin.plugin)


@app.command("list")
def list_plugins(as_json: JsonOption = False) -> None:
    """List installed plugins: families, providers, models and problems."""
    summaries = summarize_plugins(load_installed_plugins())

    if as_json:
        typer.echo(json.dumps({"plugins": [s.as_dict() for s in summaries]}, indent=1))
        return

    table = _table(
        "MegaRouter plugins",
        "Plugin",
        "Distribution",
        "Families",
        "Providers",
        "Models",
        "Problems",
    )
    for s in summaries:
        table.add_row(
            s.origin.plugin,
            _where_from(s.origin),
            ", ".join(s.families),
            str(len(s.providers)),
            str(s.models),
            "\n".join(s.problems) or "-",
        )
    Console().print(table)


@app.command("new")
def new_plugin(
    name: Annotated[str, typer.Argument(help="Provider name, such as 'acme'.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the distribution.")
    ] = Path("."),
) -> None:
    """Scaffold a plugin distribution that passes the conformance kit."""
    try:
        root = scaffold_plugin(name, directory)
    except (ValueError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {root}")
    typer.echo(f"next: pip install -e {root} && pytest {root / 'tests'}")


def _where_from(origin: PluginOrigin) -> str:
    """The Distribution cell: a distribution, the providers file, or neither."""
    if origin.file:
        return f"file {origin.file}"
    distribution = f"{origin.distribution} {origin.version}".strip()
    return distribution or "(in process)"


def _table(title: str, *columns: str) -> Table:
    """A table whose long cells wrap instead of being cut short."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


# --- models -------------------------------------------------------------------


def format_usd_per_mtok(micros: int) -> str:
    """``$0.15`` for 150_000 micro-dollars; cents always shown, never rounded."""
    from megarouter.providers.spec import MICROS_PER_USD

    dollars = Decimal(micros) / MICROS_PER_USD
    if dollars == dollars.quantize(Decimal("0.01")):
        return f"${dollars:.2f}"
    return f"${dollars.normalize():f}"


def price_cells(price: Price | None) -> tuple[str, str]:
    """Input and output price cells; a model without a price is 'unpriced'."""
    if price is None:
        return "unpriced", "unpriced"
    return (
        format_usd_per_mtok(price.input_per_mtok),
        format_usd_per_mtok(price.output_per_mtok),
    )


def capability_names(entry: RegisteredModel) -> list[str]:
    caps = entry.model.capabilities
    flags = {
        "streaming": caps.streaming,
        "tools": caps.tools,
        "vision": caps.vision,
        "json": caps.json_mode,
        "embeddings": caps.embeddings,
    }
    return [name for name, on in flags.items() if on]


def model_as_dict(entry: RegisteredModel) -> dict[str, Any]:
    model, price = entry.model, entry.model.price
    return {
        "id": entry.global_id,
        "provider": entry.provider.name,
        "model": model.id,
        "mode": model.mode.value,
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "price": None
        if price is None
        else {
            "input_micros_per_mtok": price.input_per_mtok,
            "output_micros_per_mtok": price.output_per_mtok,
        },
        "capabilities": capability_names(entry),
        "aliases": list(model.aliases),
    }


@models_app.command("list")
def list_models(
    provider: Annotated[
        str | None, typer.Option("--provider", help="Only this provider's models.")
    ] = None,
    mode: Annotated[
        Mode | None, typer.Option("--mode", help="Only chat or embedding models.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the catalog's models (plugins, providers file) with prices per 1M."""
    registry = load_installed_plugins()
    if provider is not None and provider not in registry.providers:
        typer.echo(f"error: no provider named {provider!r} is installed", err=True)
        raise typer.Exit(1)
    entries = [
        entry
        for entry in registry.models()
        if (provider is None or entry.provider.name == provider)
        and (mode is None or entry.model.mode.value == mode.value)
    ]

    origins = {name: r.origin for name, r in registry.providers.items()}

    if as_json:
        document = {
            "models": [
                {**model_as_dict(e), "origin": str(origins[e.provider.name])}
                for e in entries
            ]
        }
        typer.echo(json.dumps(document, indent=1))
        return

    table = _table(
        "MegaRouter models",
        "Model",
        "Context",
        "Input $/1M",
        "Output $/1M",
        "Capabilities",
    )
    from_file = sorted(
        {e.provider.name for e in entries if origins[e.provider.name].file}
    )
    if from_file:
        path = origins[from_file[0]].file
        table.caption = f"From providers file {path}: {', '.join(from_file)}"
    for entry in entries:
        table.add_row(
            entry.global_id,
            f"{entry.model.context_window:,}",
            *price_cells(entry.model.price),
            ", ".join(capability_names(entry)),
        )
    Console().print(table)
