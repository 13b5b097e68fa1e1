"""The build script: its --check mode and how it reads the reference."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from megarouter.providers.spec import ProviderSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "build_catalog.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )


def test_check_passes_on_the_committed_catalogs() -> None:
    result = _run("--check")

    assert result.returncode == 0, result.stderr
    assert "7 catalogs are up to date" in result.stdout


def test_check_fails_when_the_reference_moved_on(
    tmp_path: Path, reference_path: Path
) -> None:
    document = json.loads(reference_path.read_text(encoding="utf-8"))
    document["gpt-4o"]["input_cost_per_token"] = 3e-06
    changed = tmp_path / "reference.json"
    changed.write_text(json.dumps(document), encoding="utf-8")

    result = _run("--check", "--reference", str(changed))

    assert result.returncode == 1
    assert "stale: plugins/megarouter-openai/megarouter_openai/catalog.json" in (
        result.stderr
    )
    assert "megarouter-anthropic" not in result.stderr


def test_models_reachable_only_through_other_apis_are_left_out(
    providers: dict[str, ProviderSpec],
) -> None:
    # The reference serves these only over the Responses or Interactions API.
    openai_ids = {model.id for model in providers["openai"].models}
    gemini_ids = {model.id for model in providers["gemini"].models}
    bedrock_ids = {model.id for model in providers["bedrock"].models}

    assert "computer-use-preview" not in openai_ids
    assert "gemini-omni-flash-preview" not in gemini_ids
    assert "us.openai.gpt-5.4" not in bedrock_ids
    assert "gpt-4o" in openai_ids


def test_models_that_answer_only_in_audio_are_left_out(
    providers: dict[str, ProviderSpec],
) -> None:
    gemini_ids = {model.id for model in providers["gemini"].models}

    assert "gemini-2.5-pro-preview-tts" not in gemini_ids
    assert "lyria-3.5" not in gemini_ids
    assert "gemini-2.5-pro" in gemini_ids


def test_regional_price_rows_do_not_become_models(
    providers: dict[str, ProviderSpec],
) -> None:
    for name in ("azure_openai", "bedrock"):
        assert all("/" not in model.id for model in providers[name].models), name
    assert any(
        model.id.startswith("eu.anthropic.") for model in providers["bedrock"].models
    )


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_catalog", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fact_checks_catch_bad_families_urls_sources_and_duplicates() -> None:
    script = _load_script()
    facts_module = importlib.import_module("catalog_sources.facts")
    fact = facts_module.ProviderFact
    source = facts_module.ModelSource
    reference = {"gpt-4o": {"litellm_provider": "openai", "mode": "chat"}}
    facts = [
        fact("a", "A", "grpc", "https://a.example/v1", "https://a.example"),
        fact("b", "B", "openai", "http://b.example/v1", "https://b.example"),
        fact(
            "c", "C", "openai", "https://c.example/v1", "https://c.example",
            sources=(source("not_a_provider"),),
        ),
        fact("d", "D", "openai", "https://d.example/v1", "https://d.example"),
        fact("d", "D", "openai", "https://d.example/v1", "https://d.example"),
        fact(
            "e", "E", "openai", "http://localhost:8000/v1", "https://e.example",
            self_hosted=True,
        ),
    ]  # fmt: skip

    problems = script.check_facts(facts, reference)

    assert problems == [
        "provider 'd' is listed twice",
        "a: unknown family 'grpc'",
        "b: base_url must be https: http://b.example/v1",
        "c: no reference rows come from 'not_a_provider'",
    ]
