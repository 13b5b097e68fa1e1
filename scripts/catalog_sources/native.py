"""Providers whose own protocol is a family other than OpenAI-compatible."""

from __future__ import annotations

from catalog_sources.facts import ModelSource, ProviderFact, prefixed
from megarouter.providers.spec import AuthScheme

ANTHROPIC_VERSION = "2023-06-01"
AZURE_OPENAI_API_VERSION = "2024-10-21"

# Data-zone and regional price rows (azure/eu/..., bedrock/us-east-1/...)
# repeat a model at another price; the catalog keeps the global row.
_NESTED = r"/"
# Not a model: the price of a code-interpreter container.
_AZURE_SKIP = r"/|^container$"

NATIVE: tuple[ProviderFact, ...] = (
    ProviderFact(
        name="anthropic",
        display_name="Anthropic",
        family="anthropic",
        base_url="https://api.anthropic.com",
        docs_url="https://docs.anthropic.com/en/api/messages",
        credential_env=("ANTHROPIC_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="x-api-key",
        options={"anthropic_version": ANTHROPIC_VERSION},
        sources=(ModelSource("anthropic", strip=("anthropic/",)),),
    ),
    ProviderFact(
        name="azure_openai",
        display_name="Azure OpenAI",
        family="azure_openai",
        base_url="https://{resource}.openai.azure.com",
        docs_url="https://learn.microsoft.com/en-us/azure/ai-services/openai/reference",
        credential_env=("AZURE_OPENAI_API_KEY", "AZURE_API_KEY"),
        auth=AuthScheme.HEADER,
        auth_header="api-key",
        options={
            "api_version": AZURE_OPENAI_API_VERSION,
            "resource": "",
            "max_tokens_param": "max_completion_tokens",
        },
        sources=(prefixed("azure", skip=_AZURE_SKIP),),
    ),
    ProviderFact(
        name="gemini",
        display_name="Google Gemini API",
        family="gemini",
        base_url="https://generativelanguage.googleapis.com",
        docs_url="https://ai.google.dev/api",
        credential_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        auth=AuthScheme.HEADER,
        auth_header="x-goog-api-key",
        options={"path_prefix": "/v1beta"},
        sources=(prefixed("gemini"),),
    ),
    ProviderFact(
        name="vertex_ai",
        display_name="Google Vertex AI (Gemini)",
        family="gemini",
        base_url="https://aiplatform.googleapis.com",
        docs_url=(
            "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/"
            "inference"
        ),
        credential_env=("VERTEX_AI_ACCESS_TOKEN", "GOOGLE_CLOUD_ACCESS_TOKEN"),
        options={
            "project": "",
            "path_prefix": "/v1/projects/{project}/locations/global/publishers/google",
        },
        sources=(
            ModelSource("vertex_ai", strip=("vertex_ai/",), skip=r"^xai/"),
            ModelSource("vertex_ai-language-models", strip=("vertex_ai/",)),
            ModelSource("vertex_ai-embedding-models", strip=("vertex_ai/",)),
        ),
    ),
    ProviderFact(
        name="bedrock",
        display_name="Amazon Bedrock",
        family="bedrock",
        base_url="https://bedrock-runtime.{region}.amazonaws.com",
        docs_url=(
            "https://docs.aws.amazon.com/bedrock/latest/APIReference/"
            "API_runtime_Converse.html"
        ),
        credential_env=(
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ),
        auth=AuthScheme.SIGV4,
        options={"region": "us-east-1"},
        sources=(
            ModelSource("bedrock", strip=("bedrock/",), skip=_NESTED),
            ModelSource("bedrock_converse", strip=("bedrock/converse/", "bedrock/")),
        ),
    ),
    ProviderFact(
        name="cohere",
        display_name="Cohere",
        family="cohere",
        base_url="https://api.cohere.com",
        docs_url="https://docs.cohere.com/reference/chat",
        credential_env=("COHERE_API_KEY", "CO_API_KEY"),
        sources=(
            ModelSource("cohere", strip=("cohere/",)),
            ModelSource("cohere_chat", strip=("cohere_chat/", "cohere/")),
        ),
    ),
    ProviderFact(
        name="ollama",
        display_name="Ollama",
        family="ollama",
        base_url="http://localhost:11434",
        docs_url="https://github.com/ollama/ollama/blob/main/docs/api.md",
        auth=AuthScheme.NONE,
        self_hosted=True,
        sources=(prefixed("ollama"),),
    ),
    ProviderFact(
        name="ollama_cloud",
        display_name="Ollama Cloud",
        family="ollama",
        base_url="https://ollama.com",
        docs_url="https://docs.ollama.com/cloud",
        credential_env=("OLLAMA_API_KEY",),
    ),
    # Anthropic Messages endpoints offered by other model vendors: the same
    # models and prices as their OpenAI-compatible endpoints.
    ProviderFact(
        name="deepseek_anthropic",
        display_name="DeepSeek (Anthropic API)",
        family="anthropic",
        base_url="https://api.deepseek.com/anthropic",
        docs_url="https://api-docs.deepseek.com/guides/anthropic_api",
        credential_env=("DEEPSEEK_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="x-api-key",
        options={"anthropic_version": ANTHROPIC_VERSION},
        sources=(ModelSource("deepseek", strip=("deepseek/",)),),
    ),
    ProviderFact(
        name="moonshot_anthropic",
        display_name="Moonshot AI Kimi (Anthropic API)",
        family="anthropic",
        base_url="https://api.moonshot.ai/anthropic",
        docs_url="https://platform.moonshot.ai/docs",
        credential_env=("MOONSHOT_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="x-api-key",
        options={"anthropic_version": ANTHROPIC_VERSION},
        sources=(prefixed("moonshot"),),
    ),
    ProviderFact(
        name="zai_anthropic",
        display_name="Z.ai GLM (Anthropic API)",
        family="anthropic",
        base_url="https://api.z.ai/api/anthropic",
        docs_url="https://docs.z.ai",
        credential_env=("ZAI_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="x-api-key",
        options={"anthropic_version": ANTHROPIC_VERSION},
        sources=(prefixed("zai"),),
    ),
    ProviderFact(
        name="minimax_anthropic",
        display_name="MiniMax (Anthropic API)",
        family="anthropic",
        base_url="https://api.minimax.io/anthropic",
        docs_url="https://platform.minimax.io/docs",
        credential_env=("MINIMAX_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="x-api-key",
        options={"anthropic_version": ANTHROPIC_VERSION},
        sources=(prefixed("minimax"),),
    ),
)
