"""Budgets and rate limits around one call: admit, then settle.

Before a call runs, its worst-case cost (input tokens plus the output limit
at the price of the dearest candidate it may try) is reserved from every
budget that covers it, and one request plus its token estimate from every
rate limit; after it ends, both are settled with what it really used. A
refusal is RESOURCE_EXHAUSTED naming the budget or limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from megarouter.auth.caller import Caller
from megarouter.catalog.prices import CatalogModel
from megarouter.catalog.prices import worst_case_output as catalog_worst_case_output
from megarouter.governance.budget_model import BudgetOutlook, CallScopes
from megarouter.governance.budgets import BudgetBook, Reservation
from megarouter.governance.ratelimits import Permit, RateLimitGate

FALLBACK_OUTPUT_TOKENS = 4096  # when neither the caller nor the catalog says


def worst_case_output(model: CatalogModel, requested: int | None) -> int:
    """The most output tokens a call to ``model`` can be billed for."""
    return catalog_worst_case_output(model.spec, requested, FALLBACK_OUTPUT_TOKENS)


def worst_case_cost(
    candidates: Sequence[CatalogModel], input_tokens: int, requested: int | None
) -> int:
    """The most a call trying ``candidates`` can cost, in micro-dollars."""
    worst = 0
    for model in candidates:
        if model.price is not None:
            output = worst_case_output(model, requested)
            worst = max(worst, model.price.cost_micros(input_tokens, output))
    return worst


@dataclass(frozen=True, slots=True)
class Admission:
    """What a call holds while it runs."""

    reservation: Reservation | None
    permit: Permit | None


def scopes_of(caller: Caller, scenario: str) -> CallScopes:
    return CallScopes(
        org_id=caller.org_id,
        team_id=caller.team_id,
        principal_id=caller.principal_id,
        key_id=caller.key_id,
        scenario=scenario or None,
    )


class Governor:
    """Applies an org's budgets and rate limits to its calls.

    Args:
        budgets: the process's budget book, or None for no budgets.
        rates: the rate-limit gate, or None for no rate limits.
    """

    def __init__(self, budgets: BudgetBook | None, rates: RateLimitGate | None) -> None:
        self.budgets = budgets
        self.rates = rates

    async def outlook(self, caller: Caller, scenario: str) -> BudgetOutlook | None:
        """What budgets leave for this call, for the router; None if no budgets."""
        if self.budgets is None:
            return None
        return await self.budgets.outlook(scopes_of(caller, scenario))

    async def admit(
        self,
        caller: Caller,
        scenario: str,
        worst_case_micros: int,
        tokens_estimate: int,
    ) -> Admission:
        """Reserve the call's worst case and count it against rate limits.

        Raises:
            ResourceExhausted: a rate limit or a hard budget refused; nothing
                is held then.
        """
        permit = None
        if self.rates is not None:
            permit = await self.rates.acquire(
                caller.org_id, caller.team_id or "", caller.key_id, tokens_estimate
            )
        reservation = None
        if self.budgets is not None:
            try:
                reservation = await self.budgets.reserve(
                    scopes_of(caller, scenario), worst_case_micros
                )
            except BaseException:
                if permit is not None and self.rates is not None:
                    await self.rates.settle(permit, 0)
                raise
        return Admission(reservation, permit)

    async def settle(self, admission: Admission, cost_micros: int, tokens: int) -> None:
        """Count what the call really cost and used."""
        if admission.reservation is not None and self.budgets is not None:
            await self.budgets.settle(admission.reservation, cost_micros)
        if admission.permit is not None and self.rates is not None:
            await self.rates.settle(admission.permit, tokens)
