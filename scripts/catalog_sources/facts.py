"""The shape of one curated provider fact."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from megarouter.providers.spec import AuthScheme

FAMILIES = (
    "openai",
    "azure_openai",
    "anthropic",
    "gemini",
    "bedrock",
    "cohere",
    "ollama",
)


@dataclass(frozen=True)
class ModelSource:
    """Which reference entries hold a provider's models, and how to name them.

    Attributes:
        provider: the reference table's ``litellm_provider`` value.
        strip: key prefixes removed (first match wins) to get the upstream id.
        skip: a regex; upstream ids it matches (``re.search``) are left out.
        only: a regex; when set, only upstream ids it matches are kept.
        prefixed_only: keep only keys that started with one of ``strip``.
        bare_prefix: put before an upstream id that has no ``/`` in it.
        modes: the reference modes taken from this source.
    """

    provider: str
    strip: tuple[str, ...] = ()
    skip: str = ""
    only: str = ""
    prefixed_only: bool = False
    bare_prefix: str = ""
    modes: tuple[str, ...] = ("chat", "embedding")

    def upstream_id(self, key: str) -> str | None:
        """The provider's own model id for a reference key, or None to skip."""
        model_id = key
        for prefix in self.strip:
            if key.startswith(prefix):
                model_id = key[len(prefix) :]
                break
        else:
            if self.prefixed_only:
                return None
        if not model_id:
            return None
        if self.skip and re.search(self.skip, model_id):
            return None
        if self.only and not re.search(self.only, model_id):
            return None
        if self.bare_prefix and "/" not in model_id:
            model_id = self.bare_prefix + model_id
        return model_id


@dataclass(frozen=True)
class ProviderFact:
    """One provider integration as documented by the provider.

    ``base_url`` may hold ``{placeholders}`` that name keys of ``options``
    (a region, an account, a resource); an operator fills them in.
    """

    name: str
    display_name: str
    family: str
    base_url: str
    docs_url: str
    credential_env: tuple[str, ...] = ()
    auth: AuthScheme = AuthScheme.BEARER
    auth_header: str = ""
    self_hosted: bool = False
    options: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[ModelSource, ...] = ()


def openai_compatible(
    name: str,
    display_name: str,
    base_url: str,
    docs_url: str,
    env: str,
    *sources: ModelSource,
    **options: str,
) -> ProviderFact:
    """A hosted OpenAI-compatible provider with a bearer API key."""
    return ProviderFact(
        name=name,
        display_name=display_name,
        family="openai",
        base_url=base_url,
        docs_url=docs_url,
        credential_env=(env,),
        options=dict(options),
        sources=sources,
    )


def prefixed(
    provider: str,
    prefix: str | None = None,
    *,
    skip: str = "",
    only: str = "",
    bare_prefix: str = "",
    modes: tuple[str, ...] = ("chat", "embedding"),
) -> ModelSource:
    """A source whose keys read ``<prefix>/<model id>``."""
    return ModelSource(
        provider,
        strip=(f"{prefix or provider}/",),
        skip=skip,
        only=only,
        prefixed_only=True,
        bare_prefix=bare_prefix,
        modes=modes,
    )
