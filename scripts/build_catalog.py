"""Build each provider plugin's ``catalog.json`` from curated facts.

The facts about providers (endpoint, auth, docs) live in
``scripts/catalog_sources/``; the facts about models (mode, context window,
capabilities, list prices) come from the public reference table at
``../shared/data/reference/model_prices_and_context_window.json``. This
script joins the two and writes one catalog per protocol family into the
plugin package that implements the family.

Prices become integer micro-dollars per million tokens, converted from the
reference's decimal text without passing through a float. A model whose
price is missing, zero or incomplete gets ``price: null``: MegaRouter refuses
to route to it until an administrator sets a price. Self-hosted servers
publish no list price, so their models are never priced here.

Usage::

    python scripts/build_catalog.py            # write the catalogs
    python scripts/build_catalog.py --check    # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "scripts"), str(REPO_ROOT)]

from catalog_sources import ALL_PROVIDERS, ProviderFact  # noqa: E402
from catalog_sources.facts import FAMILIES, ModelSource  # noqa: E402

from megarouter.catalog.money import micros_per_mtok_from_usd_per_token  # noqa: E402
from megarouter.catalog.specfile import dump_provider_specs  # noqa: E402
from megarouter.providers.spec import (  # noqa: E402
    Capabilities,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)

DEFAULT_REFERENCE = (
    REPO_ROOT.parent / "shared/data/reference/model_prices_and_context_window.json"
)

# The plugin package that implements each family ships its catalog.
FAMILY_PACKAGES: Mapping[str, str] = {
    "openai": "plugins/megarouter-openai/megarouter_openai",
    "azure_openai": "plugins/megarouter-azure/megarouter_azure",
    "anthropic": "plugins/megarouter-anthropic/megarouter_anthropic",
    "gemini": "plugins/megarouter-gemini/megarouter_gemini",
    "bedrock": "plugins/megarouter-bedrock/megarouter_bedrock",
    "cohere": "plugins/megarouter-cohere/megarouter_cohere",
    "ollama": "plugins/megarouter-ollama/megarouter_ollama",
}
CATALOG_NAME = "catalog.json"
_LOCAL_PREFIXES = ("http://localhost:", "http://127.0.0.1:")

# Families that call OpenAI's paths: a model the reference marks as served
# only elsewhere (the Responses API, realtime) cannot be called through them.
_OPENAI_PATHS = {"chat": "/v1/chat/completions", "embedding": "/v1/embeddings"}
_OPENAI_PATH_FAMILIES = {"openai", "azure_openai"}
# Endpoints no family adapter speaks: a model served only there is left out.
_UNSPOKEN_ENDPOINTS = {
    "/v1/responses",
    "/v1/realtime",
    "/v1/batch",
    "/v1beta/interactions",
}


def load_reference(path: Path) -> dict[str, dict[str, Any]]:
    """The reference table, with every number read exactly as written."""
    document = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    return {key: entry for key, entry in document.items() if isinstance(entry, dict)}


def price_of(entry: Mapping[str, Any], mode: str) -> Price | None:
    """The entry's list price, or None when any part of it is unknown."""
    per_input = _positive_micros(entry.get("input_cost_per_token"))
    if per_input is None:
        return None
    if mode == "embedding":
        return Price(per_input, 0)
    per_output = _positive_micros(entry.get("output_cost_per_token"))
    if per_output is None:
        return None
    return Price(per_input, per_output)


def _positive_micros(value: Any) -> int | None:
    """Micro-dollars per million tokens, or None for a missing or zero price."""
    if value is None or isinstance(value, bool):
        return None
    micros = micros_per_mtok_from_usd_per_token(value)
    return micros if micros > 0 else None


def model_from_entry(
    model_id: str, entry: Mapping[str, Any], *, priced: bool
) -> ModelSpec:
    """One catalog model from one reference entry."""
    mode = str(entry["mode"])
    context_window = entry.get("max_input_tokens") or entry.get("max_tokens") or 0
    max_output = entry.get("max_output_tokens") or 0
    if not max_output and mode == "chat":
        max_output = entry.get("max_tokens") or 0
    capabilities = Capabilities(
        streaming=mode == "chat" and bool(entry.get("supports_native_streaming", True)),
        tools=bool(entry.get("supports_function_calling", False)),
        vision=bool(entry.get("supports_vision", False)),
        json_mode=bool(entry.get("supports_response_schema", False)),
        embeddings=mode == "embedding",
    )
    return ModelSpec(
        id=model_id,
        mode=ModelMode(mode),
        context_window=int(context_window),
        max_output_tokens=int(max_output),
        price=price_of(entry, mode) if priced else None,
        capabilities=capabilities,
    )


def _callable_through(family: str, entry: Mapping[str, Any]) -> bool:
    """Whether the family's adapter can reach the entry's model at all."""
    endpoints = entry.get("supported_endpoints")
    if not endpoints:
        return True
    if family in _OPENAI_PATH_FAMILIES:
        return _OPENAI_PATHS[str(entry["mode"])] in endpoints
    return not set(endpoints) <= _UNSPOKEN_ENDPOINTS


