"""Servers an organisation runs itself, at each one's documented default.

They publish no list price, so their models carry no price: an operator
sets one (their own cost of running the server) before MegaRouter routes
to them. Most accept an optional API key; the catalog assumes none, and an
operator who sets one changes the provider's auth.
"""

from __future__ import annotations

from catalog_sources.facts import ModelSource, ProviderFact, prefixed
from megarouter.providers.spec import AuthScheme


def _server(
    name: str,
    display_name: str,
    base_url: str,
    docs_url: str,
    *sources: ModelSource,
) -> ProviderFact:
    return ProviderFact(
        name=name,
        display_name=display_name,
        family="openai",
        base_url=base_url,
        docs_url=docs_url,
        auth=AuthScheme.NONE,
        self_hosted=True,
        sources=sources,
    )


# One compact call per provider reads better than the formatter's layout.
# fmt: off
SELF_HOSTED: tuple[ProviderFact, ...] = (
    _server(
        "vllm", "vLLM", "http://localhost:8000/v1",
        "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
    ),
    _server(
        "sglang", "SGLang", "http://localhost:30000/v1",
        "https://docs.sglang.ai/basic_usage/openai_api.html",
    ),
    _server(
        "tgi", "Hugging Face Text Generation Inference", "http://localhost:8080/v1",
        "https://huggingface.co/docs/text-generation-inference/messages_api",
    ),
    _server(
        "tei", "Hugging Face Text Embeddings Inference", "http://localhost:8080/v1",
        "https://huggingface.co/docs/text-embeddings-inference/quick_tour",
    ),
    _server(
        "llama_cpp", "llama.cpp server", "http://localhost:8080/v1",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
    ),
    _server(
        "llamafile", "llamafile", "http://localhost:8080/v1",
        "https://github.com/Mozilla-Ocho/llamafile",
    ),
    _server(
        "lm_studio", "LM Studio", "http://localhost:1234/v1",
        "https://lmstudio.ai/docs/app/api/endpoints/openai",
    ),
    _server(
        "localai", "LocalAI", "http://localhost:8080/v1",
        "https://localai.io/features/text-generation/",
    ),
    _server(
        "ollama_openai", "Ollama (OpenAI-compatible endpoint)",
        "http://localhost:11434/v1", "https://docs.ollama.com/api/openai-compatibility",
        prefixed("ollama"),
    ),
    _server(
        "xinference", "Xorbits Inference", "http://localhost:9997/v1",
        "https://inference.readthedocs.io/en/latest/getting_started/using_xinference.html",
    ),
    _server(
        "lemonade", "Lemonade Server", "http://localhost:8000/api/v1",
        "https://lemonade-server.ai/docs/server/server_spec/", prefixed("lemonade"),
    ),
    _server(
        "jan", "Jan", "http://localhost:1337/v1",
        "https://jan.ai/docs/desktop/api-server",
    ),
    _server(
        "gpt4all", "GPT4All API server", "http://localhost:4891/v1",
        "https://docs.gpt4all.io/gpt4all_api_server/home.html",
    ),
    _server(
        "koboldcpp", "KoboldCpp", "http://localhost:5001/v1",
        "https://github.com/LostRuins/koboldcpp/wiki",
    ),
    _server(
        "text_generation_webui", "text-generation-webui", "http://localhost:5000/v1",
        "https://github.com/oobabooga/text-generation-webui/wiki/12-%E2%80%90-OpenAI-API",
    ),
    _server(
        "tabbyapi", "TabbyAPI", "http://localhost:5000/v1",
        "https://github.com/theroyallab/tabbyAPI/wiki",
    ),
    _server(
        "lmdeploy", "LMDeploy api_server", "http://localhost:23333/v1",
        "https://lmdeploy.readthedocs.io/en/latest/llm/api_server.html",
    ),
    _server(
        "tensorrt_llm", "TensorRT-LLM trtllm-serve", "http://localhost:8000/v1",
        "https://nvidia.github.io/TensorRT-LLM/commands/trtllm-serve/trtllm-serve.html",
    ),
    _server(
        "nvidia_nim_local", "NVIDIA NIM (self-hosted)", "http://localhost:8000/v1",
        "https://docs.nvidia.com/nim/large-language-models/latest/api-reference.html",
    ),
    _server(
        "aphrodite", "Aphrodite Engine", "http://localhost:2242/v1",
        "https://aphrodite.pygmalion.chat/usage/openai/",
    ),
    _server(
        "mlc_llm", "MLC LLM serve", "http://127.0.0.1:8000/v1",
        "https://llm.mlc.ai/docs/deploy/rest.html",
    ),
    _server(
        "litellm_proxy", "LiteLLM Proxy", "http://localhost:4000/v1",
        "https://docs.litellm.ai/docs/simple_proxy",
    ),
    _server(
        "docker_model_runner", "Docker Model Runner",
        "http://localhost:12434/engines/v1",
        "https://docs.docker.com/ai/model-runner/api-reference/",
    ),
    _server(
        "exo", "exo", "http://localhost:52415/v1",
        "https://github.com/exo-explore/exo",
    ),
    _server(
        "litert_lm", "LiteRT-LM serve", "http://localhost:9379/v1",
        "https://ai.google.dev/edge/litert-lm/cli/openai_server",
    ),
    _server(
        "tensorzero", "TensorZero Gateway", "http://localhost:3000/openai/v1",
        "https://www.tensorzero.com/docs/gateway/",
    ),
    _server(
        "ramalama", "RamaLama", "http://localhost:8080/v1",
        "https://ramalama.ai/docs",
    ),
)
# fmt: on
