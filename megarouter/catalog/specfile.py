"""Read and write provider specs as JSON catalog files.

Each plugin distribution ships a ``catalog.json`` built by
``scripts/build_catalog.py``. The file is a plain JSON document::

    {"format": 1, "providers": [{"name": "groq", "family": "openai", ...,
      "models": [{"id": "llama-3.3-70b-versatile", "mode": "chat",
                  "context_window": 131072, "max_output_tokens": 32768,
                  "price": {"input_per_mtok": 590000, "output_per_mtok": 790000},
                  "capabilities": {"streaming": true, "tools": true, ...},
                  "aliases": []}]}]}

Prices are integer micro-dollars per million tokens; ``price`` is null when
the provider publishes none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from megarouter.errors import ConfigurationError
from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)

FORMAT_VERSION = 1


def load_provider_specs(path: Path | Traversable) -> list[ProviderSpec]:
    """Read every provider spec from a catalog file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read catalog {path}: {exc}") from exc
    if document.get("format") != FORMAT_VERSION:
        raise ConfigurationError(
            f"catalog {path} has format {document.get('format')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    return [provider_from_dict(item) for item in document["providers"]]


def provider_from_dict(data: dict[str, Any]) -> ProviderSpec:
    return ProviderSpec(
        name=data["name"],
        family=data["family"],
        display_name=data.get("display_name", ""),
        base_url=data.get("base_url", ""),
        auth=AuthScheme(data.get("auth", "bearer")),
        auth_header=data.get("auth_header", ""),
        credential_env=tuple(data.get("credential_env", ())),
        self_hosted=bool(data.get("self_hosted", False)),
        docs_url=data.get("docs_url", ""),
        options=dict(data.get("options", {})),
        models=tuple(model_from_dict(m) for m in data.get("models", ())),
    )


def model_from_dict(data: dict[str, Any]) -> ModelSpec:
    price = data.get("price")
    return ModelSpec(
        id=data["id"],
        mode=ModelMode(data.get("mode", "chat")),
        context_window=int(data.get("context_window", 0)),
        max_output_tokens=int(data.get("max_output_tokens", 0)),
        price=(
            Price(int(price["input_per_mtok"]), int(price.get("output_per_mtok", 0)))
            if price
            else None
        ),
        capabilities=Capabilities(**data.get("capabilities", {})),
        aliases=tuple(data.get("aliases", ())),
    )


def provider_to_dict(spec: ProviderSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "family": spec.family,
        "display_name": spec.display_name,
        "base_url": spec.base_url,
        "auth": spec.auth.value,
        "auth_header": spec.auth_header,
        "credential_env": list(spec.credential_env),
        "self_hosted": spec.self_hosted,
        "docs_url": spec.docs_url,
        "options": dict(spec.options),
        "models": [model_to_dict(m) for m in spec.models],
    }


def model_to_dict(model: ModelSpec) -> dict[str, Any]:
    caps = model.capabilities
    return {
        "id": model.id,
        "mode": model.mode.value,
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "price": (
            {
                "input_per_mtok": model.price.input_per_mtok,
                "output_per_mtok": model.price.output_per_mtok,
            }
            if model.price
            else None
        ),
        "capabilities": {
            "streaming": caps.streaming,
            "tools": caps.tools,
            "vision": caps.vision,
            "json_mode": caps.json_mode,
            "embeddings": caps.embeddings,
        },
        "aliases": list(model.aliases),
    }


def dump_provider_specs(specs: Iterable[ProviderSpec]) -> str:
    """A catalog file's text for ``specs``, stable for diffs."""
    document = {
        "format": FORMAT_VERSION,
        "providers": [provider_to_dict(s) for s in sorted(specs, key=lambda s: s.name)],
    }
    return json.dumps(document, indent=1, sort_keys=False) + "\n"
