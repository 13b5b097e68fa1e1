"""Checks on what plugins register, before the registry accepts it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import ModelSpec, ProviderSpec

# Lowercase, no slash: a provider name is the first part of a global model id.
PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


class InvalidRegistration(ValueError):
    """A plugin registered something the registry cannot accept."""


def check_family(adapter_class: Any) -> str:
    """The family name of a registrable adapter class.

    Raises:
        InvalidRegistration: not a concrete ProviderAdapter subclass with a
            family name.
    """
    if not (
        isinstance(adapter_class, type) and issubclass(adapter_class, ProviderAdapter)
    ):
        raise InvalidRegistration(
            f"register_families got {adapter_class!r}, not a ProviderAdapter subclass"
        )
    family = adapter_class.family
    if not isinstance(family, str) or not family:
        raise InvalidRegistration(
            f"adapter {adapter_class.__qualname__} sets no 'family' name"
        )
    if inspect.isabstract(adapter_class):
        missing = ", ".join(sorted(adapter_class.__abstractmethods__))
        raise InvalidRegistration(
            f"adapter {adapter_class.__qualname__} does not implement {missing}"
        )
    return family


def check_provider(
    spec: Any, families: Mapping[str, type[ProviderAdapter]]
) -> ProviderSpec:
    """``spec`` itself, once it is known to be a valid provider spec.

    Raises:
        InvalidRegistration: what is wrong with it.
    """
    if not isinstance(spec, ProviderSpec):
        raise InvalidRegistration(
            f"register_providers got {type(spec).__name__}, not a ProviderSpec"
        )
    where = f"provider {spec.name!r}"
    if not isinstance(spec.name, str) or not PROVIDER_NAME.fullmatch(spec.name):
        raise InvalidRegistration(
            f"{where}: a name must be lowercase letters, digits, '.', '_' or '-'"
        )
    if spec.family not in families:
        raise InvalidRegistration(f"{where}: unknown family {spec.family!r}")
    if spec.base_url and not spec.base_url.startswith(("http://", "https://")):
        raise InvalidRegistration(f"{where}: base_url must be an http(s) URL")
    _check_models(where, spec.models)
    return spec


def _check_models(where: str, models: tuple[ModelSpec, ...]) -> None:
    """Model ids and aliases are unique, sizes and prices not negative."""
    names: set[str] = set()
    for model in models:
        if not isinstance(model, ModelSpec) or not model.id:
            raise InvalidRegistration(f"{where}: a model has no id")
        for name in (model.id, *model.aliases):
            if name in names:
                raise InvalidRegistration(f"{where}: model name {name!r} is used twice")
            names.add(name)
        if model.context_window < 0 or model.max_output_tokens < 0:
            raise InvalidRegistration(
                f"{where}: model {model.id!r} has a negative size"
            )
        price = model.price
        if price is not None and (
            not isinstance(price.input_per_mtok, int)
            or not isinstance(price.output_per_mtok, int)
            or price.input_per_mtok < 0
            or price.output_per_mtok < 0
        ):
            raise InvalidRegistration(
                f"{where}: model {model.id!r} price must be whole micro-dollars >= 0"
            )
