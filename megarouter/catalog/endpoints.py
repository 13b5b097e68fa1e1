"""Filling in the placeholders of a provider's endpoint.

Some providers live at an address that depends on the customer: an Azure
resource, an AWS region, a Databricks workspace, a Google Cloud project.
Their catalog entries write such parts as ``{name}`` placeholders in
``base_url`` (or in an option such as ``path_prefix``) and carry an option of
the same name, empty until an operator sets it::

    base_url="https://bedrock-runtime.{region}.amazonaws.com"
    options={"region": "us-east-1"}
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from megarouter.errors import ConfigurationError
from megarouter.providers.spec import ProviderSpec

_FORMATTER = string.Formatter()


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders in ``template``, in order."""
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def fill_placeholders(
    template: str, options: Mapping[str, str], *, provider: str = ""
) -> str:
    """``template`` with every placeholder replaced by the option it names.

    Args:
        template: a URL or path with ``{name}`` placeholders.
        options: the provider's options.
        provider: the provider's name, for the error message.

    Returns:
        The filled-in text.

    Raises:
        ConfigurationError: a placeholder's option is missing or empty.
    """
    missing = [name for name in placeholders(template) if not options.get(name)]
    if missing:
        raise ConfigurationError(
            f"provider {provider or '?'} needs option(s) "
            f"{', '.join(sorted(set(missing)))} set to form {template}"
        )
    return template.format_map(dict(options))


def resolve_base_url(spec: ProviderSpec) -> str:
    """The provider's API root with its placeholders filled in.

    Raises:
        ConfigurationError: an option the URL needs is not set.
    """
    return fill_placeholders(spec.base_url, spec.options, provider=spec.name)
