"""Read and write provider specs as catalog files.

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

A deployment's providers file (the ``providers_file`` setting) has the same
structure, in JSON or TOML, and is read by :func:`read_providers_file`, which
checks every field's type first, so that a typo stops the server with a
message naming the file and the entry instead of being ignored.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

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


# --- a deployment's providers file ---------------------------------------------


class _Entry(BaseModel):
    """A table of a providers file: unknown fields and lax types are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceEntry(_Entry):
    input_per_mtok: StrictInt = Field(ge=0)
    output_per_mtok: StrictInt = Field(ge=0)


class CapabilitiesEntry(_Entry):
    streaming: StrictBool = True
    tools: StrictBool = False
    vision: StrictBool = False
    json_mode: StrictBool = False
    embeddings: StrictBool = False


class ModelEntry(_Entry):
    id: StrictStr
    mode: ModelMode = ModelMode.CHAT
    context_window: StrictInt = Field(0, ge=0)
    max_output_tokens: StrictInt = Field(0, ge=0)
    price: PriceEntry | None = None
    capabilities: CapabilitiesEntry = CapabilitiesEntry()
    aliases: list[StrictStr] = []


class ProviderEntry(_Entry):
    name: StrictStr
    family: StrictStr
    display_name: StrictStr = ""
    base_url: StrictStr = ""
    auth: AuthScheme = AuthScheme.BEARER
    auth_header: StrictStr = ""
    credential_env: list[StrictStr] = []
    self_hosted: StrictBool = False
    docs_url: StrictStr = ""
    options: dict[StrictStr, StrictStr] = {}
    models: list[ModelEntry] = []


class ProvidersDocument(_Entry):
    format: Literal[1]
    providers: list[ProviderEntry]


def read_providers_file(path: Path) -> list[ProviderSpec]:
    """The provider specs of a deployment's providers file, JSON or TOML.

    A file whose name ends in ``.toml`` is TOML, any other JSON; both hold
    ``{"format": 1, "providers": [...]}`` with the fields of a plugin
    catalog (:class:`ProviderEntry`). Unknown fields, wrong types,
    fractional prices and a name used twice are refused rather than ignored.

    Args:
        path: the file the ``providers_file`` setting names.

    Returns:
        The specs in file order (not yet checked against the registry).

    Raises:
        ConfigurationError: the file is unreadable or malformed; the
            message names the file, the entry and the field.
    """
    where = f"providers file {path}"
    raw = _parse_document(path, where)
    try:
        document = ProvidersDocument.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(_first_problem(exc, raw, where)) from None

    specs = [provider_from_dict(entry.model_dump()) for entry in document.providers]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigurationError(
                f"{where}: provider {spec.name!r} is given more than once"
            )
        seen.add(spec.name)
    return specs


def _parse_document(path: Path, where: str) -> Any:
    """The file's JSON or TOML document as plain dicts and lists."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"{where}: cannot read it: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{where}: cannot read it: not UTF-8 text") from None

    is_toml = path.suffix.lower() == ".toml"
    try:
        return tomllib.loads(text) if is_toml else json.loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError both
        kind = "TOML" if is_toml else "JSON (name it *.toml for TOML)"
        raise ConfigurationError(f"{where}: not valid {kind}: {exc}") from None


def _first_problem(error: ValidationError, raw: Any, where: str) -> str:
    """The first problem pydantic found, placed by provider and model names.

    pydantic's messages never quote the value, which may be a key pasted in
    the wrong place.
    """
    problem = error.errors(include_url=False, include_input=False)[0]
    entries, keys = _place(raw, problem["loc"])
    place = f"{where}: {entries}" if entries else where
    field = ".".join(keys)
    if problem["type"] == "extra_forbidden":
        return f"{place}: unknown field {field!r}"
    if problem["type"] == "missing":
        return f"{place}: {field!r} is required"
    hint = _HINTS.get(keys[-1], "") if keys else ""
    return f"{place}: {field}: {problem['msg']}{hint}"


_PRICE_HINT = " of micro-dollars per million tokens ($0.05 is 50000)"
_HINTS = {"input_per_mtok": _PRICE_HINT, "output_per_mtok": _PRICE_HINT}


def _place(raw: Any, loc: tuple[int | str, ...]) -> tuple[str, list[str]]:
    """Where ``loc`` points: the entries by name, then the field's keys.

    ``("providers", 0, "models", 0, "price", "input_per_mtok")`` becomes
    ``("provider 'vllm', model 'm' (models entry 1)", ["price",
    "input_per_mtok"])``.
    """
    entries: list[str] = []
    keys: list[str] = []
    node, index = raw, 0
    while index < len(loc):
        key = loc[index]
        node = _child(node, key)
        listed = index + 1 < len(loc) and isinstance(loc[index + 1], int)
        if key in ("providers", "models") and listed and not keys:
            position = int(loc[index + 1])
            node = _child(node, position)
            entries.append(_entry_label(str(key), position, node))
            index += 2
            continue
        keys.append(str(key) if isinstance(key, str) else f"[{key}]")
        index += 1
    return ", ".join(entries), keys


def _child(node: Any, key: int | str) -> Any:
    """``node[key]`` when there is one, else None."""
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and key < len(node):
        return node[key]
    return None


def _entry_label(kind: str, position: int, node: Any) -> str:
    """``provider 'vllm'``, ``model 'm' (models entry 1)``, or the position."""
    provider = kind == "providers"
    name_key, singular = ("name", "provider") if provider else ("id", "model")
    name = node.get(name_key) if isinstance(node, dict) else None
    if not isinstance(name, str) or not name:
        return f"{kind} entry {position + 1}"
    if provider:
        return f"{singular} {name!r}"
    return f"{singular} {name!r} ({kind} entry {position + 1})"
