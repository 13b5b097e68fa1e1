"""Budgets shared by separate server processes on one PostgreSQL database.

Each process runs ``budget_replica.py``: a BudgetBook and many concurrent
fake calls with a fixed worst case and a random actual cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from megarouter.errors import ResourceExhausted
from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budget_model import Budget, CallScopes, ScopeKind
from megarouter.governance.budget_periods import Period
from megarouter.governance.budgets import BudgetBook
from megarouter.store.budget_tables import BudgetLeaseRow
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.store.tables import OrgRow
from megarouter.testing.server import fresh_postgres_database

REPLICA = Path(__file__).with_name("budget_replica.py")
REPO = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CALL = CallScopes(org_id="acme", team_id="ml", key_id="key-1")
WORST = 1000

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@asynccontextmanager
async def backend_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":  # the embedded default, shared by serve --workers
        yield f"sqlite+aiosqlite:///{tmp_path / 'budgets.db'}"
        return
    async with fresh_postgres_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture(params=["postgres", "sqlite"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    async with backend_url(request.param, tmp_path) as url:
        await upgrade_async(url)
        database = Database(url)
        async with database.transaction() as session:
            session.add(OrgRow(id="acme", time_zone="America/New_York"))
        yield database
        await database.dispose()


async def add_team_budget(database: Database, limit: int) -> None:
    await BudgetAdmin(database).create(
        Budget("acme", "ml", ScopeKind.TEAM, "ml", Period.DAILY, limit)
    )


async def start_replica(
    url: str, mode: str, calls: int, seed: int, stderr: Path
) -> asyncio.subprocess.Process:
    """A replica process that has printed ``ready``."""
    with stderr.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPLICA),
            url,
            mode,
            str(calls),
            str(WORST),
            str(seed),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    if line != b"ready\n":
        errors_text = await asyncio.to_thread(stderr.read_text)
        raise AssertionError(f"the replica did not start: {errors_text}")
    return process


def go(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.write(b"go\n")


async def outcomes_of(process: asyncio.subprocess.Process) -> list[dict[str, object]]:
    """The calls a ``run`` replica reports, once it has finished."""
    assert process.stdout is not None
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    lines = output.decode().splitlines()
    assert lines[-1] == "done" and process.returncode == 0
    return [json.loads(line) for line in lines[:-1]]


def best_possible(limit: int, admitted: list[int], refused: list[int]) -> int:
    """Calls one exact serial gatekeeper admits: each needs the worst case free."""
    spent = count = 0
    for actual in admitted + refused:
        if spent + WORST <= limit:
            spent += actual
            count += 1
    return count


async def test_three_processes_never_overspend_one_hard_budget(
    database: Database, tmp_path: Path
) -> None:
    limit = 200_000  # room for about 265 of the 500 calls
    await add_team_budget(database, limit)
    replicas = [
        await start_replica(database.url, "run", calls, seed, tmp_path / f"{seed}.err")
        for seed, calls in enumerate([167, 167, 166])
    ]
    for replica in replicas:
        go(replica)
    outcomes = [o for r in replicas for o in await outcomes_of(r)]
    status = await BudgetBook(database).status("acme", "ml")

    admitted = sorted((o for o in outcomes if o["admitted"]), key=lambda o: o["at"])
    admitted_costs = [int(o["actual"]) for o in admitted]  # type: ignore[call-overload]
    refused = [o for o in outcomes if not o["admitted"]]
    refused_costs = [int(o["actual"]) for o in refused]  # type: ignore[call-overload]
    best = best_possible(limit, admitted_costs, refused_costs)

    assert len(outcomes) == 500
    assert status.spent_micros == sum(admitted_costs) <= limit
    assert status.leased_micros == 0
    assert limit - status.spent_micros < WORST  # no further call could fit
    assert len(admitted_costs) >= best - 1
    assert refused_costs  # the budget ran out


async def test_killed_replica_slices_return_after_expiry(
    database: Database, tmp_path: Path
) -> None:
    limit = 100_000
    await add_team_budget(database, limit)
    victim = await start_replica(database.url, "hold", 10, 7, tmp_path / "7.err")
    go(victim)
    assert victim.stdout is not None
    assert await asyncio.wait_for(victim.stdout.readline(), 30) == b"holding\n"
    async with database.engine.connect() as connection:
        held = await connection.scalar(
            select(func.sum(BudgetLeaseRow.amount_micros))  # type: ignore[arg-type]
        )
    victim.send_signal(signal.SIGKILL)
    await victim.wait()

    # The survivor's clock runs past the victim's 30-second lease.
    survivor = BudgetBook(
        database,
        replica_id="survivor",
        clock=lambda: datetime.now(UTC) + timedelta(seconds=31),
    )
    before = await survivor.status("acme", "ml")
    await survivor.maintain()
    after = await survivor.status("acme", "ml")
    admitted = 0
    with pytest.raises(ResourceExhausted):
        while True:
            await survivor.settle(await survivor.reserve(CALL, WORST), WORST)
            admitted += 1
    await survivor.stop()
    final = await survivor.status("acme", "ml")

    assert victim.returncode == -signal.SIGKILL
    assert before.leased_micros == held >= 10 * WORST
    assert (after.leased_micros, after.written_off_micros) == (0, held)
    assert after.spent_micros == held  # counted as spent: never overspent
    assert admitted == (limit - held) // WORST
    assert final.spent_micros <= limit
