"""The pluggy hooks: the ``azure_openai`` family and its providers."""

from __future__ import annotations

import importlib.resources
import logging
from importlib.abc import Traversable
from pathlib import Path

from megarouter.catalog.specfile import load_provider_specs
from megarouter.providers import ProviderSpec, hookimpl
from megarouter.providers.hookspecs import RegisterFamily, RegisterProvider
from megarouter_azure.adapter import AzureOpenAIAdapter

logger = logging.getLogger(__name__)

CATALOG = importlib.resources.files("megarouter_azure") / "catalog.json"


def catalog_specs(path: Path | Traversable = CATALOG) -> list[ProviderSpec]:
    """The provider specs in ``path``, or none when the file is absent."""
    if not path.is_file():
        logger.debug("no catalog at %s; registering no providers", path)
        return []
    return load_provider_specs(path)


@hookimpl
def register_families(register: RegisterFamily) -> None:
    """Register the Azure OpenAI family."""
    register(AzureOpenAIAdapter)


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    """Register every provider listed in the package's ``catalog.json``."""
    for spec in catalog_specs():
        register(spec)
