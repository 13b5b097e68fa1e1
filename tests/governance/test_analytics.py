# ruff: noqa: E501  (the seeded ledger reads as a table, one call per line)
"""Usage reports checked against figures worked out by hand from a seeded ledger.

The ledger below holds 22 calls of org ``acme`` (teams search, support and
legal, plus one service with no team) and 4 calls of org ``globex``, whose
large costs would show at once if they leaked into an ``acme`` report. The
report week is Monday 2026-11-02 to Monday 2026-11-09 (end exclusive). Every
expected figure in the tests is summed by hand from the table, and each test
runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import insert

from megarouter.errors import InvalidArgument
from megarouter.governance.analytics import FEEDBACK_TABLE, Analytics
from megarouter.governance.analytics_sql import Dimension, Granularity
from megarouter.governance.analytics_waste import Alternative, PremiumForSimpleTasks
from megarouter.governance.ledger import UsageLedger
from megarouter.governance.usage import CallKind, CallStatus, UsageRecord
from megarouter.providers.spec import Price
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async
from megarouter.testing.server import fresh_postgres_database

POSTGRES_URL = os.environ.get(
    "MEGAROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

PREMIUM = "openai/gpt-premium"  # $10 / $30 per million input / output tokens
MID = "anthropic/claude-mid"  # $3 / $15
MINI = "openai/gpt-mini"  # $0.15 / $0.60
LLAMA = "groq/llama-small"  # $0.05 / $0.10
PRICES = {
    PREMIUM: Price(10_000_000, 30_000_000),
    MID: Price(3_000_000, 15_000_000),
    MINI: Price(150_000, 600_000),
    LLAMA: Price(50_000, 100_000),
}

WEEK_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
WEEK_END = datetime(2026, 11, 9, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


class Call(NamedTuple):
    request: str
    team: str
    principal: str
    scenario: str
    model: str
    task: str
    when: datetime
    tokens: tuple[int, int]
    cost: int
    latency: float
    status: CallStatus = CallStatus.OK


# fmt: off
ACME = [
    Call("r1", "search", "alice", "faq", PREMIUM, "classification", at(2, 9), (1000, 100), 13_000, 800),
    Call("r2", "search", "alice", "faq", PREMIUM, "classification", at(2, 9, 30), (1000, 100), 13_000, 600),
    Call("r3", "search", "bob", "faq", PREMIUM, "classification", at(3, 10), (2000, 200), 26_000, 1000),
    Call("r4", "search", "bob", "faq", MINI, "classification", at(3, 11), (2000, 500), 600, 200),
    Call("r5", "search", "alice", "summarize", MID, "summarization", at(4, 12), (1000, 200), 6000, 900),
    Call("r6", "search", "alice", "summarize", MID, "summarization", at(4, 13), (1000, 200), 6000, 1100),
    Call("r7", "search", "bob", "summarize", "", "summarization", at(5, 8), (0, 0), 0, 3000, CallStatus.UNAVAILABLE),
    Call("r8", "support", "carol", "tickets", MINI, "extraction", at(2, 14), (2000, 500), 600, 300),
    Call("r9", "support", "carol", "tickets", MINI, "extraction", at(3, 14), (2000, 500), 600, 300),
    Call("r10", "support", "carol", "tickets", PREMIUM, "extraction", at(3, 15), (1000, 100), 13_000, 700),
    Call("r11", "support", "carol", "tickets", LLAMA, "classification", at(5, 16), (2000, 1000), 200, 100),
    Call("r12", "support", "erin", "tickets", LLAMA, "classification", at(6, 16), (2000, 1000), 200, 100),
    Call("r13", "support", "erin", "chat", MID, "chat", at(6, 17), (1000, 200), 6000, 900),
    Call("r14", "support", "erin", "chat", MID, "chat", at(7, 17), (1000, 200), 6000, 900),
    Call("r15", "legal", "dave", "contracts", PREMIUM, "extraction", at(4, 10), (1000, 100), 13_000, 1200),
    Call("r16", "legal", "dave", "contracts", PREMIUM, "summarization", at(5, 10), (1000, 100), 13_000, 1200),
    Call("r17", "legal", "dave", "contracts", MID, "chat", WEEK_END - timedelta(microseconds=1), (1000, 200), 6000, 800),
    Call("r18", "legal", "dave", "", LLAMA, "chat", at(7, 9), (2000, 1000), 200, 100),
    Call("r19", "search", "alice", "faq", PREMIUM, "classification", WEEK_START, (1000, 100), 13_000, 500),
    Call("r20", "search", "alice", "faq", PREMIUM, "classification", WEEK_END, (1000, 100), 13_000, 500),
    Call("r21", "search", "bob", "faq", PREMIUM, "classification", at(31, 23, 59, month=10), (1000, 100), 13_000, 500),
    Call("r22", "", "svc-batch", "digest", MINI, "summarization", at(6, 3), (4000, 1000), 1200, 2000),
]
GLOBEX = [
    Call("r1", "search", "zed", "faq", PREMIUM, "classification", at(3, 10), (50_000, 0), 1_000_000, 10),
    Call("r2", "search", "zed", "faq", PREMIUM, "classification", at(4, 10), (50_000, 0), 1_000_000, 10),
    Call("g3", "ops", "yan", "tickets", MINI, "extraction", at(5, 10), (100_000, 0), 500_000, 10),
    Call("g4", "ops", "yan", "chat", MID, "chat", at(8, 10), (100_000, 0), 300_000, 10),
]
FEEDBACK = [
    ("acme", "r1", 1.0), ("acme", "r2", 0.0), ("acme", "r3", 0.5), ("acme", "r4", 1.0),
    ("acme", "r5", 0.8), ("acme", "r6", 0.4),
    ("acme", "r8", 0.9), ("acme", "r11", 0.7), ("acme", "r12", 0.3),
    ("acme", "r15", 0.2),
    ("acme", "r20", 1.0),  # its call is after the week: not counted
    ("globex", "r1", 0.0), ("globex", "r2", 0.0), ("globex", "g3", 1.0),
]
# fmt: on


def record(org: str, call: Call) -> UsageRecord:
    provider = call.model.partition("/")[0]
    return UsageRecord(
        org_id=org,
        team_id=call.team,
        principal_id=call.principal,
        key_id=f"key-{call.principal}",
        kind=CallKind.COMPLETE,
        requested_model="auto",
        status=call.status,
        request_id=call.request,
        scenario=call.scenario,
        model=call.model,
        provider=provider,
        task_type=call.task,
        input_tokens=call.tokens[0],
        output_tokens=call.tokens[1],
        cost_micros=call.cost,
        latency_ms=call.latency,
        created_at=call.when,
    )


async def seed(url: str) -> None:
    await upgrade_async(url)
    database = Database(url)
    async with UsageLedger(database) as ledger:
        for org, calls in (("acme", ACME), ("globex", GLOBEX)):
            for call in calls:
                await ledger.record(record(org, call))
    rows = [
        {"org_id": org, "request_id": request, "score": score, "created_at": at(20)}
        for org, request, score in FEEDBACK
    ]
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(FEEDBACK_TABLE),
            [r | {"label": "", "principal_id": ""} for r in rows],
        )
    await database.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def analytics(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Analytics]:
    """Analytics over the seeded ledger, once per backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("analytics") / "megarouter.db"
        url = f"sqlite+aiosqlite:///{path}"
        await seed(url)
        database = Database(url)
        yield Analytics(database)
        await database.dispose()
        return
    async with fresh_postgres_database(POSTGRES_URL) as url:
        await seed(url)
        database = Database(url)
        yield Analytics(database)
        await database.dispose()


