"""Run a real MegaRouter server whose catalog holds one fake provider.

Used by the kill test: ``python serve_with_fakes.py`` with
MEGAROUTER_* settings in the environment and FAKE_BASE_URL pointing at a
fake OpenAI API. Registers the provider inline, then serves until killed.
"""

from __future__ import annotations

import asyncio
import os

from megarouter.config import load_settings
from megarouter.providers import (
    AuthScheme,
    Capabilities,
    ModelSpec,
    Price,
    ProviderSpec,
    hookimpl,
)
from megarouter.server import serve


class FakeProvider:
    @hookimpl
    def register_providers(self, register):  # type: ignore[no-untyped-def]
        register(
            ProviderSpec(
                name="fake-a",
                family="openai",
                base_url=os.environ["FAKE_BASE_URL"],
                auth=AuthScheme.BEARER,
                credential_env=("FAKE_A_KEY",),
                models=(
                    ModelSpec(
                        id="gpt-4o-mini",
                        context_window=128_000,
                        price=Price(150_000, 600_000),
                        capabilities=Capabilities(streaming=True, tools=True),
                    ),
                ),
            )
        )


if __name__ == "__main__":
    asyncio.run(serve(load_settings(), plugins={"fakes": FakeProvider()}))
