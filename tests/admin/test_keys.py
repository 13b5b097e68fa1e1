"""API keys: shown once, stored hashed, revocation and expiry take effect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import select

from megarouter.store.database import Database
from megarouter.store.tables import ApiKeyRow
from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin


async def make_key(
    admin: Admin, principal_id: str, **fields: object
) -> tuple[pb.ApiKey, str]:
    principal = await admin.principal("default", principal_id)
    await admin.grant(principal.name, "viewer")
    response = await admin.CreateApiKey(
        api.CreateApiKeyRequest(parent=principal.name, api_key=pb.ApiKey(**fields))
    )
    return response.api_key, response.secret


async def test_secret_is_shown_once_and_stored_only_hashed(
    server: RunningServer,
) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        key, secret = await make_key(admin, "hashy")
        assert secret.startswith("mr-") and len(secret) > 40
        assert secret[3:].startswith(key.prefix)

        fetched = (await admin.GetApiKey(api.GetApiKeyRequest(name=key.name))).api_key
        assert secret not in str(fetched)

    database = Database(server.database_url)
    try:
        async with database.sessions() as session:
            rows = (await session.execute(select(ApiKeyRow))).scalars().all()
    finally:
        await database.dispose()
    stored = " ".join(f"{r.key_hash} {r.prefix} {r.display_name}" for r in rows)
    assert secret not in stored and secret[3:] not in stored


async def test_revoked_key_is_refused_at_once(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        key, secret = await make_key(admin, "soon-revoked")
        holder = Admin(channel, secret)
        assert (
            await holder.code_of("GetCaller", api.GetCallerRequest())
            == grpc.StatusCode.OK
        )

        await admin.RevokeApiKey(api.RevokeApiKeyRequest(name=key.name))
        assert (
            await holder.code_of("GetCaller", api.GetCallerRequest())
            == grpc.StatusCode.UNAUTHENTICATED
        )
        listed = await admin.ListApiKeys(
            api.ListApiKeysRequest(
                parent=key.name.rsplit("/keys/", 1)[0], filter="state = REVOKED"
            )
        )
        assert [k.name for k in listed.api_keys] == [key.name]


async def test_expired_key_is_refused(server: RunningServer) -> None:
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(datetime.now(UTC) + timedelta(seconds=2))
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        key, secret = await make_key(admin, "short-lived", expire_time=expire)
        holder = Admin(channel, secret)
        assert (
            await holder.code_of("GetCaller", api.GetCallerRequest())
            == grpc.StatusCode.OK
        )

        # Wait (bounded) for the expiry to pass; no assertion on timing.
        for _ in range(100):
            code = await holder.code_of("GetCaller", api.GetCallerRequest())
            if code != grpc.StatusCode.OK:
                break
            await asyncio.sleep(0.1)
        assert code == grpc.StatusCode.UNAUTHENTICATED
        state = (
            await admin.GetApiKey(api.GetApiKeyRequest(name=key.name))
        ).api_key.state
        assert state == pb.API_KEY_STATE_EXPIRED


async def test_key_with_past_expiry_is_invalid_argument(server: RunningServer) -> None:
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(days=1))
    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        principal = await admin.principal("default", "past")
        code = await admin.code_of(
            "CreateApiKey",
            api.CreateApiKeyRequest(
                parent=principal.name, api_key=pb.ApiKey(expire_time=past)
            ),
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_disabled_principal_keys_are_refused(server: RunningServer) -> None:
    from google.protobuf import field_mask_pb2

    async with server.channel() as channel:
        admin = Admin(channel, server.admin_key)
        _, secret = await make_key(admin, "to-disable")
        holder = Admin(channel, secret)
        assert (
            await holder.code_of("GetCaller", api.GetCallerRequest())
            == grpc.StatusCode.OK
        )
        await admin.UpdatePrincipal(
            api.UpdatePrincipalRequest(
                principal=pb.Principal(
                    name="orgs/default/principals/to-disable", disabled=True
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["disabled"]),
            )
        )
        code = await holder.code_of("GetCaller", api.GetCallerRequest())
        assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_missing_or_unknown_key_is_unauthenticated(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        stub = Admin(channel, "").stub
        for metadata in (
            (),
            (("authorization", "Bearer mr-not-a-real-key-at-all-000"),),
            (("x-api-key", "short"),),
            (("authorization", "Basic abc"),),
        ):
            try:
                await stub.ListOrgs(api.ListOrgsRequest(), metadata=metadata)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            else:
                raise AssertionError(f"accepted {metadata}")
        response = await stub.ListOrgs(
            api.ListOrgsRequest(), metadata=(("x-api-key", sqlite_server.admin_key),)
        )
        assert response.orgs
