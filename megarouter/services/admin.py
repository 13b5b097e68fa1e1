"""AdminService: protobuf in, tenancy calls, protobuf out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from grpc import aio

from megarouter.auth.interceptor import current_caller
from megarouter.errors import InvalidArgument
from megarouter.governance.audit import AuditLog
from megarouter.providers.admin import ProviderAdmin
from megarouter.routing.policies import RoutingPolicies
from megarouter.services import admin_convert as convert
from megarouter.services.audit_admin import AuditAdminMixin
from megarouter.services.budget_admin import BudgetAdminMixin, Governance
from megarouter.services.policy_admin import PolicyAdminMixin
from megarouter.services.provider_admin import ProviderAdminMixin
from megarouter.services.ratelimit_admin import RateLimitAdminMixin
from megarouter.services.report_admin import ReportAdminMixin
from megarouter.tenancy import names
from megarouter.tenancy.bindings import RoleBindings
from megarouter.tenancy.credentials import ApiKeys
from megarouter.tenancy.directory import (
    Orgs,
    Principals,
    Teams,
    check_length,
    team_id_from_name,
)
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import admin_service_pb2_grpc as api_grpc

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"


@dataclass(frozen=True, slots=True)
class Tenancy:
    """The tenancy resources the Admin service works on."""

    orgs: Orgs
    teams: Teams
    principals: Principals
    keys: ApiKeys
    bindings: RoleBindings
    audit: AuditLog


def _request_id(value: str) -> str:
    return check_length(value, "request_id", 128)


def _require(value: Any, field: str) -> None:
    if not value:
        raise InvalidArgument.for_field(field, "is required")


class AdminServicer(
    ProviderAdminMixin,
    AuditAdminMixin,
    PolicyAdminMixin,
    BudgetAdminMixin,
    RateLimitAdminMixin,
    ReportAdminMixin,
    api_grpc.AdminServiceServicer,
):
    def __init__(
        self,
        tenancy: Tenancy,
        providers: ProviderAdmin,
        policies: RoutingPolicies,
        governance: Governance,
    ) -> None:
        self._t = tenancy
        self._providers = providers
        self._policies = policies
        self._audit_log = tenancy.audit
        self._governance = governance

    # --- orgs -------------------------------------------------------------

    async def CreateOrg(
        self, request: api.CreateOrgRequest, context: Context
    ) -> api.CreateOrgResponse:
        row = await self._t.orgs.create(
            current_caller(),
            request.org_id,
            request.org.display_name,
            request.org.time_zone,
            _request_id(request.request_id),
        )
        return api.CreateOrgResponse(org=convert.org(row))

    async def GetOrg(
        self, request: api.GetOrgRequest, context: Context
    ) -> api.GetOrgResponse:
        (org_id,) = names.parse(request.name, "name", "orgs")
        row = await self._t.orgs.get(current_caller(), org_id)
        return api.GetOrgResponse(org=convert.org(row))

    async def ListOrgs(
        self, request: api.ListOrgsRequest, context: Context
    ) -> api.ListOrgsResponse:
        rows, token = await self._t.orgs.list_page(
            current_caller(), request.page_size, request.page_token, request.filter
        )
        return api.ListOrgsResponse(
            orgs=[convert.org(r) for r in rows], next_page_token=token
        )

    async def UpdateOrg(
        self, request: api.UpdateOrgRequest, context: Context
    ) -> api.UpdateOrgResponse:
        (org_id,) = names.parse(request.org.name, "org.name", "orgs")
        values = {
            "display_name": request.org.display_name,
            "time_zone": request.org.time_zone,
        }
        row = await self._t.orgs.update(
            current_caller(),
            org_id,
            values,
            list(request.update_mask.paths),
            request.org.etag,
        )
        return api.UpdateOrgResponse(org=convert.org(row))

    async def DeleteOrg(
        self, request: api.DeleteOrgRequest, context: Context
    ) -> api.DeleteOrgResponse:
        (org_id,) = names.parse(request.name, "name", "orgs")
        await self._t.orgs.delete(current_caller(), org_id, request.etag)
        return api.DeleteOrgResponse()

    # --- teams ------------------------------------------------------------

    async def CreateTeam(
        self, request: api.CreateTeamRequest, context: Context
    ) -> api.CreateTeamResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        row = await self._t.teams.create(
            current_caller(),
            org_id,
            request.team_id,
            request.team.display_name,
            request.team.description,
            _request_id(request.request_id),
        )
        return api.CreateTeamResponse(team=convert.team(row))

    async def GetTeam(
        self, request: api.GetTeamRequest, context: Context
    ) -> api.GetTeamResponse:
        org_id, team_id = names.parse(request.name, "name", "orgs", "teams")
        row = await self._t.teams.get(current_caller(), org_id, team_id)
        return api.GetTeamResponse(team=convert.team(row))

    async def ListTeams(
        self, request: api.ListTeamsRequest, context: Context
    ) -> api.ListTeamsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        rows, token = await self._t.teams.list_page(
            current_caller(),
            org_id,
            request.page_size,
            request.page_token,
            request.filter,
        )
        return api.ListTeamsResponse(
            teams=[convert.team(r) for r in rows], next_page_token=token
        )

    async def UpdateTeam(
        self, request: api.UpdateTeamRequest, context: Context
    ) -> api.UpdateTeamResponse:
        org_id, team_id = names.parse(request.team.name, "team.name", "orgs", "teams")
        values = {
            "display_name": request.team.display_name,
            "description": request.team.description,
        }
        row = await self._t.teams.update(
            current_caller(),
            org_id,
            team_id,
            values,
            list(request.update_mask.paths),
            request.team.etag,
        )
        return api.UpdateTeamResponse(team=convert.team(row))

    async def DeleteTeam(
        self, request: api.DeleteTeamRequest, context: Context
    ) -> api.DeleteTeamResponse:
        org_id, team_id = names.parse(request.name, "name", "orgs", "teams")
        await self._t.teams.delete(current_caller(), org_id, team_id, request.etag)
        return api.DeleteTeamResponse()

    # --- principals -------------------------------------------------------

    async def CreatePrincipal(
        self, request: api.CreatePrincipalRequest, context: Context
    ) -> api.CreatePrincipalResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        p = request.principal
        values = {
            "kind": convert.KIND_FROM_PB.get(p.kind, ""),
            "display_name": p.display_name,
            "email": p.email,
            "team_id": team_id_from_name(p.team, org_id, "principal.team"),
            "disabled": p.disabled,
        }
        row = await self._t.principals.create(
            current_caller(),
            org_id,
            request.principal_id,
            values,
            _request_id(request.request_id),
        )
        return api.CreatePrincipalResponse(principal=convert.principal(row))

    async def GetPrincipal(
        self, request: api.GetPrincipalRequest, context: Context
    ) -> api.GetPrincipalResponse:
        org_id, principal_id = names.parse(request.name, "name", "orgs", "principals")
        row = await self._t.principals.get(current_caller(), org_id, principal_id)
        return api.GetPrincipalResponse(principal=convert.principal(row))

    async def ListPrincipals(
        self, request: api.ListPrincipalsRequest, context: Context
    ) -> api.ListPrincipalsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        rows, token = await self._t.principals.list_page(
            current_caller(),
            org_id,
            request.page_size,
            request.page_token,
            request.filter,
        )
        return api.ListPrincipalsResponse(
            principals=[convert.principal(r) for r in rows], next_page_token=token
        )

    async def UpdatePrincipal(
        self, request: api.UpdatePrincipalRequest, context: Context
    ) -> api.UpdatePrincipalResponse:
        p = request.principal
        org_id, principal_id = names.parse(
            p.name, "principal.name", "orgs", "principals"
        )
        values = {
            "display_name": p.display_name,
            "email": p.email,
            "team": team_id_from_name(p.team, org_id, "principal.team"),
            "disabled": p.disabled,
        }
        row = await self._t.principals.update(
            current_caller(),
            org_id,
            principal_id,
            values,
            list(request.update_mask.paths),
            p.etag,
        )
        return api.UpdatePrincipalResponse(principal=convert.principal(row))

    async def DeletePrincipal(
        self, request: api.DeletePrincipalRequest, context: Context
    ) -> api.DeletePrincipalResponse:
        org_id, principal_id = names.parse(request.name, "name", "orgs", "principals")
        await self._t.principals.delete(
            current_caller(), org_id, principal_id, request.etag
        )
        return api.DeletePrincipalResponse()

    # --- API keys ---------------------------------------------------------

    async def CreateApiKey(
        self, request: api.CreateApiKeyRequest, context: Context
    ) -> api.CreateApiKeyResponse:
        org_id, principal_id = names.parse(
            request.parent, "parent", "orgs", "principals"
        )
        expire_time = convert.read_timestamp(
            request.api_key.expire_time,
            request.api_key.HasField("expire_time"),
            "api_key.expire_time",
        )
        row, secret = await self._t.keys.create(
            current_caller(),
            org_id,
            principal_id,
            request.api_key.display_name,
            expire_time,
            _request_id(request.request_id),
        )
        return api.CreateApiKeyResponse(api_key=convert.api_key(row), secret=secret)

    async def GetApiKey(
        self, request: api.GetApiKeyRequest, context: Context
    ) -> api.GetApiKeyResponse:
        org_id, principal_id, key_id = names.parse(
            request.name, "name", "orgs", "principals", "keys"
        )
        row = await self._t.keys.get(current_caller(), org_id, principal_id, key_id)
        return api.GetApiKeyResponse(api_key=convert.api_key(row))

    async def ListApiKeys(
        self, request: api.ListApiKeysRequest, context: Context
    ) -> api.ListApiKeysResponse:
        org_id, principal_id = names.parse(
            request.parent, "parent", "orgs", "principals"
        )
        rows, token = await self._t.keys.list_page(
            current_caller(),
            org_id,
            principal_id,
            request.page_size,
            request.page_token,
            request.filter,
        )
        return api.ListApiKeysResponse(
            api_keys=[convert.api_key(r) for r in rows], next_page_token=token
        )

    async def RevokeApiKey(
        self, request: api.RevokeApiKeyRequest, context: Context
    ) -> api.RevokeApiKeyResponse:
        org_id, principal_id, key_id = names.parse(
            request.name, "name", "orgs", "principals", "keys"
        )
        row = await self._t.keys.revoke(current_caller(), org_id, principal_id, key_id)
        return api.RevokeApiKeyResponse(api_key=convert.api_key(row))

    # --- role bindings ----------------------------------------------------

    async def CreateRoleBinding(
        self, request: api.CreateRoleBindingRequest, context: Context
    ) -> api.CreateRoleBindingResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        binding = request.role_binding
        _require(binding.principal, "role_binding.principal")
        _require(binding.role, "role_binding.role")
        principal_org, principal_id = names.parse(
            binding.principal, "role_binding.principal", "orgs", "principals"
        )
        if principal_org != org_id:
            raise InvalidArgument.for_field(
                "role_binding.principal", f"must be a principal of orgs/{org_id}"
            )
        team_id = team_id_from_name(binding.team, org_id, "role_binding.team") or ""
        row = await self._t.bindings.create(
            current_caller(), org_id, principal_id, binding.role, team_id
        )
        return api.CreateRoleBindingResponse(role_binding=convert.role_binding(row))

    async def ListRoleBindings(
        self, request: api.ListRoleBindingsRequest, context: Context
    ) -> api.ListRoleBindingsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        rows, token = await self._t.bindings.list_page(
            current_caller(),
            org_id,
            request.page_size,
            request.page_token,
            request.filter,
        )
        return api.ListRoleBindingsResponse(
            role_bindings=[convert.role_binding(r) for r in rows],
            next_page_token=token,
        )

    async def DeleteRoleBinding(
        self, request: api.DeleteRoleBindingRequest, context: Context
    ) -> api.DeleteRoleBindingResponse:
        org_id, binding_id = names.parse(request.name, "name", "orgs", "roleBindings")
        await self._t.bindings.delete(current_caller(), org_id, binding_id)
        return api.DeleteRoleBindingResponse()

    async def ListRoles(
        self, request: api.ListRolesRequest, context: Context
    ) -> api.ListRolesResponse:
        return api.ListRolesResponse(roles=convert.roles())

    async def GetCaller(
        self, request: api.GetCallerRequest, context: Context
    ) -> api.GetCallerResponse:
        caller = current_caller()
        row = await self._t.principals.get(caller, caller.org_id, caller.principal_id)
        bindings = await self._t.bindings.of_principal(
            caller.org_id, caller.principal_id
        )
        return api.GetCallerResponse(
            principal=convert.principal(row),
            org=names.org_name(caller.org_id),
            role_bindings=[convert.role_binding(b) for b in bindings],
            api_key=caller.key_name,
        )
