"""The Python SDK: MegaRouter's Admin service from scripts.

    from megarouter.client import MegaRouterClient

    with MegaRouterClient() as client:  # $MEGAROUTER_TARGET, $MEGAROUTER_API_KEY
        client.create_team("orgs/acme", "ml", display_name="Machine learning")
        for principal in client.list_principals("orgs/acme"):
            print(principal.name, principal.team)

:class:`AsyncMegaRouterClient` offers the same methods as coroutines, with
async iterators for lists, over ``grpc.aio``. Both attach the API key to every
call and expose the generated stub as ``.admin`` for anything the methods
here do not cover. The methods raise :class:`MegaRouterRpcError`, whose code,
field violations and ErrorInfo reason come from the server's status details;
the raw stub raises ``grpc.RpcError``, which
:meth:`MegaRouterRpcError.from_grpc` decodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import grpc

from megarouter.async_client import AsyncMegaRouterClient
from megarouter.client_transport import (
    ALL_PRINCIPALS,
    API_KEY_ENV,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    TARGET_ENV,
    MegaRouterRpcError,
    MissingApiKey,
    create_api_key_request,
    create_binding_request,
    create_principal_request,
    follow_pages,
    open_channel,
    resolve_target_and_key,
    translated,
    update_org_request,
    update_principal_request,
    update_team_request,
)
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import admin_service_pb2_grpc as api_grpc
from megarouter.v1 import resources_pb2 as pb

__all__ = [
    "ALL_PRINCIPALS",
    "API_KEY_ENV",
    "DEFAULT_TARGET",
    "TARGET_ENV",
    "AsyncMegaRouterClient",
    "MegaRouterClient",
    "MegaRouterRpcError",
    "MissingApiKey",
]

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class MegaRouterClient:
    """A blocking client of MegaRouter's Admin service.

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
        admin: The generated AdminService stub, authenticated.
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
        self._channel, channel = open_channel(
            self.target, key, timeout, root_certificates, secure
        )
        self.admin = api_grpc.AdminServiceStub(channel)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    def _call(method: grpc.UnaryUnaryMultiCallable[Req, Resp], request: Req) -> Resp:
        with translated():
            return method(request)

    # --- caller and roles ------------------------------------------------------

    def get_caller(self) -> api.GetCallerResponse:
        """Who the key belongs to: its principal, org, role bindings and name.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        return self._call(self.admin.GetCaller, api.GetCallerRequest())

    def list_roles(self) -> list[pb.Role]:
        """The built-in roles and their permissions.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        return list(self._call(self.admin.ListRoles, api.ListRolesRequest()).roles)

    # --- orgs ------------------------------------------------------------------

    def list_orgs(self, *, filter: str = "", page_size: int = 0) -> Iterator[pb.Org]:
        """Every org the caller may see, reading page after page.

        Args:
            filter: Conjunctions of ``field = "value"``; see ListOrgsRequest.
            page_size: Orgs per page; 0 lets the server choose.

        Raises:
            MegaRouterRpcError: A page could not be read.
        """

        def fetch(token: str) -> tuple[Sequence[pb.Org], str]:
            request = api.ListOrgsRequest(
                page_size=page_size, page_token=token, filter=filter
            )
            response = self.admin.ListOrgs(request)
            return response.orgs, response.next_page_token

        return follow_pages(fetch)

    def get_org(self, name: str) -> pb.Org:
        """The org ``orgs/{org}``.

        Raises:
            MegaRouterRpcError: The call failed, NOT_FOUND if no such org.
        """
        return self._call(self.admin.GetOrg, api.GetOrgRequest(name=name)).org

    def create_org(
        self,
        org_id: str,
        *,
        display_name: str = "",
        time_zone: str = "",
        request_id: str = "",
    ) -> pb.Org:
        """Create the org ``orgs/{org_id}`` (platform admins only).

        Args:
            org_id: The new org's id: lowercase letters, digits, hyphens.
            display_name: A human-readable name.
            time_zone: The IANA zone budget periods start in; "" for UTC.
            request_id: Makes a retry return the first call's org.

        Returns:
            The created org.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        org = pb.Org(display_name=display_name, time_zone=time_zone)
        request = api.CreateOrgRequest(org=org, org_id=org_id, request_id=request_id)
        return self._call(self.admin.CreateOrg, request).org

    def update_org(
        self,
        name: str,
        *,
        display_name: str | None = None,
        time_zone: str | None = None,
        etag: str = "",
    ) -> pb.Org:
        """Change the fields given (not None) of an org.

        Args:
            name: The org, ``orgs/{org}``.
            display_name: The new display name.
            time_zone: The new IANA time zone.
            etag: When set, change only if the org still has this etag.

        Returns:
            The org as it is now.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = update_org_request(
            name, etag, display_name=display_name, time_zone=time_zone
        )
        return self._call(self.admin.UpdateOrg, request).org

    def delete_org(self, name: str, *, etag: str = "") -> None:
        """Delete an org; ``etag``, when set, must still match.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        self._call(self.admin.DeleteOrg, api.DeleteOrgRequest(name=name, etag=etag))

    # --- teams -----------------------------------------------------------------

    def list_teams(
        self, parent: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[pb.Team]:
        """Every team of the org ``parent`` (``orgs/{org}``), page after page.

        Raises:
            MegaRouterRpcError: A page could not be read.
        """

        def fetch(token: str) -> tuple[Sequence[pb.Team], str]:
            request = api.ListTeamsRequest(
                parent=parent, page_size=page_size, page_token=token, filter=filter
            )
            response = self.admin.ListTeams(request)
            return response.teams, response.next_page_token

        return follow_pages(fetch)

    def get_team(self, name: str) -> pb.Team:
        """The team ``orgs/{org}/teams/{team}``.

        Raises:
            MegaRouterRpcError: The call failed, NOT_FOUND if no such team.
        """
        return self._call(self.admin.GetTeam, api.GetTeamRequest(name=name)).team

    def create_team(
        self,
        parent: str,
        team_id: str,
        *,
        display_name: str = "",
        description: str = "",
        request_id: str = "",
    ) -> pb.Team:
        """Create the team ``{parent}/teams/{team_id}``.

        Args:
            parent: The org, ``orgs/{org}``.
            team_id: The new team's id: lowercase letters, digits, hyphens.
            display_name: A human-readable name.
            description: What the team does.
            request_id: Makes a retry return the first call's team.

        Returns:
            The created team.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        team = pb.Team(display_name=display_name, description=description)
        request = api.CreateTeamRequest(
            parent=parent, team=team, team_id=team_id, request_id=request_id
        )
        return self._call(self.admin.CreateTeam, request).team

    def update_team(
        self,
        name: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        etag: str = "",
    ) -> pb.Team:
        """Change the fields given (not None) of a team; see :meth:`update_org`.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = update_team_request(
            name, etag, display_name=display_name, description=description
        )
        return self._call(self.admin.UpdateTeam, request).team

    def delete_team(self, name: str, *, etag: str = "") -> None:
        """Delete a team; ``etag``, when set, must still match.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        self._call(self.admin.DeleteTeam, api.DeleteTeamRequest(name=name, etag=etag))

    # --- principals ------------------------------------------------------------

    def list_principals(
        self, parent: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[pb.Principal]:
        """Every principal of the org ``parent``, page after page.

        Args:
            parent: The org, ``orgs/{org}``.
            filter: Such as ``team = "orgs/acme/teams/ml" AND disabled = false``.
            page_size: Principals per page; 0 lets the server choose.

        Raises:
            MegaRouterRpcError: A page could not be read.
        """

        def fetch(token: str) -> tuple[Sequence[pb.Principal], str]:
            request = api.ListPrincipalsRequest(
                parent=parent, page_size=page_size, page_token=token, filter=filter
            )
            response = self.admin.ListPrincipals(request)
            return response.principals, response.next_page_token

        return follow_pages(fetch)

    def get_principal(self, name: str) -> pb.Principal:
        """The principal ``orgs/{org}/principals/{principal}``.

        Raises:
            MegaRouterRpcError: The call failed, NOT_FOUND if none.
        """
        request = api.GetPrincipalRequest(name=name)
        return self._call(self.admin.GetPrincipal, request).principal

    def create_principal(
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
        """Create the principal ``{parent}/principals/{principal_id}``.

        Args:
            parent: The org, ``orgs/{org}``.
            principal_id: The new principal's id.
            kind: ``PRINCIPAL_KIND_USER`` or ``PRINCIPAL_KIND_SERVICE_ACCOUNT``.
            display_name: A human-readable name.
            email: The person's email address.
            team: The team, ``orgs/{org}/teams/{team}``; "" for none.
            disabled: Create it disabled: its keys are refused.
            request_id: Makes a retry return the first call's principal.

        Returns:
            The created principal.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = create_principal_request(
            parent, principal_id, kind, display_name, email, team, disabled, request_id
        )
        return self._call(self.admin.CreatePrincipal, request).principal

    def update_principal(
        self,
        name: str,
        *,
        display_name: str | None = None,
        email: str | None = None,
        team: str | None = None,
        disabled: bool | None = None,
        etag: str = "",
    ) -> pb.Principal:
        """Change the fields given (not None) of a principal.

        ``team=""`` takes the principal out of its team; see
        :meth:`update_org` for ``etag``.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = update_principal_request(
            name,
            etag,
            display_name=display_name,
            email=email,
            team=team,
            disabled=disabled,
        )
        return self._call(self.admin.UpdatePrincipal, request).principal

    def delete_principal(self, name: str, *, etag: str = "") -> None:
        """Delete a principal; ``etag``, when set, must still match.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = api.DeletePrincipalRequest(name=name, etag=etag)
        self._call(self.admin.DeletePrincipal, request)

    # --- API keys --------------------------------------------------------------

    def create_api_key(
        self,
        principal: str,
        *,
        display_name: str = "",
        expire_time: datetime | None = None,
        request_id: str = "",
    ) -> tuple[pb.ApiKey, str]:
        """Create an API key for ``principal``.

        Args:
            principal: ``orgs/{org}/principals/{principal}``.
            display_name: A human-readable name.
            expire_time: When the key stops working (timezone-aware); None
                for never.
            request_id: Makes a retry return the first call's key, without
                its secret.

        Returns:
            The key's metadata and its secret, which cannot be read again.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = create_api_key_request(
            principal, display_name, expire_time, request_id
        )
        response = self._call(self.admin.CreateApiKey, request)
        return response.api_key, response.secret

    def get_api_key(self, name: str) -> pb.ApiKey:
        """The key ``orgs/{org}/principals/{principal}/keys/{key}``, no secret.

        Raises:
            MegaRouterRpcError: The call failed, NOT_FOUND if none.
        """
        return self._call(self.admin.GetApiKey, api.GetApiKeyRequest(name=name)).api_key

    def list_api_keys(
        self, principal: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[pb.ApiKey]:
        """Every key of ``principal``, page after page.

        Args:
            principal: ``orgs/{org}/principals/{principal}``, or
                ``orgs/{org}/principals/-`` for every key of the org.
            filter: Such as ``state = ACTIVE``.
            page_size: Keys per page; 0 lets the server choose.

        Raises:
            MegaRouterRpcError: A page could not be read.
        """

        def fetch(token: str) -> tuple[Sequence[pb.ApiKey], str]:
            request = api.ListApiKeysRequest(
                parent=principal, page_size=page_size, page_token=token, filter=filter
            )
            response = self.admin.ListApiKeys(request)
            return response.api_keys, response.next_page_token

        return follow_pages(fetch)

    def revoke_api_key(self, name: str) -> pb.ApiKey:
        """Revoke a key; it stops working at once.

        Returns:
            The key, now in state REVOKED.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = api.RevokeApiKeyRequest(name=name)
        return self._call(self.admin.RevokeApiKey, request).api_key

    # --- role bindings ---------------------------------------------------------

    def create_role_binding(
        self, parent: str, principal: str, role: str, *, team: str = ""
    ) -> pb.RoleBinding:
        """Grant ``role`` to ``principal`` in the org, or in one team.

        Args:
            parent: The org, ``orgs/{org}``.
            principal: ``orgs/{org}/principals/{principal}``.
            role: A built-in role such as ``developer``; see :meth:`list_roles`.
            team: ``orgs/{org}/teams/{team}`` to limit the role to; "" for
                the whole org.

        Returns:
            The created binding.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = create_binding_request(parent, principal, role, team)
        return self._call(self.admin.CreateRoleBinding, request).role_binding

    def list_role_bindings(
        self, parent: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[pb.RoleBinding]:
        """Every role binding of the org ``parent``, page after page.

        Args:
            parent: The org, ``orgs/{org}``.
            filter: On ``principal``, ``role`` and ``team``.
            page_size: Bindings per page; 0 lets the server choose.

        Raises:
            MegaRouterRpcError: A page could not be read.
        """

        def fetch(token: str) -> tuple[Sequence[pb.RoleBinding], str]:
            request = api.ListRoleBindingsRequest(
                parent=parent, page_size=page_size, page_token=token, filter=filter
            )
            response = self.admin.ListRoleBindings(request)
            return response.role_bindings, response.next_page_token

        return follow_pages(fetch)

    def delete_role_binding(self, name: str) -> None:
        """Remove the binding ``orgs/{org}/roleBindings/{binding}``.

        Raises:
            MegaRouterRpcError: The call failed.
        """
        request = api.DeleteRoleBindingRequest(name=name)
        self._call(self.admin.DeleteRoleBinding, request)
