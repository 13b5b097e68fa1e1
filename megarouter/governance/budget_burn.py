"""A budget's burn: its pace in the current window, from its status and the
ledger of its scope.

The budget's own status says how much replicas have settled; the usage
ledger holds every call durably as it ends. Replicas write settled spend
back every few seconds, so the larger of the two is taken as spent. A
lifetime budget has no window end: its pace runs from its creation and is
projected a year ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from megarouter.governance.analytics import Analytics
from megarouter.governance.analytics_burn import BurnRate
from megarouter.governance.analytics_sql import Dimension, Filters, Granularity
from megarouter.governance.budget_model import BudgetStatus, ScopeKind
from megarouter.governance.budget_periods import Period

LIFETIME_HORIZON = timedelta(days=365)

# The ledger dimension that a budget's scope filters on (none for the org).
SCOPE_DIMENSION = {
    ScopeKind.TEAM: Dimension.TEAM,
    ScopeKind.PRINCIPAL: Dimension.PRINCIPAL,
    ScopeKind.KEY: Dimension.KEY,
    ScopeKind.SCENARIO: Dimension.SCENARIO,
}


@dataclass(frozen=True, slots=True)
class BudgetBurn:
    """A budget's pace and its scope's spend per day over the window so far.

    Attributes:
        status: the budget's status it was measured from.
        burn: the pace, projected spend and exhaustion date.
        daily: (UTC day, micro-dollars) from the ledger, days with spend only.
    """

    status: BudgetStatus
    burn: BurnRate
    daily: tuple[tuple[datetime, int], ...]


def scope_filters(status: BudgetStatus) -> Filters:
    """The ledger filter of a budget's scope."""
    budget = status.budget
    if budget.scope_kind not in SCOPE_DIMENSION:
        return {}
    return {SCOPE_DIMENSION[budget.scope_kind]: budget.scope_value}


async def budget_burn(
    status: BudgetStatus, analytics: Analytics, now: datetime
) -> BudgetBurn:
    """How fast a budget burns in its current window, and when it runs out.

    Args:
        status: the budget's status (from ``BudgetBook.status``).
        analytics: reads the ledger of the budget's org.
        now: the moment of measurement.

    Returns:
        The burn and the daily spend it was drawn from.

    Raises:
        Unavailable: the ledger could not be read.
    """
    budget = status.budget
    start, end = status.window.start, status.window.end
    if budget.period is Period.LIFETIME or end is None:
        start = budget.create_time or start
        end = max(now, start) + LIFETIME_HORIZON

    daily: tuple[tuple[datetime, int], ...] = ()
    until = min(now, end)
    if until > start:
        report = await analytics.usage(
            budget.org_id,
            start,
            until,
            granularity=Granularity.DAY,
            filters=scope_filters(status),
        )
        daily = tuple(
            (line.bucket, line.cost_micros)
            for line in report.lines
            if line.bucket is not None
        )

    spent = max(status.spent_micros, sum(cost for _, cost in daily))
    burn = await analytics.burn_rate(
        budget.org_id,
        limit_micros=budget.limit_micros,
        window_start=start,
        window_end=end,
        now=now,
        spent_micros=spent,
    )
    return BudgetBurn(status, burn, daily)