def models_for(
    fact: ProviderFact, reference: Mapping[str, Mapping[str, Any]]
) -> tuple[ModelSpec, ...]:
    """Every model the reference lists for ``fact``'s sources, by id."""
    by_id: dict[str, ModelSpec] = {}
    for source in fact.sources:
        for key, entry in reference.items():
            model = _model_from_source(fact, source, key, entry)
            if model is None:
                continue
            known = by_id.get(model.id)
            # The first row wins, unless only a later one has a price.
            if known is None or (known.price is None and model.price is not None):
                by_id[model.id] = model
    return tuple(by_id[model_id] for model_id in sorted(by_id))


def _answers_in_text(entry: Mapping[str, Any]) -> bool:
    """Whether a chat entry can answer in text (not only speech or music)."""
    outputs = entry.get("supported_output_modalities")
    return entry.get("mode") != "chat" or not outputs or "text" in outputs


def _model_from_source(
    fact: ProviderFact, source: ModelSource, key: str, entry: Mapping[str, Any]
) -> ModelSpec | None:
    """The model one reference row gives ``fact`` through ``source``, if any."""
    if entry.get("litellm_provider") != source.provider:
        return None
    if entry.get("mode") not in source.modes:
        return None
    if not _callable_through(fact.family, entry) or not _answers_in_text(entry):
        return None
    model_id = source.upstream_id(key)
    if model_id is None:
        return None
    return model_from_entry(model_id, entry, priced=not fact.self_hosted)


def spec_for(
    fact: ProviderFact, reference: Mapping[str, Mapping[str, Any]]
) -> ProviderSpec:
    """The provider spec a plugin registers for ``fact``."""
    return ProviderSpec(
        name=fact.name,
        family=fact.family,
        display_name=fact.display_name,
        base_url=fact.base_url,
        auth=fact.auth,
        auth_header=fact.auth_header,
        credential_env=fact.credential_env,
        self_hosted=fact.self_hosted,
        docs_url=fact.docs_url,
        options=dict(fact.options),
        models=models_for(fact, reference),
    )


def check_facts(
    facts: Iterable[ProviderFact], reference: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Mistakes in the curated facts, one sentence each."""
    problems: list[str] = []
    known_sources = {entry.get("litellm_provider") for entry in reference.values()}
    names = Counter(fact.name for fact in facts)
    problems += [
        f"provider {name!r} is listed twice" for name, n in names.items() if n > 1
    ]
    for fact in facts:
        if fact.family not in FAMILIES:
            problems.append(f"{fact.name}: unknown family {fact.family!r}")
        local = fact.self_hosted and fact.base_url.startswith(_LOCAL_PREFIXES)
        if not fact.base_url.startswith("https://") and not local:
            problems.append(f"{fact.name}: base_url must be https: {fact.base_url}")
        problems += [
            f"{fact.name}: no reference rows come from {source.provider!r}"
            for source in fact.sources
            if source.provider not in known_sources
        ]
    return problems


def build(reference_path: Path) -> dict[str, list[ProviderSpec]]:
    """Provider specs grouped by family, ready to write."""
    reference = load_reference(reference_path)
    problems = check_facts(ALL_PROVIDERS, reference)
    if problems:
        raise SystemExit("catalog facts are wrong:\n  " + "\n  ".join(problems))
    by_family: dict[str, list[ProviderSpec]] = defaultdict(list)
    for fact in ALL_PROVIDERS:
        by_family[fact.family].append(spec_for(fact, reference))
    return dict(by_family)


def catalog_texts(by_family: Mapping[str, list[ProviderSpec]]) -> dict[Path, str]:
    """Each catalog file's path and the text it should hold."""
    return {
        REPO_ROOT / FAMILY_PACKAGES[family] / CATALOG_NAME: dump_provider_specs(specs)
        for family, specs in sorted(by_family.items())
    }


def summarize(by_family: Mapping[str, list[ProviderSpec]]) -> str:
    """A few lines on what the catalogs hold."""
    lines = []
    modes: Counter[str] = Counter()
    priced: Counter[str] = Counter()
    for family, specs in sorted(by_family.items()):
        models = [model for spec in specs for model in spec.models]
        lines.append(
            f"{family:>13}: {len(specs):3d} providers, {len(models):5d} models"
        )
        for model in models:
            modes[model.mode.value] += 1
            priced[model.mode.value] += model.price is not None
    total = sum(len(specs) for specs in by_family.values())
    lines.append(f"{'total':>13}: {total:3d} providers")
    for mode in sorted(modes):
        lines.append(f"{mode:>13}: {modes[mode]:5d} models, {priced[mode]:5d} priced")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the catalogs, or with ``--check`` only compare them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a committed file differs"
    )
    args = parser.parse_args(argv)

    by_family = build(args.reference)
    texts = catalog_texts(by_family)

    if args.check:
        stale = [
            path
            for path, text in texts.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)}", file=sys.stderr)
        if stale:
            print("run: python scripts/build_catalog.py", file=sys.stderr)
            return 1
        print(f"{len(texts)} catalogs are up to date")
        return 0

    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(summarize(by_family))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
