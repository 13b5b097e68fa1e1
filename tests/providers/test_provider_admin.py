"""Providers, models, prices and credentials over AdminService, end to end.

Every test runs a real server in process (on SQLite and PostgreSQL where
storage matters) with the first-party plugins installed on this machine, and
picks the models it needs from what ListModels shows, so a catalog update
does not break it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from megarouter.catalog.prices import UnpricedModel
from megarouter.errors import ConfigurationError
from megarouter.providers.admin import ProviderAdmin
from megarouter.providers.credentials import CredentialCipher
from megarouter.providers.spec import Credential
from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb
from tests.admin.support import Admin

ORG = "orgs/default"
SECRET = "gsk-TOPSECRET-7f3a9c2e4b1d"
AWS_SECRET = "aws-SECRET-ACCESS-KEY-93b1e0"


@pytest.fixture
async def admin(server: RunningServer) -> AsyncIterator[Admin]:
    async with server.channel() as channel:
        yield Admin(channel, server.admin_key)


@pytest.fixture
async def sqlite_admin(sqlite_server: RunningServer) -> AsyncIterator[Admin]:
    async with sqlite_server.channel() as channel:
        yield Admin(channel, sqlite_server.admin_key)


def providers_of(server: RunningServer) -> ProviderAdmin:
    assert server.runtime.components.providers is not None
    return server.runtime.components.providers


async def models(admin: Admin, **filters: object) -> list[pb.Model]:
    """Every model ListModels shows for the default org, page after page."""
    found: list[pb.Model] = []
    token = ""
    while True:
        page = await admin.ListModels(
            api.ListModelsRequest(parent=ORG, page_token=token, **filters)
        )
        found.extend(page.models)
        token = page.next_page_token
        if not token:
            return found


async def provider(admin: Admin, provider_id: str) -> pb.Provider:
    listed = await admin.ListProviders(api.ListProvidersRequest(parent=ORG))
    token = listed.next_page_token
    shown = list(listed.providers)
    while token:
        page = await admin.ListProviders(
            api.ListProvidersRequest(parent=ORG, page_token=token)
        )
        shown.extend(page.providers)
        token = page.next_page_token
    return next(p for p in shown if p.provider_id == provider_id)


async def set_credential(
    admin: Admin, provider_id: str, key: str, **extra: str
) -> api.SetProviderCredentialResponse:
    response: api.SetProviderCredentialResponse = await admin.SetProviderCredential(
        api.SetProviderCredentialRequest(
            provider=f"{ORG}/providers/{provider_id}", api_key=key, extra=extra
        )
    )
    return response


# --- credentials ------------------------------------------------------------


async def test_stored_credential_is_listed_as_metadata_only(
    server: RunningServer, admin: Admin
) -> None:
    stored = await set_credential(
        admin,
        "bedrock",
        "AKIAEXAMPLE",
        secret_access_key=AWS_SECRET,
        region="eu-west-1",
    )
    listed = await admin.ListProviderCredentials(
        api.ListProviderCredentialsRequest(parent=ORG)
    )
    bedrock = await provider(admin, "bedrock")

    assert stored.credential.name == "orgs/default/providers/bedrock/credential"
    assert list(stored.credential.extra_keys) == ["region", "secret_access_key"]
    assert [c.name for c in listed.credentials] == [stored.credential.name]
    assert bedrock.credential_source == pb.CREDENTIAL_SOURCE_STORED
    for message in (stored, listed, bedrock):
        wire = message.SerializeToString()
        assert b"AKIAEXAMPLE" not in wire and AWS_SECRET.encode() not in wire

    resolved = await providers_of(server).resolve_credential("default", "bedrock")
    assert resolved == Credential(
        "AKIAEXAMPLE", {"secret_access_key": AWS_SECRET, "region": "eu-west-1"}
    )


async def test_replacing_a_credential_keeps_one_and_resolves_the_new_key(
    server: RunningServer, admin: Admin
) -> None:
    first = await set_credential(admin, "groq", "gsk-old")
    second = await set_credential(admin, "groq", "gsk-new")
    listed = await admin.ListProviderCredentials(
        api.ListProviderCredentialsRequest(parent=ORG)
    )

    assert len(listed.credentials) == 1
    assert second.credential.create_time == first.credential.create_time
    resolved = await providers_of(server).resolve_credential("default", "groq")
    assert resolved is not None and resolved.api_key == "gsk-new"


async def test_secret_never_appears_in_logs_responses_or_stored_plaintext(
    server: RunningServer,
    admin: Admin,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [
        await set_credential(admin, "groq", SECRET),
        await set_credential(admin, "bedrock", "AKIAX", secret_access_key=AWS_SECRET),
        await admin.ListProviderCredentials(
            api.ListProviderCredentialsRequest(parent=ORG)
        ),
        await admin.ListProviders(api.ListProvidersRequest(parent=ORG, page_size=1000)),
        await admin.ListModels(api.ListModelsRequest(parent=ORG, provider_id="groq")),
    ]
    refused = await bad_credential_error(admin, SECRET)
    resolved = await providers_of(server).resolve_credential("default", "groq")

    assert resolved is not None and resolved.api_key == SECRET
    assert SECRET not in repr(resolved) and SECRET not in str(resolved)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "org=default provider=groq" in caplog.text  # the logs were captured
    said = [refused.details() or "", *(str(v) for _, v in refused.trailing_metadata())]
    said.extend(capfd.readouterr())  # the process's own stdout and stderr
    for secret in (SECRET, AWS_SECRET):
        assert secret not in caplog.text
        assert all(secret.encode() not in r.SerializeToString() for r in responses)
        assert all(secret not in text for text in said)

    rows = await raw_credential_rows(server.database_url)
    assert set(rows) == {"groq", "bedrock"}
    server_secret = server.runtime.settings.secret_key
    assert server_secret is not None
    hkdf = HKDF(hashes.SHA256(), 32, None, b"megarouter provider credentials v1")
    key = base64.urlsafe_b64encode(
        hkdf.derive(server_secret.get_secret_value().encode())
    )
    for token in rows.values():
        assert token.startswith("gAAAAA")  # a Fernet token, version 0x80
        assert SECRET not in token and AWS_SECRET not in token
    assert json.loads(Fernet(key).decrypt(rows["groq"].encode()))["api_key"] == SECRET
    assert not await secret_in_database(server.database_url, tmp_path)


async def bad_credential_error(admin: Admin, secret: str) -> grpc.aio.AioRpcError:
    """Send the secret with a malformed extra part; return the refusal."""
    try:
        await set_credential(admin, "groq", secret, **{"Bad Key": secret})
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("a malformed extra part was accepted")


async def raw_credential_rows(url: str) -> dict[str, str]:
    """provider -> ciphertext, read with plain SQL around the application."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                text(
                    "SELECT provider, ciphertext FROM provider_credentials "
                    "WHERE org_id = 'default'"
                )
            )
            return {row.provider: row.ciphertext for row in result}
    finally:
        await engine.dispose()


