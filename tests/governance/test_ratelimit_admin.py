"""Configured rate limits: the store, its lookup for the call path, and the
AdminService calls over it.

Store tests run on SQLite and PostgreSQL against a freshly migrated
database; service tests run against the real server on loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from google.protobuf import field_mask_pb2
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from megarouter.errors import AlreadyExists, EtagMismatch, InvalidArgument, NotFound
from megarouter.governance.ratelimit_store import RateLimitConfig, RateLimitStore
from megarouter.governance.ratelimits import RateLimit
from megarouter.store.database import Database
from megarouter.store.migrations import alembic_config, upgrade_async
from megarouter.store.tables import ApiKeyRow, OrgRow, TeamRow
from megarouter.testing.server import RunningServer
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import governance_pb2 as gov
from tests.admin.support import Admin

KEY = "orgs/acme/principals/bot/keys/k1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async(database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        session.add_all([OrgRow(id="acme"), OrgRow(id="globex")])
        await session.flush()
        session.add_all(
            [TeamRow(org_id="acme", id="ml"), TeamRow(org_id="globex", id="ml")]
        )
        session.add(
            ApiKeyRow(
                org_id="acme", id="k1", principal_id="bot", prefix="mr-", key_hash="h"
            )
        )
    yield database
    await database.dispose()


async def test_limits_for_finds_the_key_and_team_limits_of_a_caller(
    database: Database,
) -> None:
    store = RateLimitStore(database)
    await store.create(None, RateLimitConfig("acme", "ml", "orgs/acme/teams/ml", 600))
    await store.create(None, RateLimitConfig("acme", "bot", KEY, None, 50_000))
    await store.create(
        None, RateLimitConfig("globex", "ml", "orgs/globex/teams/ml", 1, 1)
    )

    both = await store.limits_for("acme", "ml", "k1")
    team_only = await store.limits_for("acme", "ml", "other-key")
    key_only = await store.limits_for("acme", "", "k1")
    none = await store.limits_for("acme", "search", "k9")

    assert both == [
        RateLimit.for_key("acme", "k1", tpm=50_000),
        RateLimit.for_team("acme", "ml", rpm=600),
    ]
    assert team_only == [RateLimit.for_team("acme", "ml", rpm=600)]
    assert key_only == [RateLimit.for_key("acme", "k1", tpm=50_000)]
    assert none == []


async def test_limits_for_is_cached_until_a_local_change_or_expiry(
    database: Database,
) -> None:
    clock = Clock()
    store = RateLimitStore(database, cache_ttl=5.0, clock=clock)
    other = RateLimitStore(database)  # another replica
    await store.create(None, RateLimitConfig("acme", "ml", "orgs/acme/teams/ml", 10))
    assert await store.limits_for("acme", "ml", "k1") == [
        RateLimit.for_team("acme", "ml", rpm=10)
    ]

    await other.update(None, "acme", "ml", {"requests_per_minute": 20})
    cached = await store.limits_for("acme", "ml", "k1")
    clock.now = 5.0
    expired = await store.limits_for("acme", "ml", "k1")
    await store.update(None, "acme", "ml", {"requests_per_minute": 30})
    local = await store.limits_for("acme", "ml", "k1")
    await store.delete(None, "acme", "ml")
    deleted = await store.limits_for("acme", "ml", "k1")

    assert cached == [RateLimit.for_team("acme", "ml", rpm=10)]
    assert expired == [RateLimit.for_team("acme", "ml", rpm=20)]
    assert local == [RateLimit.for_team("acme", "ml", rpm=30)]
    assert deleted == []


async def test_rate_limit_store_validates_targets_amounts_and_etags(
    database: Database,
) -> None:
    store = RateLimitStore(database)
    created = await store.create(
        None, RateLimitConfig("acme", "ml", "orgs/acme/teams/ml", 10)
    )

    with pytest.raises(AlreadyExists):
        await store.create(None, RateLimitConfig("acme", "dup", created.target, 5))
    with pytest.raises(NotFound):
        await store.create(None, RateLimitConfig("acme", "x", "orgs/acme/teams/no", 5))
    with pytest.raises(NotFound):
        wrong_owner = "orgs/acme/principals/eve/keys/k1"
        await store.create(None, RateLimitConfig("acme", "x", wrong_owner, 5))
    with pytest.raises(InvalidArgument):
        await store.create(
            None, RateLimitConfig("acme", "x", "orgs/globex/teams/ml", 5)
        )
    with pytest.raises(InvalidArgument):
        await store.create(None, RateLimitConfig("acme", "x", KEY))
    with pytest.raises(InvalidArgument):
        await store.create(None, RateLimitConfig("acme", "x", KEY, -1))
    with pytest.raises(InvalidArgument):
        await store.update(None, "acme", "ml", {"target": KEY})
    with pytest.raises(InvalidArgument):
        await store.update(None, "acme", "ml", {"requests_per_minute": None})
    updated = await store.update(
        None, "acme", "ml", {"tokens_per_minute": 9}, created.etag
    )
    with pytest.raises(EtagMismatch):
        await store.update(None, "acme", "ml", {"tokens_per_minute": 1}, created.etag)
    with pytest.raises(EtagMismatch):
        await store.delete(None, "acme", "ml", created.etag)
    with pytest.raises(NotFound):
        await store.get("globex", "ml")

    assert (updated.requests_per_minute, updated.tokens_per_minute) == (10, 9)
    assert updated.version == 2
    assert await store.get("acme", "ml") == updated


async def test_rate_limits_list_in_pages(database: Database) -> None:
    store = RateLimitStore(database)
    for index, team in enumerate(["a", "b", "c"]):
        async with database.transaction() as session:
            session.add(TeamRow(org_id="acme", id=team))
        target = f"orgs/acme/teams/{team}"
        await store.create(None, RateLimitConfig("acme", f"l{index}", target, 1))

    first, token = await store.list("acme", page_size=2)
    second, last = await store.list("acme", page_size=2, page_token=token)

    assert [c.id for c in first] == ["l0", "l1"]
    assert [c.id for c in second] == ["l2"]
    assert last == ""


async def test_rate_limit_rpcs_round_trip_and_are_audited(
    sqlite_server: RunningServer,
) -> None:
    async with sqlite_server.channel() as channel:
        admin = Admin(channel, sqlite_server.admin_key)
        await admin.team("default", "ml")
        created = (
            await admin.CreateRateLimit(
                gov.CreateRateLimitRequest(
                    parent="orgs/default",
                    rate_limit_id="ml-limit",
                    rate_limit=gov.RateLimit(
                        target="orgs/default/teams/ml", requests_per_minute=60
                    ),
                )
            )
        ).rate_limit
        change = gov.RateLimit(
            name=created.name, etag=created.etag, tokens_per_minute=100_000
        )
        mask = field_mask_pb2.FieldMask(paths=["tokens_per_minute"])
        updated = (
            await admin.UpdateRateLimit(
                gov.UpdateRateLimitRequest(rate_limit=change, update_mask=mask)
            )
        ).rate_limit
        listed = (
            await admin.ListRateLimits(gov.ListRateLimitsRequest(parent="orgs/default"))
        ).rate_limits
        live = sqlite_server.runtime.components.governance.ratelimits
        limits = await live.limits_for("default", "ml", "any-key")
        bad_target = await admin.code_of(
            "CreateRateLimit",
            gov.CreateRateLimitRequest(
                parent="orgs/default",
                rate_limit_id="other",
                rate_limit=gov.RateLimit(
                    target="orgs/default/teams/ml/x", tokens_per_minute=1
                ),
            ),
        )
        await admin.DeleteRateLimit(gov.DeleteRateLimitRequest(name=created.name))
        events = (
            await admin.ListAuditEvents(
                api.ListAuditEventsRequest(
                    parent="orgs/default", filter='action = "ratelimits.*"'
                )
            )
        ).audit_events

    assert created.name == "orgs/default/rateLimits/ml-limit"
    assert (updated.requests_per_minute, updated.tokens_per_minute) == (60, 100_000)
    assert [r.name for r in listed] == [created.name]
    assert limits == [RateLimit.for_team("default", "ml", rpm=60, tpm=100_000)]
    assert bad_target == grpc.StatusCode.INVALID_ARGUMENT
    assert [e.action for e in events] == [
        "ratelimits.delete",
        "ratelimits.update",
        "ratelimits.create",
    ]
    after_update = json.loads(events[1].after_json)
    assert after_update["tokens_per_minute"] == 100_000
    assert all(e.resource == created.name for e in events)


async def test_migration_matches_table_and_deleting_an_org_deletes_its_limits(
    database_url: str,
) -> None:
    def differences(connection: Connection) -> list[Any]:
        diff: list[Any] = compare_metadata(
            MigrationContext.configure(connection), SQLModel.metadata
        )
        return diff

    def table_names(connection: Connection) -> list[str]:
        return list(inspect(connection).get_table_names())

    await upgrade_async(database_url, "0009")
    database = Database(database_url)
    async with database.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    async with database.transaction() as session:
        session.add(OrgRow(id="gone"))
        await session.flush()
        session.add(TeamRow(org_id="gone", id="ml"))
    store = RateLimitStore(database)
    await store.create(None, RateLimitConfig("gone", "ml", "orgs/gone/teams/ml", 1))
    async with database.transaction() as session:
        await session.delete(await session.get(TeamRow, ("gone", "ml")))
        await session.delete(await session.get(OrgRow, "gone"))
    left, _ = await store.list("gone")
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0003")
    async with database.engine.connect() as connection:
        after_downgrade = await connection.run_sync(table_names)
    await database.dispose()

    assert [d for d in diff if "rate_limit_configs" in repr(d)] == []
    assert left == []
    assert "rate_limit_configs" not in after_downgrade
