"""Provider integrations: the plugin API and the machinery behind it.

Plugin authors need only this package: the hook markers, the adapter base
class, the spec types and the chat types.
"""

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.hookspecs import hookimpl, hookspec
from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    Credential,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)

__all__ = [
    "AuthScheme",
    "Capabilities",
    "Credential",
    "ModelMode",
    "ModelSpec",
    "Price",
    "ProviderAdapter",
    "ProviderSpec",
    "hookimpl",
    "hookspec",
]
