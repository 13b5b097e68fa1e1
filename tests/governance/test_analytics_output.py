"""Report output (CSV, JSON, rich, charts), the burn-rate arithmetic, the
default waste heuristic and the feedback table's migration."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from rich.console import Console
from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from megarouter.catalog.prices import PriceTable
from megarouter.errors import InvalidArgument
from megarouter.governance.analytics import FEEDBACK_TABLE
from megarouter.governance.analytics_burn import BurnRate, project_burn
from megarouter.governance.analytics_charts import (
    burn_chart,
    cost_over_time_chart,
    scenario_value_chart,
    sparkline,
    terminal_bars,
    top_consumers_chart,
)
from megarouter.governance.analytics_output import (
    format_usd,
    to_csv,
    to_json,
    to_rich,
)
from megarouter.governance.analytics_reports import (
    ConsumerLine,
    ScenarioValue,
    ScenarioValueReport,
    TopConsumers,
    UsageLine,
    UsageReport,
)
from megarouter.governance.analytics_sql import Dimension, Granularity
from megarouter.governance.analytics_waste import Alternative, PremiumForSimpleTasks
from megarouter.providers.spec import ModelMode, ModelSpec, Price, ProviderSpec
from megarouter.store.database import Database
from megarouter.store.migrations import upgrade_async

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)


def day(n: int) -> datetime:
    return datetime(2026, 11, n, tzinfo=UTC)


def usage_line(bucket: datetime, team: str, cost: int) -> UsageLine:
    return UsageLine({"team": team}, bucket, 2, 1, 1000, 200, cost, 450.0)


def top_teams() -> TopConsumers:
    lines = (
        ConsumerLine("search", 8, 77_600, 9000, 1400, 2, 0.4, 77_600 / 137_600),
        ConsumerLine("legal", 4, 32_200, 5000, 1400, 1, 0.2, 32_200 / 137_600),
    )
    return TopConsumers("acme", START, END, Dimension.TEAM, 20, 137_600, 6, lines)


def daily_by_team() -> UsageReport:
    lines = (
        usage_line(day(2), "search", 26_000),
        usage_line(day(2), "legal", 13_000),
        usage_line(day(3), "search", 600),
        usage_line(day(4), "support", 6000),
    )
    return UsageReport("acme", START, END, (Dimension.TEAM,), Granularity.DAY, lines)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000


# --- CSV, JSON, rich ---------------------------------------------------------


def test_csv_has_a_header_and_exact_micro_dollars() -> None:
    text = to_csv(top_teams().table())

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "key",
        "calls",
        "call_share",
        "cost_micros",
        "cost_share",
        "active_principals",
        "input_tokens",
        "output_tokens",
    ]
    assert rows[1][:4] == ["search", "8", "0.4", "77600"]
    assert float(rows[1][4]) == pytest.approx(0.5639535)
    assert rows[2][:4] == ["legal", "4", "0.2", "32200"]
    assert len(rows) == 3


def test_csv_writes_times_in_iso_and_empty_cells_for_none() -> None:
    report = ScenarioValueReport(
        "acme",
        START,
        END,
        (ScenarioValue("chat", 2, 12_000, 0, None, 0, None, None),),
    )
    usage = to_csv(daily_by_team().table()).splitlines()

    assert to_csv(report.table()).splitlines()[1] == "chat,2,12000,0,,0,,"
    assert usage[0].startswith("bucket,team,calls,")
    assert usage[1].startswith("2026-11-02T00:00:00+00:00,search,2,1,1000,200,26000")


def test_json_is_serialisable_with_named_rows() -> None:
    document = to_json(daily_by_team().table())

    decoded: dict[str, Any] = json.loads(json.dumps(document))
    assert decoded["title"] == "Usage of acme, 2026-11-02 00:00 to 2026-11-09 00:00 UTC"
    assert decoded["columns"][0] == {"name": "bucket", "kind": "time"}
    assert decoded["rows"][0] == {
        "bucket": "2026-11-02T00:00:00+00:00",
        "team": "search",
        "calls": 2,
        "ok_calls": 1,
        "input_tokens": 1000,
        "output_tokens": 200,
        "cost_micros": 26_000,
        "avg_latency_ms": 450.0,
    }
    assert len(decoded["rows"]) == 4


def test_rich_table_shows_dollars_and_percentages() -> None:
    console = Console(record=True, width=140)

    console.print(to_rich(top_teams().table()))

    shown = console.export_text()
    assert "Top team consumers of acme" in shown
    assert "$0.0776" in shown and "$0.0322" in shown
    assert "56.4%" in shown and "40.0%" in shown


def test_usd_format_keeps_hundredths_of_a_cent() -> None:
    assert format_usd(1_234_567_800) == "$1,234.5678"
    assert format_usd(150) == "$0.0002"
    assert format_usd(-2_500_000) == "-$2.5000"
    assert format_usd(0) == "$0.0000"
    assert format_usd(20) == "<$0.0001"  # a cost never reads as none
    assert format_usd(-20) == "-<$0.0001"


# --- charts ------------------------------------------------------------------


def test_cost_over_time_chart_writes_a_png(tmp_path: Path) -> None:
    path = cost_over_time_chart(daily_by_team(), tmp_path / "charts" / "cost.png")

    assert path == tmp_path / "charts" / "cost.png"
    assert_png(path)


def test_cost_over_time_chart_needs_a_granularity(tmp_path: Path) -> None:
    report = UsageReport("acme", START, END, (), None, ())

    with pytest.raises(ValueError, match="granularity"):
        cost_over_time_chart(report, tmp_path / "cost.png")


def test_top_consumers_and_scenario_charts_write_pngs(tmp_path: Path) -> None:
    scenarios = ScenarioValueReport(
        "acme",
        START,
        END,
        (
            ScenarioValue("faq", 5, 65_600, 4, 0.625, 3, 17_493, 47.6),
            ScenarioValue("chat", 2, 12_000, 0, None, 0, None, None),
        ),
    )

    assert_png(top_consumers_chart(top_teams(), tmp_path / "top.png"))
    assert_png(scenario_value_chart(scenarios, tmp_path / "value.png"))


def test_burn_chart_writes_a_png(tmp_path: Path) -> None:
    burn = project_burn(
        spent_micros=40_200,
        limit_micros=100_000,
        window_start=START,
        window_end=END,
        now=day(4),
    )

    assert_png(burn_chart(burn, daily_by_team(), tmp_path / "burn.png"))


def test_terminal_bars_scale_to_the_largest_value() -> None:
    console = Console(record=True, width=100)

    console.print(
        terminal_bars("Cost by team", [("search", 80), ("legal", 20)], width=20)
    )

    lines = console.export_text().splitlines()
    search = next(line for line in lines if "search" in line)
    legal = next(line for line in lines if "legal" in line)
    assert search.count("█") == 20 and legal.count("█") == 5
    assert "$0.0001" in search


def test_sparkline_spans_lowest_to_highest() -> None:
    assert sparkline([0, 7, 14]) == "▁▅█"
    assert sparkline([3, 3]) == "██"
    assert sparkline([]) == ""


# --- burn rate ---------------------------------------------------------------

NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def burn(spent: int, now: datetime, limit: int = 1_000_000) -> BurnRate:
    return project_burn(
        spent_micros=spent,
        limit_micros=limit,
        window_start=NOVEMBER[0],
        window_end=NOVEMBER[1],
        now=now,
    )


def test_burn_rate_projects_exhaustion_at_the_pace_so_far() -> None:
    # $0.40 in 10 days of 30: $0.04 a day, $0.60 left lasts 15 more days.
    rate = burn(400_000, day(11))

    assert rate.daily_rate_micros == 40_000
    assert rate.projected_spend_micros == 1_200_000
    assert rate.projected_exhaustion == day(26)
    assert rate.projected_overspend_micros == 200_000


def test_burn_rate_that_lasts_the_window_never_runs_out() -> None:
    rate = burn(200_000, day(11))

    assert (rate.daily_rate_micros, rate.projected_spend_micros) == (20_000, 600_000)
    assert rate.projected_exhaustion is None
    assert rate.remaining_micros == 800_000


def test_burn_rate_of_a_spent_budget_is_exhausted_now() -> None:
    rate = burn(1_000_050, day(11))

    assert rate.exhausted
    assert rate.projected_exhaustion == day(11)
    assert rate.remaining_micros == 0


def test_burn_rate_before_the_window_or_without_spend_has_no_pace() -> None:
    early = burn(0, datetime(2026, 10, 20, tzinfo=UTC))
    idle = burn(0, day(15))

    assert (early.daily_rate_micros, early.projected_exhaustion) == (0, None)
    assert early.as_of == NOVEMBER[0]
    assert (idle.daily_rate_micros, idle.projected_spend_micros) == (0, 0)


def test_burn_rate_rounds_the_daily_rate_to_a_micro_dollar() -> None:
    assert burn(100, day(4)).daily_rate_micros == 33  # 100 / 3 days
    assert burn(200, day(4)).daily_rate_micros == 67  # 66.67


def test_burn_rate_refuses_an_empty_window_or_negative_money() -> None:
    with pytest.raises(InvalidArgument, match="window_end"):
        project_burn(
            spent_micros=0,
            limit_micros=1,
            window_start=day(2),
            window_end=day(2),
            now=day(2),
        )
    with pytest.raises(InvalidArgument, match="limit_micros"):
        burn(0, day(2), limit=-1)


def test_burn_rate_table_has_one_row() -> None:
    table = burn(400_000, day(11)).table()

    assert table.column("projected_exhaustion") == [day(26)]
    assert table.column("daily_rate_micros") == [40_000]


# --- the default waste heuristic ---------------------------------------------

PRICES = {
    "openai/gpt-premium": Price(10_000_000, 30_000_000),
    "openai/gpt-mini": Price(150_000, 600_000),
    "groq/llama-small": Price(50_000, 100_000),
    "acme/odd": Price(10_000, 90_000_000),  # cheap input, dear output
}


def test_heuristic_offers_the_cheapest_model_for_simple_tasks() -> None:
    finder = PremiumForSimpleTasks(PRICES)

    assert finder("classification", "openai/gpt-premium") == Alternative(
        "groq/llama-small", Price(50_000, 100_000)
    )
    assert finder("extraction", "openai/gpt-premium") is not None


def test_heuristic_leaves_hard_tasks_cheap_and_unpriced_models_alone() -> None:
    finder = PremiumForSimpleTasks(PRICES)

    assert finder("coding", "openai/gpt-premium") is None
    assert finder("classification", "openai/gpt-mini") is None  # not premium
    assert finder("classification", "somewhere/unknown") is None


def test_heuristic_from_catalog_keeps_priced_chat_models_only() -> None:
    models = (
        ModelSpec("gpt-premium", price=PRICES["openai/gpt-premium"]),
        ModelSpec("gpt-mini", price=PRICES["openai/gpt-mini"]),
        ModelSpec("gpt-unpriced"),
        ModelSpec("embed-tiny", mode=ModelMode.EMBEDDING, price=Price(1, 0)),
    )
    table = PriceTable([ProviderSpec("openai", "openai", models=models)])

    finder = PremiumForSimpleTasks.from_catalog(table.models())

    assert sorted(finder.prices) == ["openai/gpt-mini", "openai/gpt-premium"]
    assert finder("classification", "openai/gpt-premium") == Alternative(
        "openai/gpt-mini", PRICES["openai/gpt-mini"]
    )


def test_heuristic_premium_threshold_is_configurable() -> None:
    finder = PremiumForSimpleTasks(PRICES, premium_above=100_000)

    assert finder("classification", "openai/gpt-mini") == Alternative(
        "groq/llama-small", Price(50_000, 100_000)
    )


# --- the feedback table ------------------------------------------------------


async def test_feedback_migration_matches_table_and_keeps_one_score_per_request(
    database_url: str,
) -> None:
    await upgrade_async(database_url)
    database = Database(database_url)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection)
        diff: list[Any] = compare_metadata(context, SQLModel.metadata)
        return diff

    row = {
        "org_id": "acme",
        "request_id": "r1",
        "score": 0.5,
        "label": "",
        "principal_id": "alice",
        "created_at": START + timedelta(hours=1),
    }
    try:
        async with database.engine.connect() as connection:
            diff = await connection.run_sync(differences)
        async with database.engine.begin() as connection:
            await connection.execute(
                insert(FEEDBACK_TABLE), [row, row | {"org_id": "b"}]
            )
        with pytest.raises(IntegrityError):
            async with database.engine.begin() as connection:
                await connection.execute(insert(FEEDBACK_TABLE), [row])
        with pytest.raises(IntegrityError):
            async with database.engine.begin() as connection:
                bad = row | {"request_id": "r2", "score": 1.5}
                await connection.execute(insert(FEEDBACK_TABLE), [bad])
    finally:
        await database.dispose()

    assert [d for d in diff if "feedback" in repr(d)] == []