def figures(line: Any) -> tuple[int, int, int, int, int]:
    return (
        line.calls,
        line.ok_calls,
        line.input_tokens,
        line.output_tokens,
        line.cost_micros,
    )


# --- usage -------------------------------------------------------------------


async def test_usage_by_team_sums_the_week_of_one_org(analytics: Analytics) -> None:
    report = await analytics.usage(
        "acme", WEEK_START, WEEK_END, group_by=[Dimension.TEAM]
    )

    by_team = {line.group["team"]: line for line in report.lines}
    assert list(by_team) == ["", "legal", "search", "support"]
    # calls, ok calls, input tokens, output tokens, cost
    assert figures(by_team["search"]) == (8, 7, 9000, 1400, 77_600)
    assert figures(by_team["support"]) == (7, 7, 11_000, 3500, 26_600)
    assert figures(by_team["legal"]) == (4, 4, 5000, 1400, 32_200)
    assert figures(by_team[""]) == (1, 1, 4000, 1000, 1200)
    assert by_team["search"].avg_latency_ms == pytest.approx(8100 / 8)
    assert by_team["support"].avg_latency_ms == pytest.approx(3300 / 7)
    assert report.cost_micros == 137_600
    assert report.calls == 20


async def test_usage_includes_start_and_excludes_end(analytics: Analytics) -> None:
    # r19 is at the week's first instant and r17 at its last; r20 is at the
    # end instant and r21 before the start.
    report = await analytics.usage(
        "acme", WEEK_START, WEEK_END, group_by=[Dimension.TEAM, Dimension.PRINCIPAL]
    )
    just_inside = await analytics.usage(
        "acme", WEEK_END - timedelta(microseconds=1), WEEK_END
    )
    at_end = await analytics.usage("acme", WEEK_END, WEEK_END + timedelta(hours=1))

    cells = {
        (line.group["team"], line.group["principal"]): (line.calls, line.cost_micros)
        for line in report.lines
    }
    assert cells[("search", "alice")] == (5, 51_000)  # r1, r2, r5, r6, r19
    assert cells[("search", "bob")] == (3, 26_600)  # r3, r4, r7; not r21
    assert [line.calls for line in just_inside.lines] == [1]  # r17
    assert [line.cost_micros for line in at_end.lines] == [13_000]  # r20 alone


