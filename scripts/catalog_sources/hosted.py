"""Hosted OpenAI-compatible providers that the reference model table prices."""

from __future__ import annotations

from catalog_sources.facts import ModelSource, ProviderFact, prefixed
from catalog_sources.facts import openai_compatible as oai
from megarouter.providers.spec import AuthScheme

_CHAT = ("chat",)

# One compact call per provider reads better than the formatter's layout.
# fmt: off
HOSTED: tuple[ProviderFact, ...] = (
    oai(
        "openai", "OpenAI", "https://api.openai.com/v1",
        "https://platform.openai.com/docs/api-reference", "OPENAI_API_KEY",
        ModelSource("openai", strip=("openai/",), skip=r"^(ft:|container$)"),
        max_tokens_param="max_completion_tokens",
    ),
    oai(
        "ai21", "AI21 Labs", "https://api.ai21.com/studio/v1",
        "https://docs.ai21.com/reference/jamba-1-6-api-ref", "AI21_API_KEY",
        ModelSource("ai21", strip=("ai21/",), skip=r"@"),
    ),
    oai(
        "aihubmix", "AIHubMix", "https://aihubmix.com/v1",
        "https://docs.aihubmix.com", "AIHUBMIX_API_KEY", prefixed("aihubmix"),
    ),
    oai(
        "amazon_nova", "Amazon Nova API", "https://api.nova.amazon.com/v1",
        "https://nova.amazon.com/dev/documentation", "NOVA_API_KEY",
        prefixed("amazon_nova", "amazon-nova"),
    ),
    ProviderFact(
        name="azure_ai",
        display_name="Azure AI Foundry Models",
        family="openai",
        base_url="https://{resource}.services.ai.azure.com/models",
        docs_url="https://learn.microsoft.com/en-us/azure/ai-foundry/model-inference/",
        credential_env=("AZURE_AI_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="api-key",
        options={"resource": "", "api_version": "2024-05-01-preview"},
        # Claude on Foundry speaks the Anthropic Messages API, not this one.
        sources=(prefixed("azure_ai", skip=r"^claude"),),
    ),
    oai(
        "baseten", "Baseten", "https://inference.baseten.co/v1",
        "https://docs.baseten.co/development/model-apis/overview", "BASETEN_API_KEY",
        prefixed("baseten"),
    ),
    oai(
        "bedrock_mantle", "Amazon Bedrock (OpenAI-compatible)",
        "https://bedrock-mantle.{region}.api.aws/v1",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/bedrock-mantle.html",
        "AWS_BEARER_TOKEN_BEDROCK", prefixed("bedrock_mantle", modes=_CHAT),
        region="us-east-1",
    ),
    oai(
        "cerebras", "Cerebras", "https://api.cerebras.ai/v1",
        "https://inference-docs.cerebras.ai/api-reference/chat-completions",
        "CEREBRAS_API_KEY", prefixed("cerebras"),
    ),
    oai(
        "cloudflare", "Cloudflare Workers AI",
        "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
        "https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/",
        "CLOUDFLARE_API_TOKEN", prefixed("cloudflare"), account_id="",
    ),
    oai(
        "codestral", "Mistral Codestral", "https://codestral.mistral.ai/v1",
        "https://docs.mistral.ai/capabilities/code_generation/", "CODESTRAL_API_KEY",
        prefixed("codestral"),
    ),
    oai(
        "crusoe", "Crusoe Managed Inference", "https://api.inference.crusoecloud.com/v1",
        "https://docs.crusoecloud.com/quickstart/getting-started-with-serverless-inference",
        "CRUSOE_API_KEY", prefixed("crusoe"),
    ),
    oai(
        "darkbloom", "Darkbloom", "https://api.darkbloom.dev/v1",
        "https://www.darkbloom.dev/", "DARKBLOOM_API_KEY", prefixed("darkbloom"),
    ),
    oai(
        "dashscope", "Alibaba Cloud Model Studio (international)",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
        "DASHSCOPE_API_KEY", prefixed("dashscope"),
    ),
    oai(
        "databricks", "Databricks Foundation Model APIs",
        "https://{workspace}/serving-endpoints",
        "https://docs.databricks.com/aws/en/machine-learning/foundation-model-apis/",
        "DATABRICKS_TOKEN", prefixed("databricks"), workspace="",
    ),
    oai(
        "deepinfra", "DeepInfra", "https://api.deepinfra.com/v1/openai",
        "https://deepinfra.com/docs/openai_api", "DEEPINFRA_API_KEY",
        prefixed("deepinfra"),
    ),
    oai(
        "deepseek", "DeepSeek", "https://api.deepseek.com",
        "https://api-docs.deepseek.com/", "DEEPSEEK_API_KEY",
        ModelSource("deepseek", strip=("deepseek/",)),
    ),
    oai(
        "featherless_ai", "Featherless AI", "https://api.featherless.ai/v1",
        "https://featherless.ai/docs/overview", "FEATHERLESS_API_KEY",
        prefixed("featherless_ai"),
    ),
    oai(
        "fireworks_ai", "Fireworks AI", "https://api.fireworks.ai/inference/v1",
        "https://docs.fireworks.ai/api-reference/introduction", "FIREWORKS_API_KEY",
        prefixed(
            "fireworks_ai",
            skip=r"^accounts/fireworks/routers/",
            bare_prefix="accounts/fireworks/models/",
        ),
        prefixed("fireworks_ai-embedding-models", "fireworks_ai"),
    ),
    oai(
        "friendliai", "FriendliAI Serverless", "https://api.friendli.ai/serverless/v1",
        "https://friendli.ai/docs/guides/serverless_endpoints/introduction",
        "FRIENDLI_TOKEN", prefixed("friendliai"),
    ),
    oai(
        "gmi", "GMI Cloud", "https://api.gmi-serving.com/v1",
        "https://docs.gmicloud.ai", "GMI_API_KEY", prefixed("gmi"),
    ),
    oai(
        "gradient_ai", "DigitalOcean Gradient AI", "https://inference.do-ai.run/v1",
        "https://docs.digitalocean.com/products/gradient-ai-platform/",
        "GRADIENT_MODEL_ACCESS_KEY", prefixed("gradient_ai"),
    ),
    oai(
        "groq", "Groq", "https://api.groq.com/openai/v1",
        "https://console.groq.com/docs/openai", "GROQ_API_KEY", prefixed("groq"),
    ),
    oai(
        "heroku", "Heroku Managed Inference", "https://us.inference.heroku.com/v1",
        "https://devcenter.heroku.com/articles/heroku-inference-api-v1-chat-completions",
        "INFERENCE_KEY", prefixed("heroku"),
    ),
    oai(
        "hyperbolic", "Hyperbolic", "https://api.hyperbolic.xyz/v1",
        "https://docs.hyperbolic.xyz/docs/rest-api", "HYPERBOLIC_API_KEY",
        prefixed("hyperbolic"),
    ),
    oai(
        "inception", "Inception Labs", "https://api.inceptionlabs.ai/v1",
        "https://docs.inceptionlabs.ai/get-started/models", "INCEPTION_API_KEY",
        prefixed("inception"),
    ),
    oai(
        "lambda_ai", "Lambda Inference", "https://api.lambda.ai/v1",
        "https://docs.lambda.ai/public-cloud/lambda-inference-api/", "LAMBDA_API_KEY",
        prefixed("lambda_ai"),
    ),
    oai(
        "libertai", "LibertAI", "https://api.libertai.io/v1",
        "https://docs.libertai.io/apis/text/", "LIBERTAI_API_KEY",
        prefixed("libertai"),
    ),
    oai(
        "llamagate", "LlamaGate", "https://api.llamagate.dev/v1",
        "https://llamagate.dev", "LLAMAGATE_API_KEY", prefixed("llamagate"),
    ),
    oai(
        "meta_llama", "Meta Llama API", "https://api.llama.com/compat/v1",
        "https://llama.developer.meta.com/docs/features/compatibility/",
        "LLAMA_API_KEY", prefixed("meta_llama"),
    ),
    oai(
        "minimax", "MiniMax", "https://api.minimax.io/v1",
        "https://platform.minimax.io/docs", "MINIMAX_API_KEY", prefixed("minimax"),
    ),
    oai(
        "mistral", "Mistral AI", "https://api.mistral.ai/v1",
        "https://docs.mistral.ai/api/", "MISTRAL_API_KEY", prefixed("mistral"),
    ),
    oai(
        "moonshot", "Moonshot AI (Kimi)", "https://api.moonshot.ai/v1",
        "https://platform.moonshot.ai/docs", "MOONSHOT_API_KEY", prefixed("moonshot"),
    ),
    oai(
        "morph", "Morph", "https://api.morphllm.com/v1",
        "https://docs.morphllm.com", "MORPH_API_KEY", prefixed("morph"),
    ),
    oai(
        "nebius", "Nebius Token Factory", "https://api.tokenfactory.nebius.com/v1",
        "https://docs.tokenfactory.nebius.com", "NEBIUS_API_KEY",
        prefixed("nebius"),
    ),
    oai(
        "novita", "Novita AI", "https://api.novita.ai/v3/openai",
        "https://novita.ai/docs/guides/llm-api", "NOVITA_API_KEY", prefixed("novita"),
    ),
    oai(
        "nscale", "Nscale", "https://inference.api.nscale.com/v1",
        "https://docs.nscale.com/docs/inference/serverless-models",
        "NSCALE_API_KEY", prefixed("nscale"),
    ),
    oai(
        "openinfer", "OpenInfer", "https://api.openinfer.ai/v1",
        "https://api.openinfer.ai/v1/models", "OPENINFER_API_KEY",
        prefixed("openinfer"),
    ),
    oai(
        "ovhcloud", "OVHcloud AI Endpoints",
        "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
        "https://www.ovhcloud.com/en/public-cloud/ai-endpoints/",
        "OVH_AI_ENDPOINTS_ACCESS_TOKEN", prefixed("ovhcloud"),
    ),
    oai(
        "perplexity", "Perplexity", "https://api.perplexity.ai",
        "https://docs.perplexity.ai/api-reference/chat-completions-post",
        "PERPLEXITY_API_KEY", prefixed("perplexity", modes=_CHAT),
    ),
    oai(
        "pinstripes", "Pinstripes", "https://pinstripes.io/v1",
        "https://pinstripes.io/", "PINSTRIPES_API_KEY", prefixed("pinstripes"),
    ),
    oai(
        "publicai", "Public AI Inference Utility", "https://api.publicai.co/v1",
        "https://platform.publicai.co/docs", "PUBLICAI_API_KEY",
        prefixed("publicai"),
    ),
    oai(
        "sambanova", "SambaNova Cloud", "https://api.sambanova.ai/v1",
        "https://docs.sambanova.ai/cloud/docs/get-started/overview",
        "SAMBANOVA_API_KEY", prefixed("sambanova"),
    ),
    ProviderFact(
        name="sarvam",
        display_name="Sarvam AI",
        family="openai",
        base_url="https://api.sarvam.ai/v1",
        docs_url="https://docs.sarvam.ai/api-reference-docs/chat/completions",
        credential_env=("SARVAM_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="api-subscription-key",
        sources=(prefixed("sarvam"),),
    ),
    oai(
        "scaleway", "Scaleway Generative APIs", "https://api.scaleway.ai/v1",
        "https://www.scaleway.com/en/docs/generative-apis/", "SCW_SECRET_KEY",
        prefixed("scaleway"),
    ),
    oai(
        "snowflake", "Snowflake Cortex REST API",
        "https://{account}.snowflakecomputing.com/api/v2/cortex/v1",
        "https://docs.snowflake.com/en/user-guide/snowflake-cortex/cortex-rest-api",
        "SNOWFLAKE_PAT", prefixed("snowflake"), account="",
    ),
    oai(
        "tencent", "Tencent Cloud TokenHub", "https://tokenhub-intl.tencentcloudmaas.com/v1",
        "https://www.tencentcloud.com/document/product/1300/78937", "TENCENT_API_KEY",
        prefixed("tencent"),
    ),
    oai(
        "tensormesh", "Tensormesh Serverless", "https://serverless.tensormesh.ai/v1",
        "https://serverless.tensormesh.ai/v1/models", "TENSORMESH_API_KEY",
        prefixed("tensormesh"),
    ),
    oai(
        "together_ai", "Together AI", "https://api.together.xyz/v1",
        "https://docs.together.ai/reference/chat-completions-1", "TOGETHER_API_KEY",
        prefixed("together_ai"),
    ),
    oai(
        "v0", "Vercel v0", "https://api.v0.dev/v1",
        "https://v0.dev/docs/api/model", "V0_API_KEY", prefixed("v0"),
    ),
    oai(
        "vercel_ai_gateway", "Vercel AI Gateway", "https://ai-gateway.vercel.sh/v1",
        "https://vercel.com/docs/ai-gateway/openai-compat", "AI_GATEWAY_API_KEY",
        prefixed("vercel_ai_gateway"),
    ),
    oai(
        "volcengine", "Volcano Engine Ark", "https://ark.cn-beijing.volces.com/api/v3",
        "https://www.volcengine.com/docs/82379/1330310", "ARK_API_KEY",
        ModelSource("volcengine", strip=("volcengine/",)),
    ),
    oai(
        "voyage", "Voyage AI", "https://api.voyageai.com/v1",
        "https://docs.voyageai.com/reference/embeddings-api", "VOYAGE_API_KEY",
        prefixed("voyage"),
    ),
    oai(
        "wandb", "W&B Inference", "https://api.inference.wandb.ai/v1",
        "https://docs.wandb.ai/inference/", "WANDB_API_KEY", prefixed("wandb"),
    ),
    oai(
        "xai", "xAI", "https://api.x.ai/v1",
        "https://docs.x.ai/docs/api-reference", "XAI_API_KEY", prefixed("xai"),
    ),
    oai(
        "xiaomi_mimo", "Xiaomi MiMo", "https://api.xiaomimimo.com/v1",
        "https://platform.xiaomimimo.com/", "XIAOMI_MIMO_API_KEY",
        prefixed("xiaomi_mimo"),
    ),
    oai(
        "zai", "Z.ai (GLM)", "https://api.z.ai/api/paas/v4",
        "https://docs.z.ai/api-reference/llm/chat-completion", "ZAI_API_KEY",
        prefixed("zai"),
    ),
    ProviderFact(
        name="vertex_ai_maas",
        display_name="Google Vertex AI partner and open models (MaaS)",
        family="openai",
        base_url=(
            "https://{location}-aiplatform.googleapis.com/v1/projects/{project}"
            "/locations/{location}/endpoints/openapi"
        ),
        docs_url=(
            "https://cloud.google.com/vertex-ai/generative-ai/docs/"
            "maas/call-open-model-apis"
        ),
        credential_env=("VERTEX_AI_ACCESS_TOKEN", "GOOGLE_CLOUD_ACCESS_TOKEN"),
        options={"project": "", "location": "us-central1"},
        sources=(
            ModelSource("vertex_ai", strip=("vertex_ai/",), only=r"^xai/"),
            *(
                prefixed(f"vertex_ai-{family}_models", "vertex_ai")
                for family in (
                    "llama", "deepseek", "qwen", "openai", "zai", "minimax", "moonshot"
                )
            ),
        ),
    ),
)
# fmt: on
