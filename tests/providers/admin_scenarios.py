"""Role-matrix scenarios for the provider, model and credential RPCs.

``tests/admin/test_rbac_matrix.py`` runs each scenario as every built-in
role; listing is open to every role (``models:list``), changes only to org
and platform administrators (``providers:*``).
"""

from __future__ import annotations

from typing import Any

from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin

ORG = "orgs/default"
PROVIDER = "orgs/default/providers/groq"
ADMINS = {"platform_admin", "org_admin"}
EVERYONE = {"platform_admin", "org_admin", "team_admin", "developer", "viewer"} | {
    "billing"
}


async def first_model(admin: Admin) -> str:
    """The resource name of a model the shipped catalog has for groq."""
    listed = await admin.ListModels(
        api.ListModelsRequest(parent=ORG, provider_id="groq", show_disabled=True)
    )
    return listed.models[0].name


async def s_list_providers(admin: Admin) -> tuple[str, Any]:
    return "ListProviders", api.ListProvidersRequest(parent=ORG)


async def s_list_models(admin: Admin) -> tuple[str, Any]:
    return "ListModels", api.ListModelsRequest(parent=ORG, provider_id="groq")


async def s_enable_provider(admin: Admin) -> tuple[str, Any]:
    return "EnableProvider", api.EnableProviderRequest(name=PROVIDER)


async def s_disable_provider(admin: Admin) -> tuple[str, Any]:
    return "DisableProvider", api.DisableProviderRequest(
        name="orgs/default/providers/cerebras"
    )


async def s_enable_model(admin: Admin) -> tuple[str, Any]:
    return "EnableModel", api.EnableModelRequest(name=await first_model(admin))


async def s_disable_model(admin: Admin) -> tuple[str, Any]:
    return "DisableModel", api.DisableModelRequest(name=await first_model(admin))


async def s_set_model_price(admin: Admin) -> tuple[str, Any]:
    price = pb.ModelPrice(input_micros_per_mtok=1, output_micros_per_mtok=2)
    return "SetModelPrice", api.SetModelPriceRequest(
        name=await first_model(admin), price=price
    )


async def s_clear_model_price(admin: Admin) -> tuple[str, Any]:
    return "ClearModelPrice", api.ClearModelPriceRequest(name=await first_model(admin))


async def s_set_credential(admin: Admin) -> tuple[str, Any]:
    return "SetProviderCredential", api.SetProviderCredentialRequest(
        provider=PROVIDER, api_key="gsk-matrix"
    )


async def s_delete_credential(admin: Admin) -> tuple[str, Any]:
    provider = "orgs/default/providers/mistral"
    await admin.SetProviderCredential(
        api.SetProviderCredentialRequest(provider=provider, api_key="m-matrix")
    )
    return "DeleteProviderCredential", api.DeleteProviderCredentialRequest(
        name=f"{provider}/credential"
    )


async def s_list_credentials(admin: Admin) -> tuple[str, Any]:
    return "ListProviderCredentials", api.ListProviderCredentialsRequest(parent=ORG)


PROVIDER_MATRIX = {
    s_list_providers: EVERYONE,
    s_list_models: EVERYONE,
    s_enable_provider: ADMINS,
    s_disable_provider: ADMINS,
    s_enable_model: ADMINS,
    s_disable_model: ADMINS,
    s_set_model_price: ADMINS,
    s_clear_model_price: ADMINS,
    s_set_credential: ADMINS,
    s_delete_credential: ADMINS,
    s_list_credentials: ADMINS,
}