async def test_usage_by_day_puts_each_call_in_its_utc_day(
    analytics: Analytics,
) -> None:
    report = await analytics.usage(
        "acme", WEEK_START, WEEK_END, granularity=Granularity.DAY
    )

    assert [(line.bucket, line.calls, line.cost_micros) for line in report.lines] == [
        (at(2), 4, 39_600),
        (at(3), 4, 40_200),
        (at(4), 3, 25_000),
        (at(5), 3, 13_200),
        (at(6), 3, 7400),
        (at(7), 2, 6200),
        (at(8), 1, 6000),
    ]
    assert [line.ok_calls for line in report.lines] == [4, 4, 3, 2, 3, 2, 1]


async def test_usage_by_hour_splits_a_day(analytics: Analytics) -> None:
    report = await analytics.usage("acme", at(2), at(3), granularity=Granularity.HOUR)

    assert [(line.bucket, line.calls, line.cost_micros) for line in report.lines] == [
        (at(2, 0), 1, 13_000),
        (at(2, 9), 2, 26_000),
        (at(2, 14), 1, 600),
    ]


async def test_usage_by_week_starts_weeks_on_monday(analytics: Analytics) -> None:
    # r21 (Saturday 31 October) falls in the week of Monday 26 October, r20
    # (Monday 9 November, 00:00) starts the next week.
    report = await analytics.usage(
        "acme", at(1, month=10), at(30), granularity=Granularity.WEEK
    )

    assert [(line.bucket, line.calls, line.cost_micros) for line in report.lines] == [
        (at(26, month=10), 1, 13_000),
        (at(2), 20, 137_600),
        (at(9), 1, 13_000),
    ]


