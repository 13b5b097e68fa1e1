"""Budget resources: create, get, list, update and delete, with validation
and etags, on SQLite and PostgreSQL; and the migration that makes the tables."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from megarouter.errors import AlreadyExists, EtagMismatch, InvalidArgument, NotFound
from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budget_model import Budget, ScopeKind
from megarouter.governance.budget_periods import Period
from megarouter.store.budget_tables import BudgetRow
from megarouter.store.database import Database
from megarouter.store.migrations import alembic_config, upgrade_async
from megarouter.store.tables import OrgRow
from megarouter.testing.server import fresh_postgres_database

POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BUDGET_TABLES = ("budgets", "budget_windows", "budget_leases")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('budgets') / 'mr.db'}"
        await upgrade_async(url)
        yield url
        return
    async with fresh_postgres_database(POSTGRES_URL) as url:
        await upgrade_async(url)
        yield url


@pytest.fixture
async def database(migrated_url: str) -> AsyncIterator[Database]:
    """The module's database with org acme and no budgets."""
    database = Database(migrated_url)
    async with database.transaction() as session:
        await session.execute(delete(BudgetRow))
        if await session.get(OrgRow, "acme") is None:
            session.add(OrgRow(id="acme"))
    yield database
    await database.dispose()


@pytest.fixture
def admin(database: Database) -> BudgetAdmin:
    return BudgetAdmin(database)


def budget(budget_id: str = "ml-monthly", **fields: Any) -> Budget:
    values: dict[str, Any] = {
        "org_id": "acme",
        "id": budget_id,
        "scope_kind": ScopeKind.TEAM,
        "scope_value": "ml",
        "period": Period.MONTHLY,
        "limit_micros": 50_000_000,
    }
    return Budget(**(values | fields))


async def test_created_budget_reads_back_with_etag(admin: BudgetAdmin) -> None:
    created = await admin.create(
        budget(hard=False, prefer_cheaper_below_micros=5_000_000, display_name="ML")
    )

    fetched = await admin.get("acme", "ml-monthly")

    assert fetched == created
    assert fetched.name == "orgs/acme/budgets/ml-monthly"
    assert fetched.etag == 'W/"1"'
    assert (fetched.hard, fetched.prefer_cheaper_below_micros) == (False, 5_000_000)


async def test_org_budget_ignores_scope_value(admin: BudgetAdmin) -> None:
    created = await admin.create(budget(scope_kind=ScopeKind.ORG, scope_value="x"))

    assert created.scope_value == ""


async def test_invalid_budget_names_every_bad_field(admin: BudgetAdmin) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await admin.create(
            budget(
                "Not An Id",
                scope_value="",
                limit_micros=0,
                prefer_cheaper_below_micros=-1,
                display_name="x" * 201,
            )
        )

    assert {v.field for v in caught.value.violations} == {
        "budget_id",
        "budget.scope_value",
        "budget.limit_micros",
        "budget.prefer_cheaper_below_micros",
        "budget.display_name",
    }


async def test_duplicate_id_or_unknown_org_is_refused(admin: BudgetAdmin) -> None:
    await admin.create(budget())

    with pytest.raises(AlreadyExists):
        await admin.create(budget(limit_micros=1))
    with pytest.raises(NotFound):
        await admin.create(budget(org_id="nobody"))
    with pytest.raises(NotFound):
        await admin.get("acme", "missing")


async def test_list_pages_through_budgets_in_id_order(admin: BudgetAdmin) -> None:
    for n in range(5):
        await admin.create(budget(f"b{n}"))

    first, token = await admin.list("acme", page_size=2)
    second, token2 = await admin.list("acme", page_size=2, page_token=token)
    third, token3 = await admin.list("acme", page_size=2, page_token=token2)

    assert [b.id for b in first + second + third] == ["b0", "b1", "b2", "b3", "b4"]
    assert token3 == ""
    with pytest.raises(InvalidArgument):
        await admin.list("acme", page_token="forged")


async def test_update_checks_etag_and_mutable_fields(admin: BudgetAdmin) -> None:
    created = await admin.create(budget())

    updated = await admin.update(
        "acme", "ml-monthly", {"limit_micros": 70_000_000, "hard": False}, created.etag
    )

    assert (updated.limit_micros, updated.hard, updated.version) == (
        70_000_000,
        False,
        2,
    )
    assert await admin.get("acme", "ml-monthly") == updated
    with pytest.raises(EtagMismatch):
        await admin.update("acme", "ml-monthly", {"display_name": "x"}, created.etag)
    with pytest.raises(InvalidArgument) as caught:
        await admin.update("acme", "ml-monthly", {"period": Period.DAILY})
    assert caught.value.violations[0].field == "update_mask"
    with pytest.raises(InvalidArgument):
        await admin.update("acme", "ml-monthly", {"limit_micros": -5})


async def test_delete_checks_etag(admin: BudgetAdmin) -> None:
    created = await admin.create(budget())

    with pytest.raises(EtagMismatch):
        await admin.delete("acme", "ml-monthly", 'W/"9"')
    await admin.delete("acme", "ml-monthly", created.etag)

    with pytest.raises(NotFound):
        await admin.get("acme", "ml-monthly")
    with pytest.raises(NotFound):
        await admin.delete("acme", "ml-monthly")


# --- migration ----------------------------------------------------------------


async def test_migration_matches_tables_and_downgrades(database_url: str) -> None:
    def differences(connection: Connection) -> list[Any]:
        diff: list[Any] = compare_metadata(
            MigrationContext.configure(connection), SQLModel.metadata
        )
        return diff

    def table_names(connection: Connection) -> list[str]:
        return list(inspect(connection).get_table_names())

    await upgrade_async(database_url, "0004")
    database = Database(database_url)
    async with database.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0003")
    async with database.engine.connect() as connection:
        after_downgrade = await connection.run_sync(table_names)
    await database.dispose()

    assert [d for d in diff if any(t in repr(d) for t in BUDGET_TABLES)] == []
    assert not set(BUDGET_TABLES) & set(after_downgrade)


async def test_deleting_org_deletes_its_budgets(
    database: Database, admin: BudgetAdmin
) -> None:
    async with database.transaction() as session:
        session.add(OrgRow(id="gone"))
    await admin.create(budget(org_id="gone"))

    async with database.transaction() as session:
        await session.delete(await session.get(OrgRow, "gone"))

    assert await admin.list("gone") == ([], "")
