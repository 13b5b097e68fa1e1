"""Built-in roles and the permissions each grants.

A permission is an ``(object, action)`` pair such as ``("teams", "create")``;
every RPC needs exactly one (see :mod:`megarouter.auth.permissions`). Roles
are granted in an org, some of them limited to one team:

``platform_admin``
    Operates the MegaRouter installation: creates and deletes orgs and acts
    in every org. Granted only in the bootstrap org.
``org_admin``
    Runs one org: teams, principals, keys, role bindings, settings,
    routing policies, budgets and rate limits.
``team_admin``
    Runs its teams: their principals, their keys, and developer, viewer and
    team_admin bindings within them, and which routing policy applies to
    them and their keys; reads its teams' usage reports and the org's rate
    limits. Always limited to one team.
``developer``
    Calls models and manages its own API keys.
``viewer``
    Reads the org's teams, principals, keys (metadata), bindings and rate
    limits.
``billing``
    Reads usage and spending, manages budgets, reads rate limits.
"""

from __future__ import annotations

from dataclasses import dataclass

Permission = tuple[str, str]

READ_DIRECTORY: frozenset[Permission] = frozenset(
    {
        ("orgs", "get"),
        ("orgs", "list"),
        ("teams", "get"),
        ("teams", "list"),
        ("principals", "get"),
        ("principals", "list"),
        ("roles", "list"),
        ("self", "get"),
    }
)


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str
    permissions: frozenset[Permission]
    team_scoped: bool = False  # must name a team when granted


ALL = ("*", "*")

ROLES: dict[str, Role] = {
    role.name: role
    for role in [
        Role(
            "platform_admin",
            "Operates the installation: creates orgs and acts in every org.",
            frozenset({ALL}),
        ),
        Role(
            "org_admin",
            "Runs one org: teams, principals, keys, role bindings and settings.",
            READ_DIRECTORY
            | {
                ("orgs", "update"),
                ("teams", "*"),
                ("principals", "*"),
                ("keys", "*"),
                ("rolebindings", "*"),
                ("completions", "invoke"),
                ("routes", "invoke"),
                ("models", "list"),
                ("providers", "*"),
                ("policies", "*"),
                ("usage", "read"),
                ("budgets", "*"),
                ("ratelimits", "*"),
                ("audit", "list"),
            },
        ),
        Role(
            "team_admin",
            "Runs its team: principals, keys and developer or viewer grants.",
            READ_DIRECTORY
            | {
                ("teams", "update"),
                ("principals", "*"),
                ("keys", "*"),
                ("rolebindings", "*"),
                ("completions", "invoke"),
                ("routes", "invoke"),
                ("models", "list"),
                ("policies", "list"),
                ("policies", "update"),  # its own team's attachments only
                ("usage", "read"),  # of its own teams only
                ("ratelimits", "list"),
            },
            team_scoped=True,
        ),
        Role(
            "developer",
            "Calls models and manages its own API keys.",
            READ_DIRECTORY
            | {
                ("keys", "create"),
                ("keys", "get"),
                ("keys", "list"),
                ("keys", "revoke"),
                ("completions", "invoke"),
                ("routes", "invoke"),
                ("models", "list"),
                ("policies", "list"),
            },
        ),
        Role(
            "viewer",
            "Reads the org's directory: teams, principals, keys and bindings.",
            READ_DIRECTORY
            | {
                ("keys", "get"),
                ("keys", "list"),
                ("rolebindings", "list"),
                ("models", "list"),
                ("policies", "list"),
                ("ratelimits", "list"),
            },
        ),
        Role(
            "billing",
            "Reads usage and spending and manages budgets.",
            READ_DIRECTORY
            | {
                ("usage", "read"),
                ("budgets", "*"),
                ("models", "list"),
                ("policies", "list"),
                ("ratelimits", "list"),
            },
        ),
    ]
}

# Roles only an org-wide administrator may grant, and the one only a
# platform administrator may grant.
ADMIN_GRANTED = frozenset({"org_admin", "billing"})
PLATFORM_GRANTED = frozenset({"platform_admin"})
TEAM_GRANTABLE = frozenset({"team_admin", "developer", "viewer"})


def role_subject(role: str) -> str:
    """The Casbin subject of a role."""
    return f"role:{role}"


def policy_lines() -> list[list[str]]:
    """Casbin ``p`` lines for every built-in role, valid in every org."""
    lines = []
    for role in ROLES.values():
        for obj, act in sorted(role.permissions):
            lines.append([role_subject(role.name), "*", obj, act])
    return lines
