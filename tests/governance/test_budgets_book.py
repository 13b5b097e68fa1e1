"""Budgets on the call path: reserve, settle, refuse, alert, lease, expire.

Every test runs on SQLite and on the real PostgreSQL; each backend's database
is migrated once for the module and emptied of budgets before every test.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from megarouter.errors import ResourceExhausted
from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budget_model import Budget, CallScopes, ScopeKind
from megarouter.governance.budget_periods import Period
from megarouter.governance.budgets import BudgetBook
from megarouter.store.budget_tables import BudgetRow
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.store.tables import OrgRow
from megarouter.testing.server import fresh_postgres_database

POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

CALL = CallScopes(org_id="acme", team_id="ml", principal_id="alice", key_id="key-1")


class ManualClock:
    """A clock that moves only when told."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One migrated database per backend for the module; tests clean up."""
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
    """The module's database with org acme (Europe/Paris) and no budgets."""
    database = Database(migrated_url)
    async with database.transaction() as session:
        await session.execute(delete(BudgetRow))  # windows and leases cascade
        if await session.get(OrgRow, "acme") is None:
            session.add(OrgRow(id="acme", time_zone="Europe/Paris"))
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
async def book(database: Database, clock: ManualClock) -> AsyncIterator[BudgetBook]:
    book = BudgetBook(database, clock=clock, replica_id="book-1", retry_after=0.001)
    yield book
    await book.stop()


@pytest.fixture
def admin(database: Database, book: BudgetBook) -> BudgetAdmin:
    return BudgetAdmin(database, on_change=book.forget)


async def add_budget(
    admin: BudgetAdmin,
    budget_id: str,
    limit: int,
    kind: ScopeKind = ScopeKind.TEAM,
    value: str = "ml",
    **fields: object,
) -> Budget:
    values: dict[str, object] = {"period": Period.MONTHLY} | fields
    return await admin.create(
        Budget("acme", budget_id, kind, value, limit_micros=limit, **values)  # type: ignore[arg-type]
    )


async def admit_until_refused(
    book: BudgetBook, worst: int, actual: int, scopes: CallScopes = CALL
) -> tuple[int, ResourceExhausted]:
    """Make calls one after another until one is refused."""
    admitted = 0
    while True:
        try:
            reservation = await book.reserve(scopes, worst)
        except ResourceExhausted as exc:
            return admitted, exc
        await book.settle(reservation, actual)
        admitted += 1
        assert admitted < 10_000


# --- one replica ------------------------------------------------------------


