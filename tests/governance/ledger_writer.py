"""Write usage records with many concurrent callers until killed.

Usage: python ledger_writer.py DATABASE_URL CONCURRENCY

Prints each record's id on its own line, flushed, right after
``UsageLedger.record`` returned for it: a printed id is an acknowledged
record. The kill test (test_ledger.py) sends SIGKILL mid-stream and checks
that every printed id is in the database. Stops by itself after a bounded
number of records or seconds, so a forgotten process cannot run on.
"""

from __future__ import annotations

import asyncio
import sys
import time

from megarouter.governance.ledger import UsageLedger
from megarouter.governance.usage import CallKind, CallStatus, UsageRecord
from megarouter.store.database import Database

MAX_RECORDS = 200_000
MAX_SECONDS = 60.0


async def caller(ledger: UsageLedger, worker: int, deadline: float) -> None:
    """Record calls one after another, announcing each once durable."""
    count = 0
    while time.monotonic() < deadline and ledger.stats.records < MAX_RECORDS:
        record = UsageRecord(
            org_id="kill-test",
            principal_id=f"worker-{worker}",
            key_id="key",
            kind=CallKind.COMPLETE,
            requested_model="auto",
            status=CallStatus.OK,
            input_tokens=count,
        )
        await ledger.record(record)
        sys.stdout.write(record.id + "\n")
        sys.stdout.flush()
        count += 1


async def main(url: str, concurrency: int) -> None:
    database = Database(url)
    deadline = time.monotonic() + MAX_SECONDS
    async with UsageLedger(database) as ledger:
        await asyncio.gather(*(caller(ledger, n, deadline) for n in range(concurrency)))
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
