"""Providers and models as data.

A protocol family (OpenAI-compatible, Anthropic Messages, ...) is code: a
:class:`~megarouter.providers.adapter.ProviderAdapter` subclass. A provider
is data over a family: where it lives, how it authenticates, which models it
serves and at what price. Plugins register both.

Money is integer micro-dollars (1 USD = 1,000,000). Prices are micro-dollars
per million tokens, so $0.15 per 1M tokens is 150_000 and the arithmetic
stays in integers.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

MICROS_PER_USD = 1_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000


class AuthScheme(enum.StrEnum):
    """How a provider expects its credential."""

    BEARER = "bearer"  # Authorization: Bearer <key>
    HEADER = "header"  # a named header carries the key (x-api-key, api-key)
    QUERY = "query"  # a query parameter carries the key (?key=)
    SIGV4 = "sigv4"  # AWS Signature Version 4 (access key + secret)
    NONE = "none"  # self-hosted servers without auth


class ModelMode(enum.StrEnum):
    CHAT = "chat"
    EMBEDDING = "embedding"


@dataclass(frozen=True, slots=True)
class Capabilities:
    streaming: bool = True
    tools: bool = False
    vision: bool = False
    json_mode: bool = False
    embeddings: bool = False


@dataclass(frozen=True, slots=True)
class Price:
    """Micro-dollars per million input and output tokens."""

    input_per_mtok: int
    output_per_mtok: int = 0

    def cost_micros(self, input_tokens: int, output_tokens: int) -> int:
        """The cost of a call, rounded up to a whole micro-dollar."""
        numerator = (
            input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
        )
        return -(-numerator // TOKENS_PER_PRICE_UNIT)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model a provider serves.

    Attributes:
        id: the provider's own model id, as sent upstream.
        mode: chat or embedding.
        context_window: input plus output tokens the model accepts.
        max_output_tokens: the most tokens one answer may have, if known.
        price: the list price, or None when the provider publishes none
            (such a model cannot be called until an admin sets a price).
        capabilities: what the model supports.
        aliases: other names callers may use for it.
    """

    id: str
    mode: ModelMode = ModelMode.CHAT
    context_window: int = 0
    max_output_tokens: int = 0
    price: Price | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider integration.

    Attributes:
        name: unique, lowercase id such as ``openai`` or ``groq``.
        family: the protocol family whose adapter speaks to it.
        display_name: a human name.
        base_url: the API root the adapter appends paths to.
        auth: how the credential is sent.
        auth_header: the header name for ``AuthScheme.HEADER``/``QUERY``.
        credential_env: environment variables that may hold the credential,
            first found wins.
        self_hosted: true for servers an organisation runs itself.
        docs_url: where the provider documents its API.
        options: family-specific settings (an API version, extra headers).
        models: the models it serves.
    """

    name: str
    family: str
    display_name: str = ""
    base_url: str = ""
    auth: AuthScheme = AuthScheme.BEARER
    auth_header: str = ""
    credential_env: tuple[str, ...] = ()
    self_hosted: bool = False
    docs_url: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    models: tuple[ModelSpec, ...] = ()

    @property
    def needs_credential(self) -> bool:
        return self.auth is not AuthScheme.NONE


@dataclass(frozen=True, slots=True)
class Credential:
    """A provider credential as the adapter needs it. Never log it."""

    api_key: str = ""
    # For SIGV4 and other multi-part credentials (secret, region, token).
    extra: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "Credential(<redacted>)"

    __str__ = __repr__
