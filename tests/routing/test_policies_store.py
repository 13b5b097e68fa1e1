"""RoutingPolicies on SQLite and PostgreSQL: CRUD, etags, validation, pages,
attachments, and which policy a call gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, event

from megarouter.auth.caller import Caller, Grant
from megarouter.completions.requests import CallContext
from megarouter.errors import (
    AlreadyExists,
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from megarouter.routing.decision import RoutingPolicy, Strategy
from megarouter.routing.policies import RoutingPolicies
from megarouter.routing.policy_spec import PolicySpec
from megarouter.store import migrations
from megarouter.store.database import Database
from megarouter.store.policy_tables import (
    RoutingPolicyAttachmentRow,
    RoutingPolicyRow,
)
from megarouter.store.tables import ApiKeyRow, OrgRow, PrincipalRow, TeamRow
from megarouter.tenancy.base import etag_of
from megarouter.testing.server import fresh_postgres_database
from tests.conftest import POSTGRES_URL

ORG = "acme"
KEY = "orgs/acme/principals/ann/keys/k1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Store:
    policies: RoutingPolicies
    clock: Clock
    database: Database


def caller(*grants: Grant, team: str | None = "red", org: str = ORG) -> Caller:
    return Caller(
        org_id=org,
        principal_id="ann",
        key_id="k1",
        team_id=team,
        grants=grants,
    )


ADMIN = caller(Grant("org_admin"))
RED_ADMIN = caller(Grant("team_admin", "red"))
DEVELOPER = caller(Grant("developer"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One migrated database per backend for the whole module."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'db.sqlite'}"
        await migrations.upgrade_async(url)
        yield url
        return
    async with fresh_postgres_database(POSTGRES_URL) as url:
        await migrations.upgrade_async(url)
        yield url


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[Store]:
    """A store over the rows of :func:`seed`, on each backend."""
    async with opened_store(migrated_url) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store on SQLite only, for how calls resolve policies."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await migrations.upgrade_async(url)
    async with opened_store(url) as opened:
        yield opened


@asynccontextmanager
async def opened_store(database_url: str) -> AsyncIterator[Store]:
    database = Database(database_url)
    await seed(database)
    clock = Clock()
    try:
        yield Store(RoutingPolicies(database, ttl=5.0, clock=clock), clock, database)
    finally:
        await empty(database)
        await database.dispose()


async def seed(database: Database) -> None:
    """Orgs acme and other; acme has teams red (ann, key k1) and blue (bob,
    key k2)."""
    async with database.transaction() as session:
        session.add_all([OrgRow(id=ORG), OrgRow(id="other")])
        await session.flush()
        session.add_all(
            [
                TeamRow(org_id=ORG, id="red"),
                TeamRow(org_id=ORG, id="blue"),
                PrincipalRow(org_id=ORG, id="ann", kind="user", team_id="red"),
                PrincipalRow(org_id=ORG, id="bob", kind="user", team_id="blue"),
            ]
        )
        await session.flush()
        session.add_all(
            [
                ApiKeyRow(
                    org_id=ORG, id="k1", principal_id="ann", prefix="p", key_hash="1"
                ),
                ApiKeyRow(
                    org_id=ORG, id="k2", principal_id="bob", prefix="p", key_hash="2"
                ),
            ]
        )


async def empty(database: Database) -> None:
    """Remove every row ``seed`` and a test wrote, children first."""
    async with database.transaction() as session:
        for table in (
            RoutingPolicyAttachmentRow,
            RoutingPolicyRow,
            ApiKeyRow,
            PrincipalRow,
            TeamRow,
            OrgRow,
        ):
            await session.execute(delete(table))


def call_of(who: Caller) -> CallContext:
    return CallContext(caller=who, request_id="r1")


async def test_policy_round_trips_every_setting(store: Store) -> None:
    spec = PolicySpec(
        description="cheap but decent",
        strategy=Strategy.COST_FIRST,
        min_quality=0.6,
        max_cost_micros=5_000,
        max_latency_ms=2_000,
        willingness_to_pay_micros=90_000,
        allowed_models=("groq/*", "openai/gpt-4o-mini"),
        max_attempts=2,
    )
    created = await store.policies.create(ADMIN, ORG, "cheap", spec)
    got = await store.policies.get(DEVELOPER, ORG, "cheap")

    assert created.name == got.name == "orgs/acme/routingPolicies/cheap"
    assert got.spec == spec
    assert got.row.version == 1 and got.attached_to == ()


async def test_update_changes_only_masked_fields_and_bumps_etag(store: Store) -> None:
    await store.policies.create(
        ADMIN, ORG, "p", PolicySpec(strategy=Strategy.QUALITY_FIRST, max_attempts=4)
    )
    changed = PolicySpec(description="new", min_quality=0.3, max_attempts=1)
    updated = await store.policies.update(
        ADMIN, ORG, "p", changed, ["description", "min_quality"], etag_of(1)
    )

    assert updated.spec.description == "new"
    assert updated.spec.min_quality == 0.3
    assert updated.spec.max_attempts == 4  # not in the mask
    assert updated.spec.strategy is Strategy.QUALITY_FIRST
    assert updated.row.version == 2


async def test_stale_etag_fails_update_and_delete(store: Store) -> None:
    await store.policies.create(ADMIN, ORG, "p", PolicySpec())
    await store.policies.update(ADMIN, ORG, "p", PolicySpec(), [], etag_of(1))

    with pytest.raises(EtagMismatch):
        await store.policies.update(ADMIN, ORG, "p", PolicySpec(), [], etag_of(1))
    with pytest.raises(EtagMismatch):
        await store.policies.delete(ADMIN, ORG, "p", etag_of(1))
    await store.policies.delete(ADMIN, ORG, "p", etag_of(2))
    with pytest.raises(NotFound):
        await store.policies.get(ADMIN, ORG, "p")


async def test_duplicate_id_is_already_exists(store: Store) -> None:
    await store.policies.create(ADMIN, ORG, "p", PolicySpec())
    with pytest.raises(AlreadyExists):
        await store.policies.create(ADMIN, ORG, "p", PolicySpec())


async def test_invalid_settings_name_every_bad_field(store: Store) -> None:
    bad = PolicySpec(
        min_quality=1.5,
        max_cost_micros=0,
        max_latency_ms=-1,
        willingness_to_pay_micros=0,
        allowed_models=("groq/*", "", "no-slash"),
        max_attempts=11,
    )
    with pytest.raises(InvalidArgument) as caught:
        await store.policies.create(ADMIN, ORG, "bad", bad)

    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "routing_policy.min_quality",
        "routing_policy.max_cost_micros",
        "routing_policy.max_latency_ms",
        "routing_policy.willingness_to_pay_micros",
        "routing_policy.allowed_models[1]",
        "routing_policy.allowed_models[2]",
        "routing_policy.max_attempts",
    }
    with pytest.raises(NotFound):
        await store.policies.get(ADMIN, ORG, "bad")


async def test_bad_id_and_bad_update_mask_are_invalid(sqlite_store: Store) -> None:
    with pytest.raises(InvalidArgument):
        await sqlite_store.policies.create(ADMIN, ORG, "Not_An_Id", PolicySpec())
    await sqlite_store.policies.create(ADMIN, ORG, "p", PolicySpec())
    with pytest.raises(InvalidArgument):
        await sqlite_store.policies.update(ADMIN, ORG, "p", PolicySpec(), ["name"], "")
    with pytest.raises(InvalidArgument):
        await sqlite_store.policies.update(
            ADMIN, ORG, "p", PolicySpec(max_attempts=0), ["max_attempts"], ""
        )


async def test_list_pages_through_every_policy_once(store: Store) -> None:
    for index in range(7):
        await store.policies.create(ADMIN, ORG, f"p{index}", PolicySpec())
    platform_admin = caller(Grant("platform_admin"), org="other")
    await store.policies.create(platform_admin, "other", "elsewhere", PolicySpec())
    seen: list[str] = []
    token = ""
    while True:
        page, token = await store.policies.list_page(platform_admin, ORG, 3, token)
        assert len(page) <= 3
        seen.extend(p.row.id for p in page)
        if not token:
            break

    assert seen == [f"p{i}" for i in range(7)]
    with pytest.raises(InvalidArgument):
        await store.policies.list_page(ADMIN, ORG, 3, "not-a-token")


async def test_another_orgs_policies_are_not_found(sqlite_store: Store) -> None:
    await sqlite_store.policies.create(ADMIN, ORG, "p", PolicySpec())
    stranger = caller(Grant("org_admin"), org="other")
    with pytest.raises(NotFound):
        await sqlite_store.policies.get(stranger, ORG, "p")
    with pytest.raises(NotFound):
        await sqlite_store.policies.list_page(stranger, ORG, 0, "")


async def test_only_org_admins_create_update_delete(sqlite_store: Store) -> None:
    with pytest.raises(PermissionDenied):
        await sqlite_store.policies.create(RED_ADMIN, ORG, "p", PolicySpec())
    await sqlite_store.policies.create(ADMIN, ORG, "p", PolicySpec())
    with pytest.raises(PermissionDenied):
        await sqlite_store.policies.update(RED_ADMIN, ORG, "p", PolicySpec(), [], "")
    with pytest.raises(PermissionDenied):
        await sqlite_store.policies.delete(RED_ADMIN, ORG, "p", "")


async def test_attached_policy_cannot_be_deleted_until_detached(store: Store) -> None:
    await store.policies.create(ADMIN, ORG, "p", PolicySpec())
    await store.policies.attach(ADMIN, ORG, "p", "orgs/acme/teams/red")
    await store.policies.attach(ADMIN, ORG, "p", KEY)

    got = await store.policies.get(ADMIN, ORG, "p")
    assert got.attached_to == (KEY, "orgs/acme/teams/red")
    with pytest.raises(FailedPrecondition, match="detach it first"):
        await store.policies.delete(ADMIN, ORG, "p", "")

    await store.policies.detach(ADMIN, ORG, "orgs/acme/teams/red")
    await store.policies.detach(ADMIN, ORG, KEY)
    await store.policies.delete(ADMIN, ORG, "p", "")
    with pytest.raises(NotFound):
        await store.policies.detach(ADMIN, ORG, KEY)


async def test_attaching_replaces_the_targets_previous_policy(store: Store) -> None:
    await store.policies.create(ADMIN, ORG, "one", PolicySpec())
    await store.policies.create(ADMIN, ORG, "two", PolicySpec())
    await store.policies.attach(ADMIN, ORG, "one", "orgs/acme")
    await store.policies.attach(ADMIN, ORG, "two", "orgs/acme")

    assert (await store.policies.get(ADMIN, ORG, "one")).attached_to == ()
    assert (await store.policies.get(ADMIN, ORG, "two")).attached_to == ("orgs/acme",)


async def test_attach_checks_targets(store: Store) -> None:
    await store.policies.create(ADMIN, ORG, "p", PolicySpec())
    with pytest.raises(NotFound):
        await store.policies.attach(ADMIN, ORG, "p", "orgs/acme/teams/green")
    with pytest.raises(NotFound):
        await store.policies.attach(ADMIN, ORG, "p", "orgs/acme/principals/bob/keys/k1")
    with pytest.raises(InvalidArgument):
        await store.policies.attach(ADMIN, ORG, "p", "orgs/other")
    with pytest.raises(InvalidArgument):
        await store.policies.attach(ADMIN, ORG, "p", "orgs/acme/principals/ann")
    with pytest.raises(NotFound):
        await store.policies.attach(ADMIN, ORG, "missing", "orgs/acme")


async def test_team_admin_attaches_only_on_its_team_and_its_keys(store: Store) -> None:
    await store.policies.create(ADMIN, ORG, "p", PolicySpec())

    await store.policies.attach(RED_ADMIN, ORG, "p", "orgs/acme/teams/red")
    await store.policies.attach(RED_ADMIN, ORG, "p", KEY)
    await store.policies.detach(RED_ADMIN, ORG, KEY)
    for target in (
        "orgs/acme",
        "orgs/acme/teams/blue",
        "orgs/acme/principals/bob/keys/k2",
    ):
        with pytest.raises(PermissionDenied):
            await store.policies.attach(RED_ADMIN, ORG, "p", target)
    await store.policies.attach(ADMIN, ORG, "p", "orgs/acme/teams/blue")
    with pytest.raises(PermissionDenied):
        await store.policies.detach(RED_ADMIN, ORG, "orgs/acme/teams/blue")


async def test_call_gets_key_then_team_then_org_then_default(
    sqlite_store: Store,
) -> None:
    strategies = {
        "by-org": Strategy.COST_FIRST,
        "by-team": Strategy.QUALITY_FIRST,
        "by-key": Strategy.LATENCY_FIRST,
    }
    for policy_id, strategy in strategies.items():
        await sqlite_store.policies.create(
            ADMIN, ORG, policy_id, PolicySpec(strategy=strategy)
        )
    call = call_of(DEVELOPER)
    seen = [await sqlite_store.policies.policy_for(call, "")]

    for policy_id, target in [
        ("by-org", "orgs/acme"),
        ("by-team", "orgs/acme/teams/red"),
        ("by-key", KEY),
    ]:
        await sqlite_store.policies.attach(ADMIN, ORG, policy_id, target)
        seen.append(await sqlite_store.policies.policy_for(call, ""))
    named = await sqlite_store.policies.policy_for(call, "by-org")
    by_full_name = await sqlite_store.policies.policy_for(
        call, "orgs/acme/routingPolicies/by-team"
    )

    assert seen[0] == RoutingPolicy()
    assert [p.strategy for p in seen[1:]] == [
        Strategy.COST_FIRST,
        Strategy.QUALITY_FIRST,
        Strategy.LATENCY_FIRST,
    ]
    assert seen[3].name == "orgs/acme/routingPolicies/by-key"
    assert named.strategy is Strategy.COST_FIRST
    assert by_full_name.strategy is Strategy.QUALITY_FIRST


async def test_caller_without_team_skips_to_the_org_policy(sqlite_store: Store) -> None:
    await sqlite_store.policies.create(
        ADMIN, ORG, "p", PolicySpec(strategy=Strategy.COST_FIRST, max_attempts=1)
    )
    await sqlite_store.policies.attach(ADMIN, ORG, "p", "orgs/acme")
    teamless = caller(Grant("developer"), team=None)

    policy = await sqlite_store.policies.policy_for(call_of(teamless), "")

    assert policy.strategy is Strategy.COST_FIRST and policy.max_attempts == 1


@pytest.mark.parametrize(
    "name",
    ["missing", "orgs/other/routingPolicies/p", "Bad Name", "orgs/acme/teams/red"],
)
async def test_request_naming_an_unknown_policy_is_invalid(
    sqlite_store: Store, name: str
) -> None:
    await sqlite_store.policies.create(ADMIN, ORG, "p", PolicySpec())
    with pytest.raises(InvalidArgument) as caught:
        await sqlite_store.policies.policy_for(call_of(DEVELOPER), name)
    assert [v.field for v in caught.value.violations] == ["routing.policy"]


async def test_other_processes_changes_show_after_the_ttl(sqlite_store: Store) -> None:
    other_process = RoutingPolicies(sqlite_store.database)
    call = call_of(DEVELOPER)
    assert await sqlite_store.policies.policy_for(call, "") == RoutingPolicy()

    await other_process.create(
        ADMIN, ORG, "p", PolicySpec(strategy=Strategy.LATENCY_FIRST)
    )
    await other_process.attach(ADMIN, ORG, "p", "orgs/acme")
    cached = await sqlite_store.policies.policy_for(call, "")
    sqlite_store.clock.now += 5.0
    fresh = await sqlite_store.policies.policy_for(call, "")

    assert cached == RoutingPolicy()
    assert fresh.strategy is Strategy.LATENCY_FIRST


async def test_own_changes_show_at_once(sqlite_store: Store) -> None:
    call = call_of(DEVELOPER)
    assert await sqlite_store.policies.policy_for(call, "") == RoutingPolicy()
    await sqlite_store.policies.create(ADMIN, ORG, "p", PolicySpec(max_attempts=5))
    await sqlite_store.policies.attach(ADMIN, ORG, "p", "orgs/acme")

    assert (await sqlite_store.policies.policy_for(call, "")).max_attempts == 5
    await sqlite_store.policies.update(
        ADMIN, ORG, "p", PolicySpec(max_attempts=2), [], ""
    )
    assert (await sqlite_store.policies.policy_for(call, "")).max_attempts == 2
    await sqlite_store.policies.detach(ADMIN, ORG, "orgs/acme")
    assert await sqlite_store.policies.policy_for(call, "") == RoutingPolicy()


async def test_steady_state_calls_do_not_read_the_database(sqlite_store: Store) -> None:
    await sqlite_store.policies.create(ADMIN, ORG, "p", PolicySpec(max_attempts=4))
    await sqlite_store.policies.attach(ADMIN, ORG, "p", "orgs/acme")
    call = call_of(DEVELOPER)
    assert (await sqlite_store.policies.policy_for(call, "")).max_attempts == 4

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(
        sqlite_store.database.engine.sync_engine, "before_cursor_execute", count
    )
    try:
        for _ in range(50):
            await sqlite_store.policies.policy_for(call, "")
            await sqlite_store.policies.policy_for(call, "p")
    finally:
        event.remove(
            sqlite_store.database.engine.sync_engine, "before_cursor_execute", count
        )
    assert statements == []
