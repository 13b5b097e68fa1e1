"""MegaRouter hooks for the Ollama family and its providers."""

from __future__ import annotations

import importlib.resources
import logging
from importlib.abc import Traversable
from pathlib import Path

from megarouter.catalog.specfile import load_provider_specs
from megarouter.providers import ProviderSpec, hookimpl
from megarouter.providers.hookspecs import RegisterFamily, RegisterProvider
from megarouter_ollama.adapter import OllamaAdapter

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"


def packaged_catalog() -> Traversable:
    """Where this distribution's catalog lives (built by scripts/build_catalog.py)."""
    return importlib.resources.files(__package__) / CATALOG_FILE


def catalog_specs(path: Path | Traversable) -> list[ProviderSpec]:
    """The provider specs in a catalog file, or none when it is absent."""
    if not path.is_file():
        logger.info("no provider catalog at %s; registering no providers", path)
        return []
    return load_provider_specs(path)


@hookimpl
def register_families(register: RegisterFamily) -> None:
    register(OllamaAdapter)


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    for spec in catalog_specs(packaged_catalog()):
        register(spec)
