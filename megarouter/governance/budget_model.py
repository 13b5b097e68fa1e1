"""What a budget is, what a call is checked against, and what a check returns.

Money is integer micro-dollars throughout.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from megarouter.governance.budget_periods import Period, Window


class ScopeKind(enum.StrEnum):
    """What a budget limits: the whole org, or the calls of one team, ..."""

    ORG = "org"
    TEAM = "team"
    PRINCIPAL = "principal"
    KEY = "key"
    SCENARIO = "scenario"


@dataclass(frozen=True, slots=True)
class CallScopes:
    """Who makes a call, and for what: every budget of one of these covers it.

    Attributes:
        org_id: the caller's org.
        team_id: the caller's team, if any.
        principal_id: the calling principal.
        key_id: the API key the call came with.
        scenario: the caller's scenario tag, if any.
        time_zone: the org's IANA time zone, in which periods start; None
            reads it from the org's record (once, then cached).
    """

    org_id: str
    team_id: str | None = None
    principal_id: str | None = None
    key_id: str | None = None
    scenario: str | None = None
    time_zone: str | None = None

    def value_of(self, kind: ScopeKind) -> str | None:
        """The call's value for a scope kind ("" for the org, which always covers)."""
        if kind is ScopeKind.ORG:
            return ""
        values = {
            ScopeKind.TEAM: self.team_id,
            ScopeKind.PRINCIPAL: self.principal_id,
            ScopeKind.KEY: self.key_id,
            ScopeKind.SCENARIO: self.scenario,
        }
        return values[kind] or None


@dataclass(frozen=True, slots=True)
class Budget:
    """A spending limit on one scope of an org, per period.

    Attributes:
        org_id: the org.
        id: the budget's id; its resource name is ``orgs/{org}/budgets/{id}``.
        scope_kind: what the budget limits.
        scope_value: the team, principal, key id or scenario tag; "" for org.
        period: when spending starts again from zero.
        limit_micros: the most the scope may spend per period.
        hard: refuse calls that could pass the limit (else admit and alert).
        prefer_cheaper_below_micros: when less than this remains, ``auto``
            routing should prefer cheaper models; None never.
        display_name: for people.
        version: incremented by every update; the etag is derived from it.
    """

    org_id: str
    id: str
    scope_kind: ScopeKind
    scope_value: str
    period: Period
    limit_micros: int
    hard: bool = True
    prefer_cheaper_below_micros: int | None = None
    display_name: str = ""
    version: int = 1
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"orgs/{self.org_id}/budgets/{self.id}"

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def covers(self, scopes: CallScopes) -> bool:
        """Whether a call with these scopes counts against this budget."""
        if scopes.org_id != self.org_id:
            return False
        return scopes.value_of(self.scope_kind) == self.scope_value


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget's spend in its current window, as the database has it.

    ``spent_micros`` is settled spend (including what was written off from
    the leases of replicas that died); ``leased_micros`` is held by replicas
    for calls in flight, settled spend not yet written back, and unused
    slices. ``remaining_micros`` may be negative for a soft budget.
    """

    budget: Budget
    window: Window
    spent_micros: int
    leased_micros: int
    written_off_micros: int

    @property
    def remaining_micros(self) -> int:
        return self.budget.limit_micros - self.spent_micros - self.leased_micros


@dataclass(frozen=True, slots=True)
class BudgetOutlook:
    """What the router should know about the budgets covering a call.

    Attributes:
        headroom_micros: the most a call may cost under every covering hard
            budget right now (this replica's view); None when none applies.
        prefer_cheaper: some covering budget is below its
            ``prefer_cheaper_below_micros`` threshold.
        limiting_budget: the name of the hard budget that sets the
            headroom, "" when none does.
    """

    headroom_micros: int | None
    prefer_cheaper: bool
    limiting_budget: str = ""
