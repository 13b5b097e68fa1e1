"""Role and key changes made through one process reach another within seconds."""

from __future__ import annotations

import asyncio

import grpc
from grpc import aio

from megarouter.testing.server import fresh_postgres_database
from megarouter.v1 import admin_service_pb2 as api
from tests.admin.support import Admin
from tests.conftest import POSTGRES_URL
from tests.server.support import server_process, wait_serving
from tests.server.test_lifecycle import run_cli

POLL_LIMIT = 15.0  # seconds a change may take to arrive; generous on a busy box


async def eventually(
    admin: Admin, method: str, request: object, wanted: grpc.StatusCode
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + POLL_LIMIT
    while True:
        code = await admin.code_of(method, request)
        if code == wanted:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{method} still answers {code}, never {wanted}")
        await asyncio.sleep(0.1)


async def test_grant_and_revocation_reach_other_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = "mr-propagation-admin-0123456789"
    async with fresh_postgres_database(POSTGRES_URL) as url:
        env = {
            "MEGAROUTER_DATABASE_URL": url,
            "MEGAROUTER_SECRET_KEY": "shared-secret-" + "x" * 30,
            "MEGAROUTER_BOOTSTRAP_KEY": key,
            "MEGAROUTER_AUTH_REFRESH_INTERVAL": "0.5",
            "MEGAROUTER_DATA_DIR": str(tmp_path),
        }
        code, output = await run_cli("db", "upgrade", env=env)
        assert code == 0, output

        async with server_process(env) as first, server_process(env) as second:
            await wait_serving(first.target)
            await wait_serving(second.target)
            async with (
                aio.insecure_channel(first.target) as a_channel,
                aio.insecure_channel(second.target) as b_channel,
            ):
                admin_a = Admin(a_channel, key)
                principal = await admin_a.principal("default", "dana")
                await admin_a.grant(principal.name, "developer")
                api_key, secret = await admin_a.key_for(principal.name)

                dana_b = Admin(b_channel, secret)
                create = api.CreateTeamRequest(parent="orgs/default", team_id="from-b")
                await eventually(
                    dana_b, "GetCaller", api.GetCallerRequest(), grpc.StatusCode.OK
                )
                assert await dana_b.code_of("CreateTeam", create) == (
                    grpc.StatusCode.PERMISSION_DENIED
                )

                await admin_a.grant(principal.name, "org_admin")
                await eventually(dana_b, "CreateTeam", create, grpc.StatusCode.OK)

                await admin_a.RevokeApiKey(api.RevokeApiKeyRequest(name=api_key.name))
                await eventually(
                    dana_b,
                    "GetCaller",
                    api.GetCallerRequest(),
                    grpc.StatusCode.UNAUTHENTICATED,
                )
