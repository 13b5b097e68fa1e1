"""The permission every RPC needs: one ``(object, action)`` pair per method.

The interceptor asks Casbin whether the caller's roles grant it in the
caller's org. Methods missing from the table are refused, so a new RPC
cannot ship without a rule (a test checks the table covers every method).
"""

from __future__ import annotations

from megarouter.auth.roles import Permission

ADMIN = "/megarouter.v1.AdminService/"

RPC_PERMISSIONS: dict[str, Permission] = {
    ADMIN + "CreateOrg": ("orgs", "create"),
    ADMIN + "GetOrg": ("orgs", "get"),
    ADMIN + "ListOrgs": ("orgs", "list"),
    ADMIN + "UpdateOrg": ("orgs", "update"),
    ADMIN + "DeleteOrg": ("orgs", "delete"),
    ADMIN + "CreateTeam": ("teams", "create"),
    ADMIN + "GetTeam": ("teams", "get"),
    ADMIN + "ListTeams": ("teams", "list"),
    ADMIN + "UpdateTeam": ("teams", "update"),
    ADMIN + "DeleteTeam": ("teams", "delete"),
    ADMIN + "CreatePrincipal": ("principals", "create"),
    ADMIN + "GetPrincipal": ("principals", "get"),
    ADMIN + "ListPrincipals": ("principals", "list"),
    ADMIN + "UpdatePrincipal": ("principals", "update"),
    ADMIN + "DeletePrincipal": ("principals", "delete"),
    ADMIN + "CreateApiKey": ("keys", "create"),
    ADMIN + "GetApiKey": ("keys", "get"),
    ADMIN + "ListApiKeys": ("keys", "list"),
    ADMIN + "RevokeApiKey": ("keys", "revoke"),
    ADMIN + "CreateRoleBinding": ("rolebindings", "create"),
    ADMIN + "ListRoleBindings": ("rolebindings", "list"),
    ADMIN + "DeleteRoleBinding": ("rolebindings", "delete"),
    ADMIN + "ListRoles": ("roles", "list"),
    ADMIN + "GetCaller": ("self", "get"),
    ADMIN + "ListProviders": ("models", "list"),
    ADMIN + "ListModels": ("models", "list"),
    ADMIN + "EnableProvider": ("providers", "update"),
    ADMIN + "DisableProvider": ("providers", "update"),
    ADMIN + "EnableModel": ("providers", "update"),
    ADMIN + "DisableModel": ("providers", "update"),
    ADMIN + "SetModelPrice": ("providers", "update"),
    ADMIN + "ClearModelPrice": ("providers", "update"),
    ADMIN + "SetProviderCredential": ("providers", "update"),
    ADMIN + "DeleteProviderCredential": ("providers", "update"),
    ADMIN + "ListProviderCredentials": ("providers", "list"),
    ADMIN + "CreateRoutingPolicy": ("policies", "update"),
    ADMIN + "GetRoutingPolicy": ("policies", "list"),
    ADMIN + "ListRoutingPolicies": ("policies", "list"),
    ADMIN + "UpdateRoutingPolicy": ("policies", "update"),
    ADMIN + "DeleteRoutingPolicy": ("policies", "update"),
    # team_admin holds policies:update too; the policy store lets it act only
    # on its own team's attachments.
    ADMIN + "AttachRoutingPolicy": ("policies", "update"),
    ADMIN + "DetachRoutingPolicy": ("policies", "update"),
    ADMIN + "ListAuditEvents": ("audit", "list"),
}

# Budgets, rate limits and usage reports. A team_admin's reports are limited
# to its own teams by the servicer (it forces the team filter).
RPC_PERMISSIONS.update(
    {
        ADMIN + "CreateBudget": ("budgets", "create"),
        ADMIN + "GetBudget": ("budgets", "get"),
        ADMIN + "ListBudgets": ("budgets", "list"),
        ADMIN + "UpdateBudget": ("budgets", "update"),
        ADMIN + "DeleteBudget": ("budgets", "delete"),
        ADMIN + "GetBudgetStatus": ("budgets", "get"),
        ADMIN + "CreateRateLimit": ("ratelimits", "update"),
        ADMIN + "GetRateLimit": ("ratelimits", "list"),
        ADMIN + "ListRateLimits": ("ratelimits", "list"),
        ADMIN + "UpdateRateLimit": ("ratelimits", "update"),
        ADMIN + "DeleteRateLimit": ("ratelimits", "update"),
        ADMIN + "GetUsageReport": ("usage", "read"),
        ADMIN + "GetTopConsumers": ("usage", "read"),
        ADMIN + "GetBudgetBurn": ("usage", "read"),
        ADMIN + "GetWasteReport": ("usage", "read"),
        ADMIN + "GetScenarioValue": ("usage", "read"),
    }
)

COMPLETION = "/megarouter.v1.CompletionService/"

RPC_PERMISSIONS.update(
    {
        COMPLETION + "Complete": ("completions", "invoke"),
        COMPLETION + "StreamComplete": ("completions", "invoke"),
        COMPLETION + "Embed": ("completions", "invoke"),
        COMPLETION + "SubmitFeedback": ("completions", "invoke"),
        "/megarouter.v1.RouteService/Route": ("routes", "invoke"),
        "/megarouter.v1.RouteService/ListAvailableModels": ("models", "list"),
    }
)

# Open to anyone: the standard health and reflection services.
PUBLIC_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