async def test_usage_by_month_and_team_groups_both(analytics: Analytics) -> None:
    report = await analytics.usage(
        "acme",
        at(1, month=10),
        at(1, month=12),
        group_by=[Dimension.TEAM],
        granularity=Granularity.MONTH,
    )

    cells = {
        (line.bucket, line.group["team"]): line.cost_micros for line in report.lines
    }
    assert cells == {
        (at(1, month=10), "search"): 13_000,
        (at(1), ""): 1200,
        (at(1), "legal"): 32_200,
        (at(1), "search"): 90_600,  # 77,600 in the week and r20
        (at(1), "support"): 26_600,
    }
    assert [line.bucket for line in report.lines] == sorted(
        line.bucket for line in report.lines if line.bucket
    )


async def test_usage_by_team_and_model(analytics: Analytics) -> None:
    report = await analytics.usage(
        "acme", WEEK_START, WEEK_END, group_by=[Dimension.TEAM, Dimension.MODEL]
    )

    cells = {
        (line.group["team"], line.group["model"]): (line.calls, line.cost_micros)
        for line in report.lines
    }
    assert cells == {
        ("search", PREMIUM): (4, 65_000),
        ("search", MINI): (1, 600),
        ("search", MID): (2, 12_000),
        ("search", ""): (1, 0),
        ("support", MINI): (2, 1200),
        ("support", PREMIUM): (1, 13_000),
        ("support", LLAMA): (2, 400),
        ("support", MID): (2, 12_000),
        ("legal", PREMIUM): (2, 26_000),
        ("legal", MID): (1, 6000),
        ("legal", LLAMA): (1, 200),
        ("", MINI): (1, 1200),
    }


async def test_usage_filtered_to_a_team_by_scenario(analytics: Analytics) -> None:
    report = await analytics.usage(
        "acme",
        WEEK_START,
        WEEK_END,
        group_by=[Dimension.SCENARIO],
        filters={Dimension.TEAM: "support"},
    )

    cells = {
        line.group["scenario"]: (line.calls, line.cost_micros) for line in report.lines
    }
    assert cells == {"tickets": (5, 14_600), "chat": (2, 12_000)}


async def test_usage_filter_accepts_several_values(analytics: Analytics) -> None:
    report = await analytics.usage(
        "acme", WEEK_START, WEEK_END, filters={Dimension.MODEL: [MINI, LLAMA]}
    )

    assert [(line.calls, line.cost_micros) for line in report.lines] == [(7, 3600)]


async def test_usage_of_one_org_never_counts_another(analytics: Analytics) -> None:
    # globex has a team named "search" too, in the same week.
    acme = await analytics.usage(
        "acme", WEEK_START, WEEK_END, filters={Dimension.TEAM: "search"}
    )
    globex = await analytics.usage(
        "globex", WEEK_START, WEEK_END, group_by=[Dimension.TEAM]
    )
    nobody = await analytics.usage("initech", WEEK_START, WEEK_END)

    assert [line.cost_micros for line in acme.lines] == [77_600]
    assert {line.group["team"]: line.cost_micros for line in globex.lines} == {
        "ops": 800_000,
        "search": 2_000_000,
    }
    assert [(line.calls, line.cost_micros) for line in nobody.lines] == [(0, 0)]


async def test_usage_refuses_an_empty_range(analytics: Analytics) -> None:
    with pytest.raises(InvalidArgument, match="end"):
        await analytics.usage("acme", WEEK_END, WEEK_START)
    with pytest.raises(InvalidArgument, match=r"filter\.team"):
        await analytics.usage(
            "acme", WEEK_START, WEEK_END, filters={Dimension.TEAM: []}
        )


# --- top consumers -----------------------------------------------------------


