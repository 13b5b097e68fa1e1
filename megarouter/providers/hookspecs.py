"""The hooks a MegaRouter plugin may implement.

A plugin is a module (usually in its own distribution) that declares an
entry point in the ``megarouter`` group and implements one or more of these
hooks with ``@megarouter.providers.hookimpl``. MegaRouter calls each hook
once, at start-up, with a ``register`` callback.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import ProviderSpec

PROJECT = "megarouter"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

RegisterFamily = Callable[[type[ProviderAdapter]], None]
RegisterProvider = Callable[[ProviderSpec], None]


@hookspec
def register_families(register: RegisterFamily) -> None:
    """Register protocol families: adapter classes, one per wire protocol.

    Args:
        register: call once per adapter class. The class's ``family``
            attribute is its name; providers refer to it by that name. Two
            plugins registering the same family name is an error, reported
            against the second one, which is skipped.
    """


@hookspec
def register_providers(register: RegisterProvider) -> None:
    """Register provider integrations: data over a protocol family.

    Args:
        register: call once per :class:`ProviderSpec`. The spec's ``family``
            must name a registered family (from this or another plugin) and
            its ``name`` must be unique across all plugins; a spec that
            breaks either rule is reported and skipped.
    """
