"""The audit log records every kind of Admin change, once, over the real server.

Each change is sent with its own ``x-request-id``, and the entry carrying
that request id is checked: actor, action, resource, before and after.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import func, select, text

from megarouter.context import bind_request_id
from megarouter.governance.audit import AuditTrail
from megarouter.store import migrations
from megarouter.store.audit_tables import AuditRow
from megarouter.store.database import Database
from megarouter.store.provider_tables import ProviderCredentialRow
from megarouter.store.tables import ApiKeyRow
from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin
from tests.governance.audit_support import Audited, state

ACME = "orgs/acme"
ML = "orgs/acme/teams/ml"
ALICE = "orgs/acme/principals/alice"
GROQ = "orgs/acme/providers/groq"
CREDENTIAL_SECRET = "gsk-AUDIT-SECRET-7d1f00d"
EXTRA_SECRET = "aws-AUDIT-EXTRA-SECRET-99"


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def first_groq_model(admin: Audited) -> str:
    listed, _ = await admin.call(
        "ListModels",
        api.ListModelsRequest(parent=ACME, provider_id="groq", show_disabled=True),
    )
    return str(listed.models[0].name)


class Recorder:
    """Checks the one entry a change made, and remembers its action."""

    def __init__(self, admin: Audited, caller: Any) -> None:
        self.admin = admin
        self.caller = caller
        self.actions: list[str] = []

    async def change(
        self, method: str, request: Any, action: str, resource: str | None
    ) -> tuple[Any, Any, Any, str]:
        """Send a change; its response, its entry's before and after, and
        the resource the entry names (checked when ``resource`` is given)."""
        response, request_id = await self.admin.call(method, request)
        event = await self.admin.only_event("acme", request_id)
        assert event.action == action
        assert resource is None or event.resource == resource
        assert event.actor == self.caller.principal.name
        assert event.actor_key == self.caller.api_key
        assert event.request_id == request_id
        assert event.name.startswith("orgs/acme/auditEvents/")
        self.actions.append(action)
        before, after = state(event.before_json), state(event.after_json)
        return response, before, after, event.resource


async def test_every_kind_of_change_has_exactly_one_entry(
    server: RunningServer,
) -> None:
    async with server.channel() as channel:
        admin = Audited(channel, server.admin_key)
        caller, _ = await admin.call("GetCaller", api.GetCallerRequest())
        log = Recorder(admin, caller)

        # orgs and teams
        org, before, after, _ = await log.change(
            "CreateOrg",
            api.CreateOrgRequest(org_id="acme", org=pb.Org(display_name="Acme")),
            "orgs.create",
            ACME,
        )
        assert before is None and after["display_name"] == "Acme"
        _, before, after, _ = await log.change(
            "UpdateOrg",
            api.UpdateOrgRequest(
                org=pb.Org(name=ACME, display_name="Acme Inc", etag=org.org.etag),
                update_mask=mask("display_name"),
            ),
            "orgs.update",
            ACME,
        )
        assert (before["display_name"], after["display_name"]) == ("Acme", "Acme Inc")
        assert (before["version"], after["version"]) == (1, 2)
        _, before, after, _ = await log.change(
            "CreateTeam",
            api.CreateTeamRequest(parent=ACME, team_id="ml"),
            "teams.create",
            ML,
        )
        assert before is None and after["id"] == "ml"
        _, before, after, _ = await log.change(
            "UpdateTeam",
            api.UpdateTeamRequest(
                team=pb.Team(name=ML, description="models"),
                update_mask=mask("description"),
            ),
            "teams.update",
            ML,
        )
        assert (before["description"], after["description"]) == ("", "models")

        # principals, keys and role bindings
        _, before, after, _ = await log.change(
            "CreatePrincipal",
            api.CreatePrincipalRequest(
                parent=ACME,
                principal_id="alice",
                principal=pb.Principal(kind=pb.PRINCIPAL_KIND_USER, team=ML),
            ),
            "principals.create",
            ALICE,
        )
        assert before is None
        assert (after["kind"], after["team_id"]) == ("user", "ml")
        _, before, after, _ = await log.change(
            "UpdatePrincipal",
            api.UpdatePrincipalRequest(
                principal=pb.Principal(name=ALICE, email="alice@acme.example"),
                update_mask=mask("email"),
            ),
            "principals.update",
            ALICE,
        )
        assert (before["email"], after["email"]) == ("", "alice@acme.example")
        created, before, after, resource = await log.change(
            "CreateApiKey",
            api.CreateApiKeyRequest(parent=ALICE, api_key=pb.ApiKey()),
            "keys.create",
            None,
        )
        key = created.api_key.name
        assert resource == key and before is None
        assert after["prefix"] == created.api_key.prefix
        assert after["key_hash"] == "<redacted>"
        _, before, after, _ = await log.change(
            "RevokeApiKey", api.RevokeApiKeyRequest(name=key), "keys.revoke", key
        )
        assert before["revoke_time"] is None and after["revoke_time"] is not None
        binding, before, after, resource = await log.change(
            "CreateRoleBinding",
            api.CreateRoleBindingRequest(
                parent=ACME,
                role_binding=pb.RoleBinding(principal=ALICE, role="developer", team=ML),
            ),
            "rolebindings.create",
            None,
        )
        assert resource == binding.role_binding.name and before is None
        assert (after["role"], after["principal_id"]) == ("developer", "alice")
        _, before, after, _ = await log.change(
            "DeleteRoleBinding",
            api.DeleteRoleBindingRequest(name=binding.role_binding.name),
            "rolebindings.delete",
            binding.role_binding.name,
        )
        assert before["role"] == "developer" and after is None

        # providers, models, prices and credentials
        for method, action, enabled in [
            ("DisableProvider", "providers.disable", False),
            ("EnableProvider", "providers.enable", True),
        ]:
            request = getattr(api, f"{method}Request")(name=GROQ)
            _, before, after, _ = await log.change(method, request, action, GROQ)
            assert (before, after) == ({"enabled": not enabled}, {"enabled": enabled})
        model = await first_groq_model(admin)
        for method, action, enabled in [
            ("DisableModel", "models.disable", False),
            ("EnableModel", "models.enable", True),
        ]:
            request = getattr(api, f"{method}Request")(name=model)
            _, before, after, _ = await log.change(method, request, action, model)
            assert before == {"enabled": not enabled, "price": None}
            assert after == {"enabled": enabled, "price": None}
        price = pb.ModelPrice(input_micros_per_mtok=150_000, output_micros_per_mtok=1)
        _, before, after, _ = await log.change(
            "SetModelPrice",
            api.SetModelPriceRequest(name=model, price=price),
            "models.set_price",
            model,
        )
        priced = {"input_micros_per_mtok": 150_000, "output_micros_per_mtok": 1}
        assert (before["price"], after["price"]) == (None, priced)
        _, before, after, _ = await log.change(
            "ClearModelPrice",
            api.ClearModelPriceRequest(name=model),
            "models.clear_price",
            model,
        )
        assert (before["price"], after["price"]) == (priced, None)
        _, before, after, _ = await log.change(
            "SetProviderCredential",
            api.SetProviderCredentialRequest(
                provider=GROQ,
                api_key=CREDENTIAL_SECRET,
                extra={"region": "eu", "secret_access_key": EXTRA_SECRET},
            ),
            "credentials.set",
            f"{GROQ}/credential",
        )
        stored = {
            "api_key": "<redacted>",
            "extra_keys": ["region", "secret_access_key"],
        }
        assert (before, after) == (None, stored)
        _, before, after, _ = await log.change(
            "DeleteProviderCredential",
            api.DeleteProviderCredentialRequest(name=f"{GROQ}/credential"),
            "credentials.delete",
            f"{GROQ}/credential",
        )
        assert (before, after) == (stored, None)

        # deletions, innermost first
        _, before, after, _ = await log.change(
            "DeletePrincipal",
            api.DeletePrincipalRequest(name=ALICE),
            "principals.delete",
            ALICE,
        )
        assert before["email"] == "alice@acme.example" and after is None
        _, before, after, _ = await log.change(
            "DeleteTeam", api.DeleteTeamRequest(name=ML), "teams.delete", ML
        )
        assert before["description"] == "models" and after is None
        _, before, after, _ = await log.change(
            "DeleteOrg", api.DeleteOrgRequest(name=ACME), "orgs.delete", ACME
        )
        assert before["display_name"] == "Acme Inc" and after is None

        # The deleted org's log is whole, newest first, one entry per change.
        everything = await admin.events("acme")
        default_log = await admin.events("default")

    assert [e.action for e in everything] == log.actions[::-1]
    assert len(set(log.actions)) == 21
    assert all(e.resource.startswith("orgs/acme") for e in everything)
    assert default_log == []  # changes in acme are not in the actor's org


async def test_failed_changes_leave_no_entry(server: RunningServer) -> None:
    async with server.channel() as channel:
        admin = Audited(channel, server.admin_key)
        helper = Admin(channel, server.admin_key)
        red = await helper.team("default", "red")
        blue = await helper.team("default", "blue")
        green = await helper.team("default", "green")
        await helper.principal("default", "member", team=blue.name)
        boss = await helper.principal("default", "boss", team=red.name)
        await helper.grant(boss.name, "team_admin", red.name)
        viewer = await helper.principal("default", "watcher")
        await helper.grant(viewer.name, "viewer")
        team_admin = Audited(channel, (await helper.key_for(boss.name))[1])
        watcher = Audited(channel, (await helper.key_for(viewer.name))[1])
        updated, _ = await admin.call(
            "UpdateTeam",
            api.UpdateTeamRequest(
                team=pb.Team(name=green.name, description="v2"),
                update_mask=mask("description"),
            ),
        )
        entries_before = await admin.events("default")

        attempts = [
            # refused by the interceptor: a viewer may not create teams
            (
                watcher,
                "CreateTeam",
                api.CreateTeamRequest(parent="orgs/default", team_id="nope"),
            ),
            # refused by the tenancy rules: blue is not boss's team
            (
                team_admin,
                "UpdateTeam",
                api.UpdateTeamRequest(
                    team=pb.Team(name=blue.name, description="mine"),
                    update_mask=mask("description"),
                ),
            ),
            # a stale etag: green moved to version 2 meanwhile
            (
                admin,
                "DeleteTeam",
                api.DeleteTeamRequest(name=green.name, etag=green.etag),
            ),
            # blue still has a member
            (admin, "DeleteTeam", api.DeleteTeamRequest(name=blue.name)),
            (
                admin,
                "DeleteProviderCredential",
                api.DeleteProviderCredentialRequest(
                    name="orgs/default/providers/groq/credential"
                ),
            ),
            (
                admin,
                "SetModelPrice",
                api.SetModelPriceRequest(
                    name="orgs/default/models/groq/nope-no-such-model",
                    price=pb.ModelPrice(input_micros_per_mtok=1),
                ),
            ),
        ]
        codes, details = [], []
        for who, method, request in attempts:
            try:
                await who.call(method, request)
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
                details.append(error.details() or "")
            else:
                codes.append(grpc.StatusCode.OK)
                details.append("")
        entries_after = await admin.events("default")

    assert updated.team.etag != green.etag
    assert codes == [
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.NOT_FOUND,
    ]
    assert entries_after == entries_before
    assert entries_before[0].action == "teams.update"
    assert "stale" in details[2]


async def test_secrets_never_reach_the_audit_log(server: RunningServer) -> None:
    database = server.runtime.components.database
    async with server.channel() as channel:
        admin = Audited(channel, server.admin_key)
        helper = Admin(channel, server.admin_key)
        bot = await helper.principal(
            "default", "bot", kind=pb.PRINCIPAL_KIND_SERVICE_ACCOUNT
        )
        key, key_secret = await helper.key_for(bot.name)
        await admin.call("RevokeApiKey", api.RevokeApiKeyRequest(name=key.name))
        ciphertexts = []
        for api_key in (CREDENTIAL_SECRET, CREDENTIAL_SECRET + "-rotated"):
            await admin.call(
                "SetProviderCredential",
                api.SetProviderCredentialRequest(
                    provider="orgs/default/providers/bedrock",
                    api_key=api_key,
                    extra={"secret_access_key": EXTRA_SECRET, "region": "eu-west-1"},
                ),
            )
            async with database.sessions() as session:
                ciphertexts.append(
                    await session.scalar(select(ProviderCredentialRow.ciphertext))
                )
        await admin.call(
            "DeleteProviderCredential",
            api.DeleteProviderCredentialRequest(
                name="orgs/default/providers/bedrock/credential"
            ),
        )
        async with database.sessions() as session:
            key_hash = await session.scalar(
                select(ApiKeyRow.key_hash).where(
                    ApiKeyRow.id == key.name.split("/")[-1]
                )
            )
            raw = (await session.execute(text("SELECT * FROM audit_events"))).all()
        events = await admin.events("default")

    stored = "\n".join(repr(tuple(row)) for row in raw)
    secrets = [key_secret, key_hash, CREDENTIAL_SECRET, EXTRA_SECRET, *ciphertexts]
    assert all(secret and secret not in stored for secret in secrets)
    assert [e.action for e in events][:5] == [
        "credentials.delete",
        "credentials.set",
        "credentials.set",
        "keys.revoke",
        "keys.create",
    ]
    assert "eu-west-1" not in stored  # not even the values of plain parts
    assert "secret_access_key" in stored  # but which parts were set


async def test_entry_commits_and_rolls_back_with_its_change(
    database_url: str,
) -> None:
    await migrations.upgrade_async(database_url)
    database = Database(database_url)
    trail = AuditTrail()

    async def change(fail: bool) -> None:
        bind_request_id("req-atomic" if fail else "req-kept")
        async with database.transaction() as session:
            trail.record(session, None, "teams.create", "orgs/x/teams/y", None, {})
            if fail:
                raise RuntimeError("the change failed after its entry was added")

    try:
        with pytest.raises(RuntimeError):
            await asyncio.create_task(change(fail=True))
        await asyncio.create_task(change(fail=False))
        async with database.sessions() as session:
            rows = list((await session.execute(select(AuditRow))).scalars())
            count = await session.scalar(select(func.count()).select_from(AuditRow))
    finally:
        await database.dispose()

    assert count == 1
    assert (rows[0].request_id, rows[0].org_id, rows[0].actor) == ("req-kept", "x", "")