async def test_top_consumers_ranks_teams_by_cost_with_shares(
    analytics: Analytics,
) -> None:
    report = await analytics.top_consumers("acme", WEEK_START, WEEK_END, limit=2)

    assert (report.total_calls, report.total_cost_micros) == (20, 137_600)
    assert report.total_active_principals == 6
    search, legal = report.lines
    assert (search.key, search.calls, search.cost_micros) == ("search", 8, 77_600)
    assert search.active_principals == 2
    assert search.cost_share == pytest.approx(77_600 / 137_600)
    assert search.call_share == pytest.approx(8 / 20)
    assert (legal.key, legal.calls, legal.cost_micros) == ("legal", 4, 32_200)
    assert legal.active_principals == 1
    assert (legal.input_tokens, legal.output_tokens) == (5000, 1400)


async def test_top_consumers_by_provider(analytics: Analytics) -> None:
    report = await analytics.top_consumers(
        "acme", WEEK_START, WEEK_END, dimension=Dimension.PROVIDER
    )

    assert [(c.key, c.calls, c.cost_micros) for c in report.lines] == [
        ("openai", 11, 107_000),
        ("anthropic", 5, 30_000),
        ("groq", 3, 600),
        ("", 1, 0),  # the call every provider failed
    ]


async def test_top_consumers_refuses_a_limit_below_one(analytics: Analytics) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        await analytics.top_consumers("acme", WEEK_START, WEEK_END, limit=0)


# --- burn rate ---------------------------------------------------------------


async def test_burn_rate_of_a_team_budget_from_the_ledger(
    analytics: Analytics,
) -> None:
    # search spent 77,600 in the budget week's first three days (r1-r6, r19).
    burn = await analytics.burn_rate(
        "acme",
        limit_micros=150_000,
        window_start=WEEK_START,
        window_end=WEEK_END,
        now=at(5),
        filters={Dimension.TEAM: "search"},
    )

    assert burn.spent_micros == 77_600
    assert burn.remaining_micros == 72_400
    assert burn.daily_rate_micros == 25_867  # 77,600 / 3, rounded
    assert burn.projected_spend_micros == 181_067  # 77,600 * 7 / 3, rounded
    # 72,400 left at 77,600 per 3 days: 2.79897 days after 5 November.
    assert burn.projected_exhaustion == datetime(
        2026, 11, 7, 19, 10, 30, 927_836, tzinfo=UTC
    )
    assert burn.projected_overspend_micros == 31_067


async def test_burn_rate_that_lasts_the_window_has_no_exhaustion(
    analytics: Analytics,
) -> None:
    burn = await analytics.burn_rate(
        "acme",
        limit_micros=200_000,
        window_start=WEEK_START,
        window_end=WEEK_END,
        now=at(5),
        filters={Dimension.TEAM: "search"},
    )

    assert burn.projected_exhaustion is None
    assert not burn.exhausted


# --- waste -------------------------------------------------------------------


async def test_waste_flags_premium_models_on_simple_tasks(
    analytics: Analytics,
) -> None:
    report = await analytics.waste(
        "acme", WEEK_START, WEEK_END, PremiumForSimpleTasks(PRICES)
    )

    lines = [
        (w.task_type, w.model, w.calls, w.cost_micros, w.alternative)
        for w in report.lines
    ]
    assert lines == [
        ("classification", PREMIUM, 4, 65_000, LLAMA),  # r1, r2, r3, r19
        ("extraction", PREMIUM, 2, 26_000, LLAMA),  # r10, r15
    ]
    # 5,000 in and 500 out at $0.05 / $0.10 per million: 250 + 50 micros.
    assert [w.alternative_cost_micros for w in report.lines] == [300, 120]
    assert [w.saving_micros for w in report.lines] == [64_700, 25_880]
    assert report.saving_micros == 90_580
    assert report.wasted_calls == 6
    assert report.total_cost_micros == 137_600


async def test_waste_split_by_team(analytics: Analytics) -> None:
    report = await analytics.waste(
        "acme",
        WEEK_START,
        WEEK_END,
        PremiumForSimpleTasks(PRICES),
        group_by=[Dimension.TEAM],
    )

    cells = {(w.group["team"], w.task_type): w.saving_micros for w in report.lines}
    assert cells == {
        ("search", "classification"): 64_700,
        ("support", "extraction"): 12_940,
        ("legal", "extraction"): 12_940,
    }