def secret_in_files(folder: Path, secrets: tuple[bytes, ...]) -> bool:
    """Whether any file under ``folder`` (database, WAL, ...) holds a secret."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    return any(s in path.read_bytes() for path in files for s in secrets)


async def secret_in_database(url: str, data_dir: Path) -> bool:
    """Whether any stored byte or any column of any table holds a secret."""
    secrets = (SECRET.encode(), AWS_SECRET.encode())
    if url.startswith("sqlite"):
        return await asyncio.to_thread(secret_in_files, data_dir, secrets)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(
                lambda sync: inspect(sync).get_table_names()
            )
            for table in tables:
                result = await connection.execute(text(f'SELECT * FROM "{table}"'))
                dump = repr(result.all()).encode()
                if any(s in dump for s in secrets):
                    return True
    finally:
        await engine.dispose()
    return False


async def test_credential_for_a_provider_without_auth_is_refused(
    sqlite_admin: Admin,
) -> None:
    code = await sqlite_admin.code_of(
        "SetProviderCredential",
        api.SetProviderCredentialRequest(
            provider=f"{ORG}/providers/ollama", api_key="x"
        ),
    )
    ollama = await provider(sqlite_admin, "ollama")

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert ollama.credential_source == pb.CREDENTIAL_SOURCE_NOT_NEEDED


async def test_deleting_a_credential_falls_back_to_the_environment(
    sqlite_server: RunningServer,
    sqlite_admin: Admin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    providers = providers_of(sqlite_server)
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    missing = await provider(sqlite_admin, "groq")
    nothing = await providers.resolve_credential("default", "groq")

    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env")
    from_env = await providers.resolve_credential("default", "groq")
    await set_credential(sqlite_admin, "groq", "gsk-stored")
    stored = await providers.resolve_credential("default", "groq")
    await sqlite_admin.DeleteProviderCredential(
        api.DeleteProviderCredentialRequest(name=f"{ORG}/providers/groq/credential")
    )
    after_delete = await providers.resolve_credential("default", "groq")
    shown = await provider(sqlite_admin, "groq")
    again = await sqlite_admin.code_of(
        "DeleteProviderCredential",
        api.DeleteProviderCredentialRequest(name=f"{ORG}/providers/groq/credential"),
    )

    assert missing.credential_source == pb.CREDENTIAL_SOURCE_MISSING
    assert nothing is None
    assert from_env is not None and from_env.api_key == "gsk-from-env"
    assert stored is not None and stored.api_key == "gsk-stored"
    assert after_delete is not None and after_delete.api_key == "gsk-from-env"
    assert shown.credential_source == pb.CREDENTIAL_SOURCE_ENVIRONMENT
    assert again == grpc.StatusCode.NOT_FOUND


async def test_aws_environment_resolves_to_the_parts_bedrock_signs_with(
    sqlite_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    resolved = await providers_of(sqlite_server).resolve_credential(
        "default", "bedrock"
    )

    assert resolved is not None
    assert resolved.api_key == "AKIAENV"
    assert resolved.extra["secret_access_key"] == "env-secret"
    assert "session_token" not in resolved.extra


def test_credential_sealed_under_another_secret_is_refused_clearly() -> None:
    token = CredentialCipher(b"a" * 40).encrypt(Credential("k"))

    with pytest.raises(ConfigurationError, match="store it again"):
        CredentialCipher(b"b" * 40).decrypt(token)
    assert CredentialCipher(b"a" * 40).decrypt(token).api_key == "k"
    assert "a" * 40 not in repr(CredentialCipher(b"a" * 40))


# --- enablement ---------------------------------------------------------------


async def test_disabled_model_and_provider_leave_the_org_model_list(
    server: RunningServer, admin: Admin
) -> None:
    groq = await models(admin, provider_id="groq")
    chosen = groq[0]
    await admin.DisableModel(api.DisableModelRequest(name=chosen.name))
    without_model = await models(admin, provider_id="groq")
    shown_all = await models(admin, provider_id="groq", show_disabled=True)
    catalog = await providers_of(server).catalog("default")

    assert chosen.enabled
    assert [m.name for m in without_model] == [m.name for m in groq[1:]]
    assert {m.name: m.enabled for m in shown_all}[chosen.name] is False
    assert chosen.model_id not in catalog.allowed_models()
    assert groq[1].model_id in catalog.allowed_models()

    disabled = await admin.DisableProvider(
        api.DisableProviderRequest(name=f"{ORG}/providers/groq")
    )
    assert not disabled.provider.enabled
    assert await models(admin, provider_id="groq") == []
    catalog = await providers_of(server).catalog("default")
    assert not any(m.startswith("groq/") for m in catalog.allowed_models())

    await admin.EnableProvider(api.EnableProviderRequest(name=f"{ORG}/providers/groq"))
    await admin.EnableModel(api.EnableModelRequest(name=chosen.name))
    assert [m.name for m in await models(admin, provider_id="groq")] == [
        m.name for m in groq
    ]


async def test_one_orgs_settings_do_not_touch_another_org(
    sqlite_server: RunningServer, sqlite_admin: Admin
) -> None:
    await sqlite_admin.CreateOrg(api.CreateOrgRequest(org_id="acme", org=pb.Org()))
    acme_admin = await sqlite_admin.principal("acme", "boss")
    await sqlite_admin.grant(acme_admin.name, "org_admin")
    _, key = await sqlite_admin.key_for(acme_admin.name)
    await set_credential(sqlite_admin, "groq", "gsk-default")
    await sqlite_admin.DisableProvider(
        api.DisableProviderRequest(name=f"{ORG}/providers/groq")
    )

    async with sqlite_server.channel() as channel:
        acme = Admin(channel, key)
        listed = await acme.ListModels(
            api.ListModelsRequest(parent="orgs/acme", provider_id="groq")
        )
        creds = await acme.ListProviderCredentials(
            api.ListProviderCredentialsRequest(parent="orgs/acme")
        )
        peeks = [
            await acme.code_of(
                "ListProviderCredentials",
                api.ListProviderCredentialsRequest(parent=ORG),
            ),
            await acme.code_of(
                "EnableProvider",
                api.EnableProviderRequest(name=f"{ORG}/providers/groq"),
            ),
        ]

    assert listed.models and all(m.enabled for m in listed.models)
    assert list(creds.credentials) == []
    assert peeks == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.NOT_FOUND]
    resolved = await providers_of(sqlite_server).resolve_credential("acme", "groq")
    assert resolved is None or resolved.api_key != "gsk-default"


# --- prices -------------------------------------------------------------------


async def test_price_override_is_listed_and_charged(
    server: RunningServer, admin: Admin
) -> None:
    priced = next(
        m
        for m in await models(admin, provider_id="groq")
        if m.price_source == pb.PRICE_SOURCE_LIST
    )
    response = await admin.SetModelPrice(
        api.SetModelPriceRequest(
            name=priced.name,
            price=pb.ModelPrice(
                input_micros_per_mtok=1_250_000, output_micros_per_mtok=2_500_000
            ),
        )
    )
    listed = {m.name: m for m in await models(admin, provider_id="groq")}[priced.name]
    table = (await providers_of(server).catalog("default")).price_table()

    assert response.model.price_source == pb.PRICE_SOURCE_OVERRIDE
    assert listed.price == pb.ModelPrice(
        input_micros_per_mtok=1_250_000, output_micros_per_mtok=2_500_000
    )
    assert listed.list_price == priced.price
    # 1M input tokens at $1.25 plus 2M output tokens at $2.50 per million.
    assert table.cost_micros(priced.model_id, 1_000_000, 2_000_000) == 6_250_000

    cleared = await admin.ClearModelPrice(api.ClearModelPriceRequest(name=priced.name))
    table = (await providers_of(server).catalog("default")).price_table()
    assert cleared.model.price_source == pb.PRICE_SOURCE_LIST
    assert cleared.model.price == priced.price
    assert table.price_for(priced.model_id).input_per_mtok == (
        priced.price.input_micros_per_mtok
    )


async def test_unpriced_model_is_shown_unpriced_until_an_admin_prices_it(
    sqlite_server: RunningServer, sqlite_admin: Admin
) -> None:
    unpriced = next(
        m
        for m in await models(sqlite_admin, provider_id="ollama")
        if m.price_source == pb.PRICE_SOURCE_UNPRICED
    )
    table = (await providers_of(sqlite_server).catalog("default")).price_table()

    assert not unpriced.HasField("price") and not unpriced.HasField("list_price")
    with pytest.raises(UnpricedModel):
        table.cost_micros(unpriced.model_id, 10, 10)

    await sqlite_admin.SetModelPrice(
        api.SetModelPriceRequest(
            name=unpriced.name,
            price=pb.ModelPrice(input_micros_per_mtok=0, output_micros_per_mtok=0),
        )
    )
    table = (await providers_of(sqlite_server).catalog("default")).price_table()
    assert table.cost_micros(unpriced.model_id, 10, 10) == 0  # an admin's choice


async def test_model_ids_with_slashes_are_named_and_changed(
    sqlite_admin: Admin,
) -> None:
    slashed = next(
        m
        for m in await models(sqlite_admin, provider_id="groq")
        if m.model_id.count("/") > 1
    )
    disabled = await sqlite_admin.DisableModel(
        api.DisableModelRequest(name=slashed.name)
    )

    assert slashed.name == f"{ORG}/models/{slashed.model_id}"
    assert disabled.model.model_id == slashed.model_id
    assert not disabled.model.enabled


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        (
            "SetModelPrice",
            api.SetModelPriceRequest(name=f"{ORG}/models/groq/nope-model"),
        ),
        (
            "SetModelPrice",
            api.SetModelPriceRequest(
                name=f"{ORG}/models/groq/x",
                price=pb.ModelPrice(input_micros_per_mtok=-1),
            ),
        ),
        ("EnableModel", api.EnableModelRequest(name=f"{ORG}/models/groq")),
        ("EnableProvider", api.EnableProviderRequest(name="orgs/default/groq")),
        ("ListModels", api.ListModelsRequest(parent=ORG, page_token="bm9wZQ==")),
        ("ListModels", api.ListModelsRequest(parent=ORG, mode=99)),
        (
            "SetProviderCredential",
            api.SetProviderCredentialRequest(provider=f"{ORG}/providers/groq"),
        ),
    ],
)
async def test_malformed_requests_are_invalid_arguments(
    sqlite_admin: Admin, method: str, request_: object
) -> None:
    assert await sqlite_admin.code_of(method, request_) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("EnableModel", api.EnableModelRequest(name=f"{ORG}/models/groq/nope")),
        ("DisableProvider", api.DisableProviderRequest(name=f"{ORG}/providers/nope")),
        ("ListModels", api.ListModelsRequest(parent=ORG, provider_id="nope")),
        ("ListProviders", api.ListProvidersRequest(parent="orgs/nope")),
    ],
)
async def test_unknown_models_providers_and_orgs_are_not_found(
    sqlite_admin: Admin, method: str, request_: object
) -> None:
    assert await sqlite_admin.code_of(method, request_) == grpc.StatusCode.NOT_FOUND


async def test_list_models_pages_and_filters_by_mode(sqlite_admin: Admin) -> None:
    everything = await models(sqlite_admin, provider_id="together_ai")
    paged = await models(sqlite_admin, provider_id="together_ai", page_size=7)
    embedding = await models(
        sqlite_admin, provider_id="together_ai", mode=pb.MODEL_MODE_EMBEDDING
    )

    assert len(everything) > 7
    assert [m.name for m in paged] == [m.name for m in everything]
    assert [m.model_id for m in everything] == sorted(m.model_id for m in everything)
    assert embedding and all(m.mode == pb.MODEL_MODE_EMBEDDING for m in embedding)
    assert len(embedding) < len(everything)
