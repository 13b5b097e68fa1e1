"""The catalogs shipped inside the provider plugins."""

from __future__ import annotations

from megarouter.providers.spec import AuthScheme, ModelMode, ProviderSpec

FAMILIES = {
    "openai",
    "azure_openai",
    "anthropic",
    "gemini",
    "bedrock",
    "cohere",
    "ollama",
}
SELF_HOSTED_SERVERS = {
    "vllm",
    "tgi",
    "llama_cpp",
    "lm_studio",
    "localai",
    "sglang",
    "ollama",
    "ollama_openai",
    "xinference",
}


def _all_models(providers: dict[str, ProviderSpec]) -> list[tuple[str, object]]:
    return [(spec.name, model) for spec in providers.values() for model in spec.models]


def test_catalogs_hold_at_least_120_providers_across_every_family(
    catalogs: dict[str, list[ProviderSpec]],
    providers: dict[str, ProviderSpec],
) -> None:
    assert set(catalogs) == FAMILIES
    assert all(catalogs[family] for family in FAMILIES)
    assert len(providers) == sum(len(specs) for specs in catalogs.values())
    assert len(providers) >= 120


def test_catalogs_price_at_least_1500_chat_and_embedding_models(
    providers: dict[str, ProviderSpec],
) -> None:
    models = [model for spec in providers.values() for model in spec.models]
    priced = [model for model in models if model.price is not None]

    assert {model.mode for model in models} == {ModelMode.CHAT, ModelMode.EMBEDDING}
    assert len(priced) >= 1500
    assert sum(model.mode is ModelMode.EMBEDDING for model in priced) >= 50


def test_no_listed_price_is_zero(providers: dict[str, ProviderSpec]) -> None:
    for spec in providers.values():
        for model in spec.models:
            if model.price is None:
                continue
            assert model.price.input_per_mtok > 0, (spec.name, model.id)
            if model.mode is ModelMode.CHAT:
                assert model.price.output_per_mtok > 0, (spec.name, model.id)
            else:
                assert model.price.output_per_mtok == 0, (spec.name, model.id)


def test_every_provider_names_a_known_family_and_its_own_plugin(
    catalogs: dict[str, list[ProviderSpec]],
) -> None:
    for family, specs in catalogs.items():
        assert {spec.family for spec in specs} == {family}


def test_base_urls_are_https_unless_a_local_self_hosted_server(
    providers: dict[str, ProviderSpec],
) -> None:
    for spec in providers.values():
        if spec.base_url.startswith("https://"):
            continue
        assert spec.self_hosted, spec.name
        assert spec.base_url.startswith(("http://localhost:", "http://127.0.0.1:")), (
            spec.name
        )


def test_hosted_providers_say_how_to_authenticate_and_where_the_docs_are(
    providers: dict[str, ProviderSpec],
) -> None:
    for spec in providers.values():
        assert spec.docs_url.startswith("https://"), spec.name
        assert spec.display_name, spec.name
        if spec.self_hosted:
            continue
        assert spec.auth is not AuthScheme.NONE, spec.name
        assert spec.credential_env, spec.name
        if spec.auth is AuthScheme.HEADER:
            assert spec.auth_header, spec.name


def test_self_hosted_servers_are_listed_without_auth_or_prices(
    providers: dict[str, ProviderSpec],
) -> None:
    assert set(providers) >= SELF_HOSTED_SERVERS
    for name in SELF_HOSTED_SERVERS:
        spec = providers[name]
        assert spec.self_hosted and spec.auth is AuthScheme.NONE
        assert all(model.price is None for model in spec.models)
    assert providers["ollama"].base_url == "http://localhost:11434"
    assert providers["vllm"].base_url == "http://localhost:8000/v1"


def test_family_settings_follow_each_protocol(
    providers: dict[str, ProviderSpec],
) -> None:
    anthropic = providers["anthropic"]
    assert anthropic.base_url == "https://api.anthropic.com"
    assert (anthropic.auth, anthropic.auth_header) == (AuthScheme.HEADER, "x-api-key")

    azure = providers["azure_openai"]
    assert (azure.auth, azure.auth_header) == (AuthScheme.HEADER, "api-key")
    assert azure.options["api_version"]

    gemini = providers["gemini"]
    assert gemini.base_url == "https://generativelanguage.googleapis.com"
    assert gemini.auth_header == "x-goog-api-key"
    vertex = providers["vertex_ai"]
    assert (
        vertex.auth is AuthScheme.BEARER
        and "{project}" in vertex.options["path_prefix"]
    )

    bedrock = providers["bedrock"]
    assert bedrock.auth is AuthScheme.SIGV4
    assert bedrock.base_url == "https://bedrock-runtime.{region}.amazonaws.com"
    assert bedrock.options["region"]

    assert providers["cohere"].base_url == "https://api.cohere.com"
    assert providers["ollama"].auth is AuthScheme.NONE


def test_model_ids_are_unique_within_each_provider(
    providers: dict[str, ProviderSpec],
) -> None:
    for spec in providers.values():
        ids = [model.id for model in spec.models]
        assert len(ids) == len(set(ids)), spec.name
        assert all(ids), spec.name