async def test_hard_budget_refuses_call_that_could_pass_limit(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    await add_budget(admin, "ml-monthly", 1000)

    admitted, refusal = await admit_until_refused(book, worst=300, actual=300)
    await book.stop()
    status = await book.status("acme", "ml-monthly")

    assert admitted == 3
    assert [v.subject for v in refusal.violations] == ["orgs/acme/budgets/ml-monthly"]
    assert "100 left" in refusal.violations[0].description
    assert refusal.retry_after is None  # nothing in flight can bring money back
    assert (status.spent_micros, status.leased_micros) == (900, 0)


async def test_cheap_calls_use_budget_to_last_worst_case(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    await add_budget(admin, "ml-monthly", 100_000)

    admitted, _ = await admit_until_refused(book, worst=1000, actual=250)
    await book.stop()
    status = await book.status("acme", "ml-monthly")

    # 99_000 spent leaves exactly 1000, one more worst case: 397 calls fit.
    assert admitted == 397
    assert status.spent_micros == 397 * 250
    assert status.remaining_micros == 100_000 - 397 * 250 < 1000


async def test_settled_spend_written_back_at_maintenance_tick(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    await add_budget(admin, "ml-monthly", 10_000_000)
    for _ in range(5):
        await book.settle(await book.reserve(CALL, 1000), 700)

    before = await book.status("acme", "ml-monthly")
    await book.maintain()
    after = await book.status("acme", "ml-monthly")

    assert before.spent_micros == 0 and before.leased_micros > 0
    assert after.spent_micros == 3500
    assert after.spent_micros + after.leased_micros == before.leased_micros


async def test_tighter_of_two_covering_budgets_refuses(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    await add_budget(admin, "team", 1_000_000)
    await add_budget(admin, "key", 1000, kind=ScopeKind.KEY, value="key-1")
    await add_budget(admin, "other-key", 10, kind=ScopeKind.KEY, value="key-2")

    admitted, refusal = await admit_until_refused(book, worst=400, actual=400)
    await book.stop()
    team = await book.status("acme", "team")

    assert admitted == 2
    assert [v.subject for v in refusal.violations] == ["orgs/acme/budgets/key"]
    assert team.spent_micros == 800  # the refused call holds nothing anywhere
    assert team.leased_micros == 0


async def test_every_covering_scope_kind_counts(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    call = CallScopes("acme", "ml", "alice", "key-1", scenario="support bot")
    for kind, value in [
        (ScopeKind.ORG, ""),
        (ScopeKind.TEAM, "ml"),
        (ScopeKind.PRINCIPAL, "alice"),
        (ScopeKind.KEY, "key-1"),
        (ScopeKind.SCENARIO, "support bot"),
    ]:
        await add_budget(admin, f"by-{kind}", 10_000, kind=kind, value=value)
    await add_budget(admin, "bob", 10, kind=ScopeKind.PRINCIPAL, value="bob")

    reservation = await book.reserve(call, 100)
    await book.settle(reservation, 60)
    await book.stop()

    assert sorted(reservation.budgets) == [
        f"orgs/acme/budgets/by-{kind}" for kind in sorted(ScopeKind)
    ]
    for kind in ScopeKind:
        assert (await book.status("acme", f"by-{kind}")).spent_micros == 60
    assert (await book.status("acme", "bob")).spent_micros == 0


async def test_soft_budget_admits_and_alerts_once_per_window(
    book: BudgetBook,
    admin: BudgetAdmin,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_budget(admin, "soft", 1000, hard=False, period=Period.DAILY)
    caplog.set_level(logging.WARNING, logger="megarouter.governance.budgets")

    first_day = [await book.reserve(CALL, 300) for _ in range(6)]
    for reservation in first_day:
        await book.settle(reservation, 300)
    clock.advance(days=1)
    second_day = [await book.reserve(CALL, 300) for _ in range(6)]
    for reservation in second_day:
        await book.settle(reservation, 300)
    await book.stop()

    alerts = [r for r in caplog.records if "budget alert" in r.getMessage()]
    assert len(alerts) == 2
    assert "orgs/acme/budgets/soft" in alerts[0].getMessage()
    assert first_day[0].soft_alerts == ()
    assert first_day[-1].soft_alerts == ("orgs/acme/budgets/soft",)
    assert (await book.status("acme", "soft")).spent_micros == 1800


async def test_outlook_reports_headroom_and_cheaper_preference(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    await add_budget(admin, "team", 10_000, prefer_cheaper_below_micros=5000)
    await add_budget(admin, "key", 50_000, kind=ScopeKind.KEY, value="key-1")
    await add_budget(admin, "soft", 100, kind=ScopeKind.ORG, hard=False)
    unbudgeted = CallScopes(org_id="acme", team_id="data", key_id="key-9")

    fresh = await book.outlook(CALL)
    for _ in range(6):
        await book.settle(await book.reserve(CALL, 1000), 1000)
    spent = await book.outlook(CALL)

    assert (fresh.headroom_micros, fresh.prefer_cheaper) == (10_000, False)
    assert (spent.headroom_micros, spent.prefer_cheaper) == (4000, True)
    assert await book.headroom(unbudgeted) is None


async def test_raised_limit_admits_again(book: BudgetBook, admin: BudgetAdmin) -> None:
    budget = await add_budget(admin, "ml-monthly", 1000)
    await admit_until_refused(book, worst=500, actual=500)

    await admin.update("acme", "ml-monthly", {"limit_micros": 2000}, budget.etag)
    admitted, _ = await admit_until_refused(book, worst=500, actual=500)

    assert admitted == 2


async def test_deleted_budget_stops_applying(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    await add_budget(admin, "ml-monthly", 1000)
    held = await book.reserve(CALL, 600)

    await admin.delete("acme", "ml-monthly")
    reservation = await book.reserve(CALL, 600)
    await book.settle(held, 600)
    await book.settle(reservation, 600)

    assert reservation.budgets == ()


async def test_settling_twice_or_negative_is_refused(
    book: BudgetBook, admin: BudgetAdmin
) -> None:
    await add_budget(admin, "ml-monthly", 1000)
    reservation = await book.reserve(CALL, 100)
    await book.settle(reservation, 50)

    with pytest.raises(ValueError, match="settled already"):
        await book.settle(reservation, 50)
    with pytest.raises(ValueError, match="negative"):
        await book.reserve(CALL, -1)


# --- periods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "period", "last_instant"),
    [
        # Midnight in New York in winter is 05:00 UTC.
        ("America/New_York", Period.DAILY, "2026-01-15T04:59:59.999999"),
        # Spring forward: 8 March lasts 23 hours and ends at 04:00 UTC.
        ("America/New_York", Period.DAILY, "2026-03-09T03:59:59.999999"),
        # Santiago skips midnight on 6 September: the day starts at 01:00.
        ("America/Santiago", Period.DAILY, "2026-09-06T03:59:59.999999"),
        # Fall back: Saturday 4 April lasts 25 hours.
        ("America/Santiago", Period.DAILY, "2026-04-05T03:59:59.999999"),
        # Weeks start on Monday: Sunday 14 June 2026 ends at 22:00 UTC in Paris.
        ("Europe/Paris", Period.WEEKLY, "2026-06-14T21:59:59.999999"),
        ("Asia/Tokyo", Period.MONTHLY, "2026-06-30T14:59:59.999999"),
    ],
)
async def test_period_resets_exactly_at_boundary(
    book: BudgetBook,
    admin: BudgetAdmin,
    clock: ManualClock,
    zone: str,
    period: Period,
    last_instant: str,
) -> None:
    await add_budget(admin, "periodic", 1000, period=period)
    call = CallScopes(org_id="acme", team_id="ml", time_zone=zone)
    clock.now = datetime.fromisoformat(last_instant).replace(tzinfo=UTC)
    clock.advance(hours=-1)
    admitted_before, _ = await admit_until_refused(book, 1000, 1000, call)

    clock.now = datetime.fromisoformat(last_instant).replace(tzinfo=UTC)
    with pytest.raises(ResourceExhausted):
        await book.reserve(call, 1000)
    clock.advance(microseconds=1)
    reservation = await book.reserve(call, 1000)
    await book.settle(reservation, 1000)
    status = await book.status("acme", "periodic", zone)

    assert admitted_before == 1
    assert status.window.start == clock.now
    assert status.spent_micros + status.leased_micros == 1000


async def test_lifetime_budget_never_resets(
    book: BudgetBook, admin: BudgetAdmin, clock: ManualClock
) -> None:
    await add_budget(admin, "forever", 1000, period=Period.LIFETIME)
    await admit_until_refused(book, 1000, 1000)

    clock.advance(days=400)
    with pytest.raises(ResourceExhausted):
        await book.reserve(CALL, 1000)


async def test_call_in_flight_at_boundary_settles_into_its_window(
    book: BudgetBook, admin: BudgetAdmin, clock: ManualClock
) -> None:
    await add_budget(admin, "daily", 1000, period=Period.DAILY)
    clock.now = datetime(2026, 6, 10, 21, 59, 59, tzinfo=UTC)  # 23:59:59 Paris
    in_flight = await book.reserve(CALL, 1000)

    clock.advance(seconds=1)
    await book.settle(in_flight, 700)
    today = await book.reserve(CALL, 1000)
    await book.settle(today, 200)
    await book.stop()
    clock.advance(seconds=-1)
    yesterday = await book.status("acme", "daily")
    clock.advance(seconds=1)
    now = await book.status("acme", "daily")

    assert (yesterday.spent_micros, now.spent_micros) == (700, 200)


# --- several replicas -------------------------------------------------------


async def test_expired_lease_of_dead_replica_is_written_off(
    database: Database, admin: BudgetAdmin, clock: ManualClock
) -> None:
    await add_budget(admin, "ml-monthly", 100_000)
    dead = BudgetBook(database, clock=clock, replica_id="dead", lease_ttl=30)
    in_flight = [await dead.reserve(CALL, 1000) for _ in range(3)]
    await dead.settle(in_flight[0], 400)
    held = (await dead.status("acme", "ml-monthly")).leased_micros
    # The dead replica never renews, releases or settles again.

    survivor = BudgetBook(database, clock=clock, replica_id="survivor", lease_ttl=30)
    clock.advance(seconds=29)
    await survivor.maintain()
    before = await survivor.status("acme", "ml-monthly")
    clock.advance(seconds=2)
    await survivor.maintain()
    after = await survivor.status("acme", "ml-monthly")
    admitted, _ = await admit_until_refused(survivor, 1000, 1000)
    await survivor.stop()
    final = await survivor.status("acme", "ml-monthly")

    assert before.leased_micros == held > 3000
    assert (after.leased_micros, after.spent_micros) == (0, held)
    assert after.written_off_micros == held
    assert admitted == (100_000 - held) // 1000
    assert final.spent_micros <= 100_000


async def test_three_replicas_admit_exactly_what_one_hard_budget_allows(
    database: Database, admin: BudgetAdmin, clock: ManualClock
) -> None:
    limit, worst = 200_000, 1000
    await add_budget(admin, "shared", limit)
    books = [
        BudgetBook(
            database,
            clock=clock,
            replica_id=f"replica-{n}",
            lease_ttl=0.3,
            calls_per_slice=8,
            expected_replicas=3,
            retry_after=0.01,
        )
        for n in range(3)
    ]
    for book in books:
        await book.start()
    rng = random.Random(7)
    actuals = [rng.randint(worst // 2, worst) for _ in range(500)]

    async def call(book: BudgetBook, actual: int) -> int:
        while True:
            try:
                reservation = await book.reserve(CALL, worst)
            except ResourceExhausted as exc:
                if exc.retry_after is None:
                    return 0
                await asyncio.sleep(exc.retry_after)
                continue
            await asyncio.sleep(rng.uniform(0, 0.002))
            await book.settle(reservation, actual)
            return actual

    spent = await asyncio.gather(
        *(call(books[n % 3], actual) for n, actual in enumerate(actuals))
    )
    for book in books:
        await book.stop()
    status = await books[0].status("acme", "shared")
    admitted = [s for s in spent if s]

    assert status.spent_micros == sum(admitted) <= limit
    assert status.leased_micros == 0
    assert limit - status.spent_micros < worst  # room for no further call
    assert len(admitted) < len(actuals)  # the budget did run out
