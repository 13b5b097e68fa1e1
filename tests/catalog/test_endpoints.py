"""Filling in the customer-specific parts of a provider's address."""

from __future__ import annotations

import pytest

from megarouter.catalog.endpoints import fill_placeholders, resolve_base_url
from megarouter.errors import ConfigurationError
from megarouter.providers.spec import ProviderSpec


def test_base_url_takes_the_region_from_the_options(
    providers: dict[str, ProviderSpec],
) -> None:
    bedrock = providers["bedrock"]

    assert (
        resolve_base_url(bedrock) == "https://bedrock-runtime.us-east-1.amazonaws.com"
    )


def test_a_base_url_without_placeholders_is_returned_as_is(
    providers: dict[str, ProviderSpec],
) -> None:
    assert resolve_base_url(providers["groq"]) == "https://api.groq.com/openai/v1"


def test_an_unset_placeholder_is_a_configuration_error_naming_the_option(
    providers: dict[str, ProviderSpec],
) -> None:
    with pytest.raises(
        ConfigurationError, match=r"azure_openai needs option.*resource"
    ):
        resolve_base_url(providers["azure_openai"])


def test_every_placeholder_in_the_catalogs_has_an_option_of_its_name(
    providers: dict[str, ProviderSpec],
) -> None:
    for spec in providers.values():
        filled = {key: "x" for key in spec.options}
        assert "{" not in fill_placeholders(spec.base_url, filled), spec.name


def test_a_path_prefix_is_filled_from_the_same_options() -> None:
    prefix = fill_placeholders(
        "/v1/projects/{project}/locations/global", {"project": "acme"}
    )

    assert prefix == "/v1/projects/acme/locations/global"
