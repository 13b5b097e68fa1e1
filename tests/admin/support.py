"""Small helpers for calling AdminService with a key in tests."""

from __future__ import annotations

from typing import Any

import grpc
from grpc import aio

from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import admin_service_pb2_grpc as api_grpc
from megarouter.v1 import resources_pb2 as pb


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


class Admin:
    """An AdminService stub that sends one key with every call."""

    def __init__(self, channel: aio.Channel, key: str) -> None:
        self.stub = api_grpc.AdminServiceStub(channel)
        self.key = key

    def __getattr__(self, method: str) -> Any:
        rpc = getattr(self.stub, method)

        async def call(request: Any) -> Any:
            return await rpc(request, metadata=auth(self.key), timeout=30)

        return call

    async def code_of(self, method: str, request: Any) -> grpc.StatusCode:
        """The status code a call ends with (OK on success)."""
        try:
            await getattr(self, method)(request)
        except aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    async def team(self, org: str, team_id: str) -> pb.Team:
        response = await self.CreateTeam(
            api.CreateTeamRequest(parent=f"orgs/{org}", team_id=team_id)
        )
        return response.team

    async def principal(
        self, org: str, principal_id: str, team: str = "", kind: int = 1
    ) -> pb.Principal:
        response = await self.CreatePrincipal(
            api.CreatePrincipalRequest(
                parent=f"orgs/{org}",
                principal_id=principal_id,
                principal=pb.Principal(kind=kind, team=team),
            )
        )
        return response.principal

    async def key_for(self, principal_name: str) -> tuple[pb.ApiKey, str]:
        response = await self.CreateApiKey(
            api.CreateApiKeyRequest(parent=principal_name, api_key=pb.ApiKey())
        )
        return response.api_key, response.secret

    async def grant(
        self, principal_name: str, role: str, team: str = ""
    ) -> pb.RoleBinding:
        org = "/".join(principal_name.split("/")[:2])
        response = await self.CreateRoleBinding(
            api.CreateRoleBindingRequest(
                parent=org,
                role_binding=pb.RoleBinding(
                    principal=principal_name, role=role, team=team
                ),
            )
        )
        return response.role_binding
