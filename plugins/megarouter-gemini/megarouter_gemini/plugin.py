"""MegaRouter plugin: the ``gemini`` family and the providers that speak it."""

from __future__ import annotations

import importlib.resources
from importlib.abc import Traversable
from pathlib import Path

from megarouter.catalog.specfile import load_provider_specs
from megarouter.providers import hookimpl
from megarouter.providers.hookspecs import RegisterFamily, RegisterProvider
from megarouter.providers.spec import ProviderSpec
from megarouter_gemini.adapter import GeminiAdapter


@hookimpl
def register_families(register: RegisterFamily) -> None:
    """Register the ``gemini`` protocol family."""
    register(GeminiAdapter)


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    """Register the providers listed in the packaged catalog."""
    for spec in catalog_specs(importlib.resources.files(__package__) / "catalog.json"):
        register(spec)


def catalog_specs(path: Path | Traversable) -> list[ProviderSpec]:
    """The providers in the catalog file at ``path``; none if it is absent."""
    if not path.is_file():
        return []
    return load_provider_specs(path)
