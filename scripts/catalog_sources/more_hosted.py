"""More hosted OpenAI-compatible providers.

Most are not in the reference table and ship without models: an operator
adds the models they use, with a price, before MegaRouter routes to them.
A few are a second, OpenAI-compatible door to a vendor whose native API has
its own family; those carry the vendor's models at the vendor's prices.
"""

from __future__ import annotations

from catalog_sources.facts import ModelSource, ProviderFact, prefixed
from catalog_sources.facts import openai_compatible as oai
from megarouter.providers.spec import AuthScheme

# One compact call per provider reads better than the formatter's layout.
# fmt: off
MORE_HOSTED: tuple[ProviderFact, ...] = (
    # OpenAI-compatible doors to vendors with a native API of their own.
    oai(
        "gemini_openai", "Google Gemini API (OpenAI-compatible)",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "https://ai.google.dev/gemini-api/docs/openai", "GEMINI_API_KEY",
        prefixed("gemini"),
    ),
    oai(
        "cohere_openai", "Cohere (OpenAI-compatible)",
        "https://api.cohere.ai/compatibility/v1",
        "https://docs.cohere.com/docs/compatibility-api", "COHERE_API_KEY",
        ModelSource("cohere_chat", strip=("cohere_chat/", "cohere/")),
        ModelSource("cohere", strip=("cohere/",), modes=("embedding",)),
    ),
    # Routers and gateways.
    ProviderFact(
        name="portkey",
        display_name="Portkey AI Gateway",
        family="openai",
        base_url="https://api.portkey.ai/v1",
        docs_url="https://portkey.ai/docs/api-reference/inference-api/introduction",
        credential_env=("PORTKEY_API_KEY",),
        auth=AuthScheme.HEADER,
        auth_header="x-portkey-api-key",
    ),
    oai(
        "cloudflare_ai_gateway", "Cloudflare AI Gateway (unified API)",
        "https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/compat",
        "https://developers.cloudflare.com/ai-gateway/usage/chat-completion/",
        "CLOUDFLARE_API_TOKEN", account_id="", gateway_id="",
    ),
    oai(
        "martian", "Martian Model Router", "https://withmartian.com/api/openai/v1",
        "https://docs.withmartian.com", "MARTIAN_API_KEY",
    ),
    oai(
        "openrouter", "OpenRouter", "https://openrouter.ai/api/v1",
        "https://openrouter.ai/docs/api-reference/overview", "OPENROUTER_API_KEY",
    ),
    oai(
        "huggingface", "Hugging Face Inference Providers",
        "https://router.huggingface.co/v1",
        "https://huggingface.co/docs/inference-providers/index", "HF_TOKEN",
    ),
    oai(
        "requesty", "Requesty", "https://router.requesty.ai/v1",
        "https://docs.requesty.ai", "REQUESTY_API_KEY",
    ),
    oai(
        "helicone", "Helicone AI Gateway", "https://ai-gateway.helicone.ai",
        "https://docs.helicone.ai/gateway/overview", "HELICONE_API_KEY",
    ),
    oai(
        "aimlapi", "AI/ML API", "https://api.aimlapi.com/v1",
        "https://docs.aimlapi.com", "AIML_API_KEY",
    ),
    oai(
        "cometapi", "CometAPI", "https://api.cometapi.com/v1",
        "https://api.cometapi.com/doc", "COMETAPI_KEY",
    ),
    oai(
        "poe", "Poe API", "https://api.poe.com/v1",
        "https://creator.poe.com/docs/external-applications/openai-compatible-api",
        "POE_API_KEY",
    ),
    oai(
        "nano_gpt", "NanoGPT", "https://nano-gpt.com/api/v1",
        "https://docs.nano-gpt.com", "NANOGPT_API_KEY",
    ),
    oai(
        "apertis", "Stima API (Apertis)", "https://api.stima.tech/v1",
        "https://stima.tech", "STIMA_API_KEY",
    ),
    oai(
        "github_models", "GitHub Models", "https://models.github.ai/inference",
        "https://docs.github.com/en/rest/models/inference", "GITHUB_TOKEN",
    ),
    oai(
        "datarobot", "DataRobot LLM Gateway",
        "https://app.datarobot.com/api/v2/genai/llmgw",
        "https://docs.datarobot.com/en/docs/gen-ai/genai-code/dr-llm-gateway.html",
        "DATAROBOT_API_TOKEN",
    ),
    oai(
        "assemblyai_llm_gateway", "AssemblyAI LLM Gateway",
        "https://llm-gateway.assemblyai.com/v1",
        "https://www.assemblyai.com/docs/llm-gateway/overview", "ASSEMBLYAI_API_KEY",
    ),
    # Inference clouds.
    oai(
        "nvidia_nim", "NVIDIA API Catalog (NIM)", "https://integrate.api.nvidia.com/v1",
        "https://docs.api.nvidia.com/nim/reference/llm-apis", "NVIDIA_API_KEY",
    ),
    oai(
        "runpod", "Runpod Serverless (vLLM worker)",
        "https://api.runpod.ai/v2/{endpoint_id}/openai/v1",
        "https://docs.runpod.io/serverless/vllm/openai-compatibility",
        "RUNPOD_API_KEY", endpoint_id="",
    ),
    oai(
        "nous", "Nous Research Inference API",
        "https://inference-api.nousresearch.com/v1",
        "https://portal.nousresearch.com", "NOUS_API_KEY",
    ),
    oai(
        "arliai", "ArliAI", "https://api.arliai.com/v1",
        "https://www.arliai.com/docs", "ARLIAI_API_KEY",
    ),
    oai(
        "infermatic", "Infermatic", "https://api.totalgpt.ai/v1",
        "https://infermatic.ai", "INFERMATIC_API_KEY",
    ),
    oai(
        "siliconflow", "SiliconFlow", "https://api.siliconflow.com/v1",
        "https://docs.siliconflow.com/en/api-reference/chat-completions/chat-completions",
        "SILICONFLOW_API_KEY",
    ),
    oai(
        "siliconflow_cn", "SiliconFlow (China)", "https://api.siliconflow.cn/v1",
        "https://docs.siliconflow.cn/cn/api-reference/chat-completions/chat-completions",
        "SILICONFLOW_API_KEY",
    ),
    oai(
        "kluster", "kluster.ai", "https://api.kluster.ai/v1",
        "https://docs.kluster.ai", "KLUSTER_API_KEY",
    ),
    oai(
        "chutes", "Chutes", "https://llm.chutes.ai/v1",
        "https://chutes.ai/docs", "CHUTES_API_KEY",
    ),
    oai(
        "venice", "Venice AI", "https://api.venice.ai/api/v1",
        "https://docs.venice.ai/api-reference/api-spec", "VENICE_API_KEY",
    ),
    oai(
        "parasail", "Parasail", "https://api.parasail.io/v1",
        "https://docs.parasail.io", "PARASAIL_API_KEY",
    ),
    oai(
        "synthetic", "Synthetic", "https://api.synthetic.new/openai/v1",
        "https://synthetic.new", "SYNTHETIC_API_KEY",
    ),
    oai(
        "inference_net", "Inference.net", "https://api.inference.net/v1",
        "https://docs.inference.net", "INFERENCE_API_KEY",
    ),
    oai(
        "clarifai", "Clarifai", "https://api.clarifai.com/v2/ext/openai/v1",
        "https://docs.clarifai.com/compute/inference/open-ai/", "CLARIFAI_PAT",
    ),
    oai(
        "abliteration", "Abliteration", "https://api.abliteration.ai/v1",
        "https://abliteration.ai", "ABLITERATION_API_KEY",
    ),
    oai(
        "neosantara", "Neosantara AI", "https://api.neosantara.xyz/v1",
        "https://docs.neosantara.xyz", "NEOSANTARA_API_KEY",
    ),
    oai(
        "empiriolabs", "Empirio Labs", "https://api.empiriolabs.ai/v1",
        "https://empiriolabs.ai", "EMPIRIOLABS_API_KEY",
    ),
    oai(
        "ionos", "IONOS AI Model Hub", "https://openai.inference.de-txl.ionos.com/v1",
        "https://docs.ionos.com/cloud/ai/ai-model-hub", "IONOS_API_TOKEN",
    ),
    oai(
        "upstage", "Upstage", "https://api.upstage.ai/v1",
        "https://console.upstage.ai/docs/capabilities/chat", "UPSTAGE_API_KEY",
    ),
    oai(
        "maritaca", "Maritaca AI", "https://chat.maritaca.ai/api",
        "https://docs.maritaca.ai", "MARITACA_API_KEY",
    ),
    # Embedding-only.
    oai(
        "jina_ai", "Jina AI Embeddings", "https://api.jina.ai/v1",
        "https://jina.ai/embeddings/", "JINA_API_KEY",
    ),
    # Vendors' own endpoints in mainland China and their regional twins.
    oai(
        "dashscope_cn", "Alibaba Cloud Bailian (China)",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope",
        "DASHSCOPE_API_KEY",
    ),
    oai(
        "moonshot_cn", "Moonshot AI (China)", "https://api.moonshot.cn/v1",
        "https://platform.moonshot.cn/docs", "MOONSHOT_API_KEY",
    ),
    oai(
        "minimax_cn", "MiniMax (China)", "https://api.minimaxi.com/v1",
        "https://platform.minimaxi.com/docs", "MINIMAX_API_KEY",
    ),
    oai(
        "zhipuai", "Zhipu AI BigModel (China)", "https://open.bigmodel.cn/api/paas/v4",
        "https://docs.bigmodel.cn", "ZHIPUAI_API_KEY",
    ),
    oai(
        "modelscope", "ModelScope API-Inference", "https://api-inference.modelscope.cn/v1",
        "https://modelscope.cn/docs/model-service/API-Inference/intro",
        "MODELSCOPE_API_KEY",
    ),
    oai(
        "qianfan", "Baidu Qianfan", "https://qianfan.baidubce.com/v2",
        "https://cloud.baidu.com/doc/qianfan-api/index.html", "QIANFAN_API_KEY",
    ),
    oai(
        "hunyuan", "Tencent Hunyuan", "https://api.hunyuan.cloud.tencent.com/v1",
        "https://cloud.tencent.com/document/product/1729/111007", "HUNYUAN_API_KEY",
    ),
    oai(
        "stepfun", "StepFun", "https://api.stepfun.com/v1",
        "https://platform.stepfun.com/docs", "STEPFUN_API_KEY",
    ),
    oai(
        "lingyiwanwu", "01.AI (Lingyiwanwu)", "https://api.lingyiwanwu.com/v1",
        "https://platform.lingyiwanwu.com/docs", "YI_API_KEY",
    ),
    oai(
        "baichuan", "Baichuan AI", "https://api.baichuan-ai.com/v1",
        "https://platform.baichuan-ai.com/docs/api", "BAICHUAN_API_KEY",
    ),
)
# fmt: on
