"""AdminService's provider, model and credential calls: protobuf in and out.

Resource names:

- ``orgs/{org}/providers/{provider}``
- ``orgs/{org}/providers/{provider}/credential``
- ``orgs/{org}/models/{provider}/{model}``, where ``{model}`` is the
  provider's model id (or an alias) and may itself contain slashes.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

from grpc import aio

from megarouter.auth.interceptor import current_caller
from megarouter.errors import InvalidArgument
from megarouter.providers.admin import (
    ModelView,
    Page,
    PriceSource,
    ProviderAdmin,
    ProviderView,
)
from megarouter.providers.credentials import CredentialMetadata, CredentialSource
from megarouter.providers.spec import Credential, ModelMode, Price
from megarouter.services.admin_convert import timestamp
from megarouter.tenancy import names
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"

_ORG = r"(?P<org>[a-z][a-z0-9-]{0,62})"
_PROVIDER_ID = r"[a-z0-9][a-z0-9._-]{0,63}"
_PROVIDER = rf"(?P<provider>{_PROVIDER_ID})"
_PROVIDER_NAME = re.compile(rf"orgs/{_ORG}/providers/{_PROVIDER}")
_CREDENTIAL_NAME = re.compile(rf"orgs/{_ORG}/providers/{_PROVIDER}/credential")
_MODEL_NAME = re.compile(rf"orgs/{_ORG}/models/(?P<model>{_PROVIDER_ID}/.+)")

MODE_TO_PB = {
    ModelMode.CHAT: pb.MODEL_MODE_CHAT,
    ModelMode.EMBEDDING: pb.MODEL_MODE_EMBEDDING,
}
MODE_FROM_PB = {value: key for key, value in MODE_TO_PB.items()}
SOURCE_TO_PB = {
    CredentialSource.STORED: pb.CREDENTIAL_SOURCE_STORED,
    CredentialSource.ENVIRONMENT: pb.CREDENTIAL_SOURCE_ENVIRONMENT,
    CredentialSource.MISSING: pb.CREDENTIAL_SOURCE_MISSING,
    CredentialSource.NOT_NEEDED: pb.CREDENTIAL_SOURCE_NOT_NEEDED,
}
PRICE_SOURCE_TO_PB = {
    PriceSource.LIST: pb.PRICE_SOURCE_LIST,
    PriceSource.OVERRIDE: pb.PRICE_SOURCE_OVERRIDE,
    PriceSource.UNPRICED: pb.PRICE_SOURCE_UNPRICED,
}


def _match(
    pattern: re.Pattern[str], value: str, field: str, shape: str
) -> re.Match[str]:
    match = pattern.fullmatch(value)
    if match is None:
        raise InvalidArgument.for_field(field, f"expected {shape}, got {value[:300]!r}")
    return match


def parse_provider(value: str, field: str) -> tuple[str, str]:
    """``(org, provider)`` from ``orgs/{org}/providers/{provider}``."""
    match = _match(_PROVIDER_NAME, value, field, "orgs/{org}/providers/{provider}")
    return match["org"], match["provider"]


def parse_credential(value: str, field: str) -> tuple[str, str]:
    """``(org, provider)`` from ``orgs/{org}/providers/{provider}/credential``."""
    shape = "orgs/{org}/providers/{provider}/credential"
    match = _match(_CREDENTIAL_NAME, value, field, shape)
    return match["org"], match["provider"]


def parse_model(value: str, field: str) -> tuple[str, str]:
    """``(org, global model id)`` from ``orgs/{org}/models/{provider}/{model}``."""
    match = _match(_MODEL_NAME, value, field, "orgs/{org}/models/{provider}/{model}")
    return match["org"], match["model"]


# --- domain to protobuf -------------------------------------------------------


def provider_message(view: ProviderView) -> pb.Provider:
    spec = view.spec
    return pb.Provider(
        name=f"orgs/{view.org_id}/providers/{spec.name}",
        provider_id=spec.name,
        display_name=spec.display_name,
        family=spec.family,
        base_url=spec.base_url,
        auth_scheme=spec.auth.value,
        credential_env=list(spec.credential_env),
        self_hosted=spec.self_hosted,
        docs_url=spec.docs_url,
        model_count=len(spec.models),
        enabled=view.enabled,
        credential_source=SOURCE_TO_PB[view.credential_source],
        plugin=view.plugin,
    )


def price_message(price: Price) -> pb.ModelPrice:
    return pb.ModelPrice(
        input_micros_per_mtok=price.input_per_mtok,
        output_micros_per_mtok=price.output_per_mtok,
    )


def model_message(view: ModelView) -> pb.Model:
    model = view.model
    caps = model.capabilities
    message = pb.Model(
        name=f"orgs/{view.org_id}/models/{view.global_id}",
        model_id=view.global_id,
        provider=f"orgs/{view.org_id}/providers/{view.provider.name}",
        mode=MODE_TO_PB[model.mode],
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        capabilities=pb.ModelCapabilities(
            streaming=caps.streaming,
            tools=caps.tools,
            vision=caps.vision,
            json_mode=caps.json_mode,
            embeddings=caps.embeddings,
        ),
        aliases=list(model.aliases),
        enabled=view.enabled,
        price_source=PRICE_SOURCE_TO_PB[view.price_source],
    )
    if view.price is not None:
        message.price.CopyFrom(price_message(view.price))
    if model.price is not None:
        message.list_price.CopyFrom(price_message(model.price))
    return message


def credential_message(meta: CredentialMetadata) -> pb.ProviderCredential:
    provider = f"orgs/{meta.org_id}/providers/{meta.provider}"
    return pb.ProviderCredential(
        name=f"{provider}/credential",
        provider=provider,
        extra_keys=list(meta.extra_keys),
        create_time=timestamp(meta.create_time),
        update_time=timestamp(meta.update_time),
    )


class ProviderAdminMixin:
    """The provider calls of AdminService; mixed into ``AdminServicer``,
    which sets ``self._providers``."""

    _providers: ProviderAdmin

    # --- providers ------------------------------------------------------------

    async def ListProviders(
        self, request: api.ListProvidersRequest, context: Context
    ) -> api.ListProvidersResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        page = Page.parse(request.page_size, request.page_token)
        views, token = await self._providers.list_providers(
            current_caller(), org_id, page
        )
        return api.ListProvidersResponse(
            providers=[provider_message(v) for v in views], next_page_token=token
        )

    async def EnableProvider(
        self, request: api.EnableProviderRequest, context: Context
    ) -> api.EnableProviderResponse:
        org_id, provider = parse_provider(request.name, "name")
        view = await self._providers.set_provider_enabled(
            current_caller(), org_id, provider, True
        )
        return api.EnableProviderResponse(provider=provider_message(view))

    async def DisableProvider(
        self, request: api.DisableProviderRequest, context: Context
    ) -> api.DisableProviderResponse:
        org_id, provider = parse_provider(request.name, "name")
        view = await self._providers.set_provider_enabled(
            current_caller(), org_id, provider, False
        )
        return api.DisableProviderResponse(provider=provider_message(view))

    # --- models ---------------------------------------------------------------

    async def ListModels(
        self, request: api.ListModelsRequest, context: Context
    ) -> api.ListModelsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        page = Page.parse(request.page_size, request.page_token)
        if request.mode not in (pb.MODEL_MODE_UNSPECIFIED, *MODE_FROM_PB):
            raise InvalidArgument.for_field("mode", f"unknown mode {request.mode}")
        views, token = await self._providers.list_models(
            current_caller(),
            org_id,
            page,
            provider=request.provider_id,
            mode=MODE_FROM_PB.get(request.mode),
            show_disabled=request.show_disabled,
        )
        return api.ListModelsResponse(
            models=[model_message(v) for v in views], next_page_token=token
        )

    async def EnableModel(
        self, request: api.EnableModelRequest, context: Context
    ) -> api.EnableModelResponse:
        org_id, model = parse_model(request.name, "name")
        view = await self._providers.set_model_enabled(
            current_caller(), org_id, model, True
        )
        return api.EnableModelResponse(model=model_message(view))

    async def DisableModel(
        self, request: api.DisableModelRequest, context: Context
    ) -> api.DisableModelResponse:
        org_id, model = parse_model(request.name, "name")
        view = await self._providers.set_model_enabled(
            current_caller(), org_id, model, False
        )
        return api.DisableModelResponse(model=model_message(view))

    async def SetModelPrice(
        self, request: api.SetModelPriceRequest, context: Context
    ) -> api.SetModelPriceResponse:
        org_id, model = parse_model(request.name, "name")
        if not request.HasField("price"):
            raise InvalidArgument.for_field("price", "is required")
        price = Price(
            request.price.input_micros_per_mtok, request.price.output_micros_per_mtok
        )
        view = await self._providers.set_price(current_caller(), org_id, model, price)
        return api.SetModelPriceResponse(model=model_message(view))

    async def ClearModelPrice(
        self, request: api.ClearModelPriceRequest, context: Context
    ) -> api.ClearModelPriceResponse:
        org_id, model = parse_model(request.name, "name")
        view = await self._providers.clear_price(current_caller(), org_id, model)
        return api.ClearModelPriceResponse(model=model_message(view))

    # --- credentials ----------------------------------------------------------

    async def SetProviderCredential(
        self, request: api.SetProviderCredentialRequest, context: Context
    ) -> api.SetProviderCredentialResponse:
        org_id, provider = parse_provider(request.provider, "provider")
        credential = Credential(api_key=request.api_key, extra=dict(request.extra))
        meta = await self._providers.set_credential(
            current_caller(), org_id, provider, credential
        )
        return api.SetProviderCredentialResponse(credential=credential_message(meta))

    async def DeleteProviderCredential(
        self, request: api.DeleteProviderCredentialRequest, context: Context
    ) -> api.DeleteProviderCredentialResponse:
        org_id, provider = parse_credential(request.name, "name")
        await self._providers.delete_credential(current_caller(), org_id, provider)
        return api.DeleteProviderCredentialResponse()

    async def ListProviderCredentials(
        self, request: api.ListProviderCredentialsRequest, context: Context
    ) -> api.ListProviderCredentialsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        metas = await self._providers.list_credentials(current_caller(), org_id)
        return api.ListProviderCredentialsResponse(
            credentials=[credential_message(m) for m in metas]
        )
