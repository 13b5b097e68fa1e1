"""A providers file's endpoints, called through a real server over sockets.

A fake OpenAI-compatible server on loopback stands in for a self-hosted
vLLM; the providers file points the catalog at it, and a client calls the
gateway, which calls the fake, both over real sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from megarouter_openai.fake import OpenAIFake
from typer.testing import CliRunner

from megarouter.cli.admin import app as admin_app
from megarouter.testing.server import RunningServer, running_server, server_settings
from megarouter.v1 import admin_service_pb2 as admin_api
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc
from tests.admin.support import Admin, auth
from tests.completions.test_completion_e2e import complete_request, usage_rows

SERVED = "meta-llama/Llama-3.1-8B-Instruct"
KEY = "vllm-key-7f3a9c0e51"


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIFake]:
    """A self-hosted, OpenAI-compatible server serving one model."""
    with OpenAIFake(api_key=KEY, chat_model=SERVED) as fake:
        yield fake


def providers_file(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"format": 1, "providers": list(entries)}))
    return path


@pytest.fixture
async def gateway(
    upstream: OpenAIFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningServer]:
    """A server whose providers file adds gpu-box and replaces vllm."""
    monkeypatch.setenv("GPU_BOX_KEY", KEY)
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    upstream.reset()
    gpu_box = {
        "name": "gpu-box",
        "family": "openai",
        "base_url": upstream.base_url,
        "credential_env": ["GPU_BOX_KEY"],
        "self_hosted": True,
        "models": [
            {
                "id": SERVED,
                "context_window": 131072,
                "price": {"input_per_mtok": 50_000, "output_per_mtok": 100_000},
            }
        ],
    }
    # The shipped vllm entry (localhost, auth none, no models), moved to the
    # fake and given a model without a price, the way README sets one.
    vllm = {
        "name": "vllm",
        "family": "openai",
        "base_url": upstream.base_url,
        "auth": "bearer",
        "credential_env": ["VLLM_API_KEY"],
        "self_hosted": True,
        "models": [{"id": SERVED, "context_window": 131072,
                    "aliases": ["llama-3-8b"]}],
    }
    settings = server_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path,
        plugins="openai",
        providers_file=providers_file(tmp_path, gpu_box, vllm),
    )
    async with running_server(settings) as server:
        yield server


async def complete(server: RunningServer, model: str) -> api.CompleteResponse:
    async with server.channel() as channel:
        stub = api_grpc.CompletionServiceStub(channel)
        return await stub.Complete(  # type: ignore[no-any-return]
            complete_request(model=model, max_tokens=50),
            metadata=auth(server.admin_key),
            timeout=30,
        )


async def test_a_provider_the_file_adds_answers_and_its_usage_is_recorded(
    gateway: RunningServer, upstream: OpenAIFake
) -> None:
    response = await complete(gateway, f"gpu-box/{SERVED}")

    assert response.message.content[0].text == upstream.reply_text
    assert (response.provider, response.model) == ("gpu-box", f"gpu-box/{SERVED}")
    usage = response.usage
    expected = -(-(usage.input_tokens * 50_000 + usage.output_tokens * 100_000)
                 // 1_000_000)
    assert usage.input_tokens > 0 and usage.cost_micros == expected
    [row] = await usage_rows(gateway)
    assert (row.provider, row.model, row.status) == (
        "gpu-box", f"gpu-box/{SERVED}", "OK"
    )
    assert (row.input_tokens, row.output_tokens, row.cost_micros) == (
        usage.input_tokens, usage.output_tokens, expected
    )


async def test_the_replaced_vllm_is_routable_once_the_readme_sets_its_price(
    gateway: RunningServer, upstream: OpenAIFake
) -> None:
    argv = ["--target", gateway.target, "--key", gateway.admin_key, "models",
            "set-price", "vllm/llama-3-8b", "--input", "0.05", "--output", "0.10"]
    priced = await asyncio.to_thread(CliRunner().invoke, admin_app, argv)

    response = await complete(gateway, "vllm/llama-3-8b")

    assert priced.exit_code == 0, priced.output
    assert response.provider == "vllm" and response.model == f"vllm/{SERVED}"
    assert response.message.content[0].text == upstream.reply_text
    assert response.usage.cost_micros > 0


async def test_list_providers_says_which_came_from_the_file(
    gateway: RunningServer,
) -> None:
    async with gateway.channel() as channel:
        listed = await Admin(channel, gateway.admin_key).ListProviders(
            admin_api.ListProvidersRequest(parent="orgs/default", page_size=1000)
        )

    plugins = {p.provider_id: p.plugin for p in listed.providers}
    file_origin = f"providers file {gateway.runtime.settings.providers_file}"
    assert plugins["gpu-box"] == plugins["vllm"] == file_origin
    assert plugins["tgi"].startswith("openai")
