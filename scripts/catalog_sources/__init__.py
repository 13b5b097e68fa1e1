"""Curated facts about the providers MegaRouter ships integrations for.

Each module lists :class:`~catalog_sources.facts.ProviderFact` rows: where a
provider lives, how it authenticates, where it documents its API, and which
entries of the reference model table (by their ``litellm_provider``) hold
its models. ``scripts/build_catalog.py`` joins these facts with the
reference table to write each plugin's ``catalog.json``.
"""

from catalog_sources.facts import ModelSource, ProviderFact
from catalog_sources.hosted import HOSTED
from catalog_sources.more_hosted import MORE_HOSTED
from catalog_sources.native import NATIVE
from catalog_sources.self_hosted import SELF_HOSTED

ALL_PROVIDERS: tuple[ProviderFact, ...] = NATIVE + HOSTED + MORE_HOSTED + SELF_HOSTED

__all__ = ["ALL_PROVIDERS", "ModelSource", "ProviderFact"]
