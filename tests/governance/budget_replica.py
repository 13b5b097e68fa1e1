"""One replica making fake calls against a shared budget, for the
multi-process budget tests.

Usage: python budget_replica.py DATABASE_URL MODE CALLS WORST_CASE SEED

Starts a BudgetBook, prints ``ready`` and waits for a line on stdin, then:

- MODE ``run``: makes CALLS concurrent fake calls against org ``acme``, each
  reserving WORST_CASE micro-dollars and settling a random cost between half
  of it and all of it. A refusal with a retry hint is retried after the
  hint; one without is final. Prints one JSON line per call, stops the book
  (handing back its slices) and prints ``done``.
- MODE ``hold``: admits CALLS calls, settles half of them, prints ``holding``
  and waits, with the rest in flight, to be killed.

Stops by itself after MAX_SECONDS so a forgotten process cannot run on.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from megarouter.errors import ResourceExhausted
from megarouter.governance.budget_model import CallScopes
from megarouter.governance.budgets import BudgetBook
from megarouter.store.database import Database

MAX_SECONDS = 60.0
SCOPES = CallScopes(org_id="acme", team_id="ml", key_id="key-1")


async def fake_call(book: BudgetBook, worst: int, actual: int) -> dict[str, object]:
    """Reserve, pretend to call a provider, settle; what happened."""
    while True:
        try:
            reservation = await book.reserve(SCOPES, worst)
        except ResourceExhausted as exc:
            if exc.retry_after is None:
                return {"admitted": False, "actual": actual}
            await asyncio.sleep(exc.retry_after)
            continue
        admitted_at = time.time()
        await asyncio.sleep(random.uniform(0, 0.005))
        await book.settle(reservation, actual)
        return {"admitted": True, "actual": actual, "at": admitted_at}


async def run(book: BudgetBook, calls: int, worst: int) -> None:
    actuals = [random.randint(worst // 2, worst) for _ in range(calls)]
    outcomes = await asyncio.gather(*(fake_call(book, worst, a) for a in actuals))
    for outcome in outcomes:
        print(json.dumps(outcome))


async def hold(book: BudgetBook, calls: int, worst: int) -> None:
    reservations = [await book.reserve(SCOPES, worst) for _ in range(calls)]
    for reservation in reservations[: calls // 2]:
        await book.settle(reservation, worst // 2)
    print("holding", flush=True)
    await asyncio.sleep(MAX_SECONDS)


async def main(url: str, mode: str, calls: int, worst: int, seed: int) -> None:
    random.seed(seed)
    database = Database(url)
    book = BudgetBook(
        database,
        replica_id=f"replica-{seed}",
        lease_ttl=30.0,
        calls_per_slice=8,
        expected_replicas=3,
        retry_after=0.01,
    )
    await book.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    async with asyncio.timeout(MAX_SECONDS):
        if mode == "run":
            await run(book, calls, worst)
        else:
            await hold(book, calls, worst)
    await book.stop()
    await database.dispose()
    print("done", flush=True)


if __name__ == "__main__":
    url, mode, calls, worst, seed = sys.argv[1:6]
    asyncio.run(main(url, mode, int(calls), int(worst), int(seed)))
