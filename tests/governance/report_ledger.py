# ruff: noqa: E501  (the seeded ledger reads as a table, one call per line)
"""A small ledger of org ``default`` for the report RPC and CLI tests.

The report week is Monday 2026-11-02 to Monday 2026-11-09 (end exclusive).
Org ``globex`` has one expensive call that must never show in a ``default``
report. ``MINI`` is priced by the tests at 100 / 200 micro-dollars per
million tokens, below every other chat model, so that it is the cheaper
equivalent the waste report names for simple tasks run on ``PREMIUM``.

Figures worked out by hand from the table:

- by team: search 4 calls, $0.052001; support 2 calls, $0.013001;
  legal 1 call, $0.013000; total $0.078002.
- waste: PREMIUM classification (c1-c3: 4,000 in, 400 out, $0.052) would
  cost ceil(0.48) = 1 micro-dollar on MINI, saving 51,999; PREMIUM
  extraction (c7: 1,000 in, 100 out, $0.013) would cost 1, saving 12,999.
- scenario value: tickets (c5 0.9) mean 0.9, 2 calls, $0.013001; faq
  (c1 1.0, c2 0.0) mean 0.5, 4 calls, $0.052001; contracts unscored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import insert

from megarouter.governance.analytics import FEEDBACK_TABLE
from megarouter.governance.ledger import UsageLedger
from megarouter.governance.usage import CallKind, CallStatus, UsageRecord
from megarouter.store.database import Database

PREMIUM = "openai/gpt-4o"
MINI = "openai/gpt-4o-mini"
WEEK_START = datetime(2026, 11, 2, tzinfo=UTC)
WEEK_END = datetime(2026, 11, 9, tzinfo=UTC)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


class Call(NamedTuple):
    org: str
    request: str
    team: str
    principal: str
    scenario: str
    model: str
    task: str
    when: datetime
    tokens: tuple[int, int]
    cost: int


# fmt: off
CALLS = [
    Call("default", "c1", "search", "alice", "faq", PREMIUM, "classification", at(2, 9), (1000, 100), 13_000),
    Call("default", "c2", "search", "alice", "faq", PREMIUM, "classification", at(3, 10), (1000, 100), 13_000),
    Call("default", "c3", "search", "bob", "faq", PREMIUM, "classification", at(3, 11), (2000, 200), 26_000),
    Call("default", "c4", "search", "bob", "faq", MINI, "classification", at(4, 12), (2000, 500), 1),
    Call("default", "c5", "support", "carol", "tickets", PREMIUM, "chat", at(2, 14), (1000, 100), 13_000),
    Call("default", "c6", "support", "carol", "tickets", MINI, "extraction", at(5, 15), (1000, 1000), 1),
    Call("default", "c7", "legal", "dave", "contracts", PREMIUM, "extraction", at(6, 10), (1000, 100), 13_000),
    Call("default", "c8", "search", "alice", "faq", PREMIUM, "classification", WEEK_END, (1000, 100), 13_000),
    Call("globex", "g1", "search", "zed", "faq", PREMIUM, "classification", at(3, 10), (50_000, 0), 500_000),
]
FEEDBACK = [("default", "c1", 1.0), ("default", "c2", 0.0), ("default", "c5", 0.9), ("globex", "g1", 1.0)]
# fmt: on


def record(call: Call) -> UsageRecord:
    return UsageRecord(
        org_id=call.org,
        team_id=call.team,
        principal_id=call.principal,
        key_id=f"key-{call.principal}",
        kind=CallKind.COMPLETE,
        requested_model="auto",
        status=CallStatus.OK,
        request_id=call.request,
        scenario=call.scenario,
        model=call.model,
        provider=call.model.partition("/")[0],
        task_type=call.task,
        input_tokens=call.tokens[0],
        output_tokens=call.tokens[1],
        cost_micros=call.cost,
        latency_ms=100.0,
        created_at=call.when,
    )


async def seed_ledger(database_url: str, calls: list[Call] = CALLS) -> None:
    """Append the calls and their feedback to the server's database."""
    database = Database(database_url)
    try:
        async with UsageLedger(database) as ledger:
            for call in calls:
                await ledger.record(record(call))
        if calls is CALLS:
            rows = [
                {
                    "org_id": org,
                    "request_id": request,
                    "score": score,
                    "created_at": at(8),
                    "label": "",
                    "principal_id": "",
                }
                for org, request, score in FEEDBACK
            ]
            async with database.engine.begin() as connection:
                await connection.execute(insert(FEEDBACK_TABLE), rows)
    finally:
        await database.dispose()
