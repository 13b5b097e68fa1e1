"""The asyncio SDK: :class:`AsyncMegaRouterClient` over ``grpc.aio``.

Each method mirrors the one of the same name on
:class:`megarouter.client.MegaRouterClient`, whose docstrings say what the
arguments mean; here calls are awaited and lists are async iterators:

    async with AsyncMegaRouterClient() as client:
        async for team in client.list_teams("orgs/acme"):
            print(team.name)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

from grpc import aio

from megarouter.client_transport import (
    DEFAULT_TIMEOUT,
    create_api_key_request,
    create_binding_request,
    create_principal_request,
    follow_async_pages,
    open_aio_channel,
    resolve_target_and_key,
    translated,
    update_org_request,
    update_principal_request,
    update_team_request,
)
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import admin_service_pb2_grpc as api_grpc
from megarouter.v1 import resources_pb2 as pb

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class AsyncMegaRouterClient:
    """An asyncio client of MegaRouter's Admin service.

    Args:
        target: ``host:port`` of a MegaRouter server; defaults to
            ``$MEGAROUTER_TARGET``, then ``127.0.0.1:50051``.
        api_key: The key sent with every call; defaults to
            ``$MEGAROUTER_API_KEY``.
        timeout: Seconds each call may take unless it says otherwise; None
            for no limit.
        secure: Use TLS.
        root_certificates: PEM roots to trust with TLS; None for the
            system's.

    Raises:
        MissingApiKey: Neither ``api_key`` nor the environment gave a key.

    Attributes:
        admin: The generated AdminService stub (grpc.aio), authenticated.
    """

    def __init__(
        self,
        target: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        secure: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        self.target, key = resolve_target_and_key(target, api_key)
        self._channel = open_aio_channel(
            self.target, key, timeout, root_certificates, secure
        )
        self.admin = api_grpc.AdminServiceStub(self._channel)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @staticmethod
    async def _call(
        method: aio.UnaryUnaryMultiCallable[Req, Resp], request: Req
    ) -> Resp:
        with translated():
            return await method(request)

    # --- caller and roles ------------------------------------------------------

    async def get_caller(self) -> api.GetCallerResponse:
        """Who the key belongs to: principal, org, role bindings and key name."""
        return await self._call(self.admin.GetCaller, api.GetCallerRequest())

    async def list_roles(self) -> list[pb.Role]:
        """The built-in roles and their permissions."""
        response = await self._call(self.admin.ListRoles, api.ListRolesRequest())
        return list(response.roles)

    # --- orgs ------------------------------------------------------------------

    def list_orgs(
        self, *, filter: str = "", page_size: int = 0
    ) -> AsyncIterator[pb.Org]:
        """Every org the caller may see, reading page after page."""

        async def fetch(token: str) -> tuple[Sequence[pb.Org], str]:
            response = await self.admin.ListOrgs(
                api.ListOrgsRequest(
                    page_size=page_size, page_token=token, filter=filter
                )
            )
            return response.orgs, response.next_page_token

        return follow_async_pages(fetch)

    async def get_org(self, name: str) -> pb.Org:
        """The org ``orgs/{org}``."""
        response = await self._call(self.admin.GetOrg, api.GetOrgRequest(name=name))
        return response.org

    async def create_org(
        self,
        org_id: str,
        *,
        display_name: str = "",
        time_zone: str = "",
        request_id: str = "",
    ) -> pb.Org:
        """Create the org ``orgs/{org_id}`` (platform admins only)."""
        org = pb.Org(display_name=display_name, time_zone=time_zone)
        request = api.CreateOrgRequest(org=org, org_id=org_id, request_id=request_id)
        return (await self._call(self.admin.CreateOrg, request)).org

    async def update_org(
        self,
        name: str,
        *,
        display_name: str | None = None,
        time_zone: str | None = None,
        etag: str = "",
    ) -> pb.Org:
        """Change the fields given (not None) of an org."""
        request = update_org_request(
            name, etag, display_name=display_name, time_zone=time_zone
        )
        return (await self._call(self.admin.UpdateOrg, request)).org

    async def delete_org(self, name: str, *, etag: str = "") -> None:
        """Delete an org; ``etag``, when set, must still match."""
        request = api.DeleteOrgRequest(name=name, etag=etag)
        await self._call(self.admin.DeleteOrg, request)

    # --- teams -----------------------------------------------------------------

    def list_teams(
        self, parent: str, *, filter: str = "", page_size: int = 0
    ) -> AsyncIterator[pb.Team]:
        """Every team of the org ``parent``, page after page."""

        async def fetch(token: str) -> tuple[Sequence[pb.Team], str]:
            response = await self.admin.ListTeams(
                api.ListTeamsRequest(
                    parent=parent, page_size=page_size, page_token=token, filter=filter
                )
            )
            return response.teams, response.next_page_token

        return follow_async_pages(fetch)

    async def get_team(self, name: str) -> pb.Team:
        """The team ``orgs/{org}/teams/{team}``."""
        response = await self._call(self.admin.GetTeam, api.GetTeamRequest(name=name))
        return response.team

    async def create_team(
        self,
        parent: str,
        team_id: str,
        *,
        display_name: str = "",
        description: str = "",
        request_id: str = "",
    ) -> pb.Team:
        """Create the team ``{parent}/teams/{team_id}``."""
        team = pb.Team(display_name=display_name, description=description)
        request = api.CreateTeamRequest(
            parent=parent, team=team, team_id=team_id, request_id=request_id
        )
        return (await self._call(self.admin.CreateTeam, request)).team

    async def update_team(
        self,
        name: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        etag: str = "",
    ) -> pb.Team:
        """Change the fields given (not None) of a team."""
        request = update_team_request(
            name, etag, display_name=display_name, description=description
        )
        return (await self._call(self.admin.UpdateTeam, request)).team

    async def delete_team(self, name: str, *, etag: str = "") -> None:
        """Delete a team; ``etag``, when set, must still match."""
        request = api.DeleteTeamRequest(name=name, etag=etag)
        await self._call(self.admin.DeleteTeam, request)

    # --- principals ------------------------------------------------------------

    def list_principals(
        self, parent: str, *, filter: str = "", page_size: int = 0
    ) -> AsyncIterator[pb.Principal]:
        """Every principal of the org ``parent``, page after page."""

        async def fetch(token: str) -> tuple[Sequence[pb.Principal], str]:
            response = await self.admin.ListPrincipals(
                api.ListPrincipalsRequest(
                    parent=parent, page_size=page_size, page_token=token, filter=filter
                )
            )
            return response.principals, response.next_page_token

        return follow_async_pages(fetch)

    async def get_principal(self, name: str) -> pb.Principal:
        """The principal ``orgs/{org}/principals/{principal}``."""
        request = api.GetPrincipalRequest(name=name)
        return (await self._call(self.admin.GetPrincipal, request)).principal

    async def create_principal(
        self,
        parent: str,
        principal_id: str,
        *,
        kind: pb.PrincipalKind.ValueType = pb.PRINCIPAL_KIND_USER,
        display_name: str = "",
        email: str = "",
        team: str = "",
        disabled: bool = False,
        request_id: str = "",
    ) -> pb.Principal:
        """Create the principal ``{parent}/principals/{principal_id}``."""
        request = create_principal_request(
            parent, principal_id, kind, display_name, email, team, disabled, request_id
        )
        return (await self._call(self.admin.CreatePrincipal, request)).principal

    async def update_principal(
        self,
        name: str,
        *,
        display_name: str | None = None,
        email: str | None = None,
        team: str | None = None,
        disabled: bool | None = None,
        etag: str = "",
    ) -> pb.Principal:
        """Change the fields given (not None) of a principal."""
        request = update_principal_request(
            name,
            etag,
            display_name=display_name,
            email=email,
            team=team,
            disabled=disabled,
        )
        return (await self._call(self.admin.UpdatePrincipal, request)).principal

    async def delete_principal(self, name: str, *, etag: str = "") -> None:
        """Delete a principal; ``etag``, when set, must still match."""
        request = api.DeletePrincipalRequest(name=name, etag=etag)
        await self._call(self.admin.DeletePrincipal, request)

    # --- API keys --------------------------------------------------------------

    async def create_api_key(
        self,
        principal: str,
        *,
        display_name: str = "",
        expire_time: datetime | None = None,
        request_id: str = "",
    ) -> tuple[pb.ApiKey, str]:
        """Create an API key for ``principal``; returns it and its secret."""
        request = create_api_key_request(
            principal, display_name, expire_time, request_id
        )
        response = await self._call(self.admin.CreateApiKey, request)
        return response.api_key, response.secret

    async def get_api_key(self, name: str) -> pb.ApiKey:
        """A key's metadata (never its secret)."""
        request = api.GetApiKeyRequest(name=name)
        return (await self._call(self.admin.GetApiKey, request)).api_key

    def list_api_keys(
        self, principal: str, *, filter: str = "", page_size: int = 0
    ) -> AsyncIterator[pb.ApiKey]:
        """Every key of ``principal`` (``.../principals/-`` for the whole org)."""

        async def fetch(token: str) -> tuple[Sequence[pb.ApiKey], str]:
            response = await self.admin.ListApiKeys(
                api.ListApiKeysRequest(
                    parent=principal,
                    page_size=page_size,
                    page_token=token,
                    filter=filter,
                )
            )
            return response.api_keys, response.next_page_token

        return follow_async_pages(fetch)

    async def revoke_api_key(self, name: str) -> pb.ApiKey:
        """Revoke a key; it stops working at once. Returns it, REVOKED."""
        request = api.RevokeApiKeyRequest(name=name)
        return (await self._call(self.admin.RevokeApiKey, request)).api_key

    # --- role bindings ---------------------------------------------------------

    async def create_role_binding(
        self, parent: str, principal: str, role: str, *, team: str = ""
    ) -> pb.RoleBinding:
        """Grant ``role`` to ``principal`` in the org, or in one team."""
        request = create_binding_request(parent, principal, role, team)
        response = await self._call(self.admin.CreateRoleBinding, request)
        return response.role_binding

    def list_role_bindings(
        self, parent: str, *, filter: str = "", page_size: int = 0
    ) -> AsyncIterator[pb.RoleBinding]:
        """Every role binding of the org ``parent``, page after page."""

        async def fetch(token: str) -> tuple[Sequence[pb.RoleBinding], str]:
            response = await self.admin.ListRoleBindings(
                api.ListRoleBindingsRequest(
                    parent=parent, page_size=page_size, page_token=token, filter=filter
                )
            )
            return response.role_bindings, response.next_page_token

        return follow_async_pages(fetch)

    async def delete_role_binding(self, name: str) -> None:
        """Remove the binding ``orgs/{org}/roleBindings/{binding}``."""
        request = api.DeleteRoleBindingRequest(name=name)
        await self._call(self.admin.DeleteRoleBinding, request)
