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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
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


# --- a deployment's providers file ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    """What one field of a providers file must hold, and how to say so."""

    check: Callable[[Any], bool]
    expected: str
    show_text: bool = False  # echo a wrong string value (never for free text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choices(values: Iterable[str]) -> _Field:
    allowed = tuple(values)
    return _Field(
        lambda v: v in allowed, "one of " + ", ".join(allowed), show_text=True
    )


_TEXT = _Field(lambda v: isinstance(v, str), "a string")
_COUNT = _Field(_is_int, "a whole number")
_FLAG = _Field(lambda v: isinstance(v, bool), "true or false")
_TEXTS = _Field(
    lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "a list of strings",
)
_MICROS = _Field(_is_int, "whole micro-dollars per million tokens")

_DOCUMENT_FIELDS = {
    "format": _Field(_is_int, f"{FORMAT_VERSION}"),
    "providers": _Field(lambda v: isinstance(v, list), "a list of providers"),
}
PROVIDER_FIELDS: Mapping[str, _Field] = {
    "name": _TEXT,
    "family": _TEXT,
    "display_name": _TEXT,
    "base_url": _TEXT,
    "auth": _choices(scheme.value for scheme in AuthScheme),
    "auth_header": _TEXT,
    "credential_env": _TEXTS,
    "self_hosted": _FLAG,
    "docs_url": _TEXT,
    "options": _Field(
        lambda v: isinstance(v, dict) and all(isinstance(i, str) for i in v.values()),
        "a table of strings",
    ),
    "models": _Field(lambda v: isinstance(v, list), "a list of models"),
}
MODEL_FIELDS: Mapping[str, _Field] = {
    "id": _TEXT,
    "mode": _choices(mode.value for mode in ModelMode),
    "context_window": _COUNT,
    "max_output_tokens": _COUNT,
    "price": _Field(lambda v: v is None or isinstance(v, dict), "a table or null"),
    "capabilities": _Field(lambda v: isinstance(v, dict), "a table"),
    "aliases": _TEXTS,
}
_PRICE_FIELDS = {"input_per_mtok": _MICROS, "output_per_mtok": _MICROS}
_CAPABILITY_FIELDS = {f.name: _FLAG for f in fields(Capabilities)}


def read_providers_file(path: Path) -> list[ProviderSpec]:
    """The provider specs of a deployment's providers file, JSON or TOML.

    A file whose name ends in ``.toml`` is TOML, any other JSON; both hold
    ``{"format": 1, "providers": [...]}`` with the fields of a plugin
    catalog. Unknown fields, wrong types, fractional prices and a name used
    twice are refused rather than ignored.

    Args:
        path: the file the ``providers_file`` setting names.

    Returns:
        The specs in file order (not yet checked against the registry).

    Raises:
        ConfigurationError: the file is unreadable or malformed; the
            message names the file and the entry.
    """
    where = f"providers file {path}"
    document = _parse_document(path, where)
    _check_fields(document, _DOCUMENT_FIELDS, ("format", "providers"), where)
    if document["format"] != FORMAT_VERSION:
        raise ConfigurationError(
            f"{where}: format is {document['format']}, expected {FORMAT_VERSION}"
        )

    specs: list[ProviderSpec] = []
    for index, entry in enumerate(document["providers"]):
        specs.append(_provider_entry(entry, f"{where}: {_entry_name(entry, index)}"))
    _check_unique_names(specs, where)
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


def _entry_name(entry: Any, index: int) -> str:
    """How messages name a providers entry: its name, else its position."""
    name = entry.get("name") if isinstance(entry, dict) else None
    if isinstance(name, str) and name:
        return f"provider {name!r}"
    return f"providers entry {index + 1}"


def _provider_entry(entry: Any, where: str) -> ProviderSpec:
    """One providers entry, its fields and its models' fields checked."""
    _check_fields(entry, PROVIDER_FIELDS, ("name", "family"), where)
    for index, model in enumerate(entry.get("models", ())):
        model_id = model.get("id") if isinstance(model, dict) else None
        named = f"model {model_id!r}" if isinstance(model_id, str) else "model"
        model_where = f"{where}, {named} (models entry {index + 1})"
        _check_fields(model, MODEL_FIELDS, ("id",), model_where)
        if model.get("price") is not None:
            _check_fields(
                model["price"],
                _PRICE_FIELDS,
                tuple(_PRICE_FIELDS),
                f"{model_where} price",
            )
        _check_fields(
            model.get("capabilities", {}),
            _CAPABILITY_FIELDS,
            (),
            f"{model_where} capabilities",
        )
    return provider_from_dict(entry)


def _check_fields(
    data: Any, schema: Mapping[str, _Field], required: tuple[str, ...], where: str
) -> None:
    """``data`` is a table of known fields, the required ones present."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: expected a table, not {_shown(data)}")
    for key in data:
        if key not in schema:
            raise ConfigurationError(
                f"{where}: unknown field {key!r}; known: {', '.join(schema)}"
            )
    for key in required:
        if key not in data:
            raise ConfigurationError(f"{where}: {key!r} is required")
    for key, value in data.items():
        rule = schema[key]
        if not rule.check(value):
            shown = repr(value) if rule.show_text else _shown(value)
            raise ConfigurationError(
                f"{where}: {key} must be {rule.expected}, not {shown}"
            )


def _shown(value: Any) -> str:
    """A wrong value as a message may show it: free text only by its kind."""
    if isinstance(value, str):
        return "a string"  # it may be a key pasted in the wrong place
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _check_unique_names(specs: list[ProviderSpec], where: str) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigurationError(
                f"{where}: provider {spec.name!r} is given more than once"
            )
        seen.add(spec.name)