async def test_waste_asks_the_given_finder_and_skips_dearer_alternatives(
    analytics: Analytics,
) -> None:
    asked: list[tuple[str, str]] = []

    def finder(task_type: str, model: str) -> Alternative | None:
        asked.append((task_type, model))
        if (task_type, model) == ("summarization", MID):
            return Alternative(MINI, PRICES[MINI])
        if model == LLAMA:  # "cheaper" on paper, dearer for these tokens
            return Alternative(MINI, PRICES[MINI])
        return None

    report = await analytics.waste("acme", WEEK_START, WEEK_END, finder)

    assert [(w.task_type, w.model, w.calls) for w in report.lines] == [
        ("summarization", MID, 2)  # r5, r6: r7 failed and is not counted
    ]
    # 2,000 in and 400 out at $0.15 / $0.60 per million: 300 + 240 micros.
    assert report.lines[0].alternative_cost_micros == 540
    assert report.saving_micros == 12_000 - 540
    assert ("", "") not in asked
    assert len(asked) == len(set(asked)) == 10  # one question per group


# --- value per scenario ------------------------------------------------------


async def test_scenario_value_from_feedback_scores(analytics: Analytics) -> None:
    report = await analytics.scenario_value("acme", WEEK_START, WEEK_END)

    by_name = {line.scenario: line for line in report.lines}
    assert [line.scenario for line in report.lines] == [
        "tickets",
        "summarize",
        "faq",
        "contracts",
        "",
        "chat",
        "digest",
    ]
    faq = by_name["faq"]  # r1 1.0, r2 0.0, r3 0.5, r4 1.0; r19 unscored
    assert (faq.calls, faq.cost_micros, faq.feedback_count) == (5, 65_600, 4)
    assert faq.mean_score == pytest.approx(0.625)
    assert faq.good_outcomes == 3
    assert faq.cost_per_good_outcome_micros == 17_493  # 65,600 / (5 * 3/4)
    assert faq.value_index == pytest.approx(0.625 * 5 / 0.0656)

    tickets = by_name["tickets"]  # r8 0.9, r11 0.7, r12 0.3
    assert (tickets.calls, tickets.cost_micros, tickets.feedback_count) == (
        5,
        14_600,
        3,
    )
    assert tickets.cost_per_good_outcome_micros == 4380  # 14,600 / (5 * 2/3)
    assert tickets.value_index == pytest.approx((1.9 / 3) * 5 / 0.0146)

    summarize = by_name["summarize"]  # r5 0.8, r6 0.4; r7 failed, unscored
    assert (summarize.calls, summarize.good_outcomes) == (3, 1)
    assert summarize.cost_per_good_outcome_micros == 8000
    assert summarize.value_index == pytest.approx(150.0)

    contracts = by_name["contracts"]  # r15 0.2: no good outcome
    assert contracts.cost_per_good_outcome_micros is None
    assert contracts.value_index == pytest.approx(0.2 * 3 / 0.032)

    chat = by_name["chat"]
    assert (chat.feedback_count, chat.mean_score, chat.value_index) == (0, None, None)


async def test_scenario_value_ignores_another_orgs_scores(
    analytics: Analytics,
) -> None:
    # globex scored its own r1 and r2 with 0; acme's r1 and r2 keep theirs.
    acme = await analytics.scenario_value(
        "acme", WEEK_START, WEEK_END, filters={Dimension.SCENARIO: "faq"}
    )
    globex = await analytics.scenario_value("globex", WEEK_START, WEEK_END)

    assert [(v.calls, v.feedback_count, v.mean_score) for v in acme.lines] == [
        (5, 4, 0.625)
    ]
    assert {v.scenario: v.mean_score for v in globex.lines} == {
        "faq": 0.0,
        "tickets": 1.0,
        "chat": None,
    }
