"""Budgets checked on every call, exact across replicas, without a database
round trip per call.

Each replica leases a slice of every budget window it serves (see
:mod:`megarouter.governance.budget_leases` for the protocol and what a
crash costs), reserves each call's worst-case cost from its slice in memory,
and settles the actual cost in memory too (see
:mod:`megarouter.governance.budget_slices`). Settled spend is written back
with the next lease, at every maintenance tick (a third of the lease
time-to-live) and whenever a slice is handed back.

A hard budget refuses a call that could take it past its limit with
:class:`~megarouter.errors.ResourceExhausted`, whose ``retry_after`` is set
when money held by calls still in flight may yet come back. A soft budget
admits it and raises a ``budget alert`` once per window, in the log and in
the ``megarouter_budget_alerts_total`` metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from megarouter.governance.budget_admin import load_budget, load_org_budgets
from megarouter.governance.budget_leases import LeaseStore, WindowKey
from megarouter.governance.budget_model import (
    Budget,
    BudgetOutlook,
    BudgetStatus,
    CallScopes,
)
from megarouter.governance.budget_periods import time_zone, window_at
from megarouter.governance.budget_slices import (
    Clock,
    Slice,
    SlicePolicy,
    Slices,
    over_soft_limit,
)
from megarouter.store.database import Database

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class Reservation:
    """A call's worst-case cost, held from every budget that covers it.

    Give it to :meth:`BudgetBook.settle` exactly once when the call ends.

    Attributes:
        worst_case_micros: what was held from each budget.
        budgets: resource names of the covering budgets.
        soft_alerts: covering soft budgets that this call finds over their
            limit (it is admitted anyway).
    """

    worst_case_micros: int
    budgets: tuple[str, ...]
    soft_alerts: tuple[str, ...] = ()
    settled: bool = False
    _holds: tuple[tuple[Slice, int], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class _OrgBudgets:
    zone: str
    budgets: tuple[Budget, ...]


class BudgetBook:
    """Checks calls against budgets; one per server process (replica).

    Use ``async with BudgetBook(database) as book:``, or call :meth:`start`
    and :meth:`stop`; :meth:`stop` hands back every unused slice.

    Args:
        database: where the budget tables live (migrated).
        replica_id: names this process in lease rows; unique by default.
        clock: returns the current time, aware; periods and lease expiry
            follow it (tests pass a controllable one).
        lease_ttl: seconds after which a lease its replica stopped renewing
            is written off; renewed every third of it.
        calls_per_slice: a full slice holds this many worst-case calls.
        expected_replicas: how many replicas share a budget, for sizing
            slices near the limit; a wrong guess costs speed, never money.
        retry_after: the hint, in seconds, put on refusals that calls in
            flight may undo.
        idle_grace: seconds without a new call after which a replica near
            a limit hands its slice back.
    """

    def __init__(
        self,
        database: Database,
        *,
        replica_id: str | None = None,
        clock: Clock = utc_now,
        lease_ttl: float = 15.0,
        calls_per_slice: int = 32,
        expected_replicas: int = 4,
        retry_after: float = 0.1,
        idle_grace: float = 0.02,
    ) -> None:
        if calls_per_slice < 1 or expected_replicas < 1 or lease_ttl <= 0:
            raise ValueError("calls_per_slice, expected_replicas and lease_ttl > 0")
        self.replica_id = replica_id or (
            f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        self._database = database
        self._leases = LeaseStore(database)
        self._clock = clock
        policy = SlicePolicy(
            timedelta(seconds=lease_ttl),
            calls_per_slice,
            expected_replicas,
            retry_after,
            idle_grace,
        )
        self._slices = Slices(self._leases, self.replica_id, clock, policy)
        self._tick = lease_ttl / 3
        self._orgs: dict[str, _OrgBudgets] = {}
        self._loading = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BudgetBook:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        """Start renewing leases and sweeping expired ones in the background."""
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="budgets")

    async def stop(self) -> None:
        """Stop the background work and hand back every slice.

        Calls still in flight are counted at their worst case, since their
        settlement can no longer be written.
        """
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._slices.release_all()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                await self.maintain()
            except Exception:  # the ticker must outlive a database hiccup
                logger.exception("budget maintenance failed; retrying next tick")

    async def maintain(self) -> None:
        """One round of background work; :meth:`start` runs it every ttl/3.

        Renews this replica's leases, writes back settled spend, hands back
        idle slices, writes off other replicas' expired leases, and rereads
        budgets and windows.
        """
        await self._slices.maintain()
        for org_id in list(self._orgs):
            self._orgs[org_id] = await self._load(org_id)

    def forget(self, org_id: str) -> None:
        """Reread an org's budgets on next use (call after changing them)."""
        self._orgs.pop(org_id, None)
        self._slices.forget(org_id)

    # --- the call path ----------------------------------------------------

    async def reserve(self, scopes: CallScopes, worst_case_micros: int) -> Reservation:
        """Hold a call's worst-case cost from every budget that covers it.

        Args:
            scopes: who calls, and for what.
            worst_case_micros: the most the call can cost (input tokens plus
                the output limit, at the model's prices).

        Returns:
            The reservation, to settle when the call ends.

        Raises:
            ValueError: a negative worst case (a bug in the caller).
            ResourceExhausted: a hard budget cannot hold it; the violation
                names the budget (``orgs/{org}/budgets/{id}``). Nothing is
                held then.
        """
        if worst_case_micros < 0:
            raise ValueError(f"a negative worst case: {worst_case_micros}")
        zone, budgets = await self._covering(scopes)
        now = self._clock()

        holds: list[tuple[Slice, int]] = []
        try:
            for budget in budgets:
                window = window_at(budget.period, zone, now)
                slot = await self._slices.take(budget, window, worst_case_micros)
                if slot is None:
                    self.forget(budget.org_id)  # deleted meanwhile
                else:
                    holds.append((slot, slot.generation))
        except BaseException:
            for slot, generation in holds:
                self._slices.cancel(slot, generation, worst_case_micros)
            raise

        return Reservation(
            worst_case_micros,
            tuple(slot.budget.name for slot, _ in holds),
            tuple(slot.budget.name for slot, _ in holds if over_soft_limit(slot)),
            _holds=tuple(holds),
        )

    async def settle(self, reservation: Reservation, actual_micros: int) -> None:
        """Count a finished call's actual cost against its budgets.

        Args:
            reservation: from :meth:`reserve`; settle each exactly once.
            actual_micros: what the call cost (0 if it never ran).

        Raises:
            ValueError: a negative cost, or a reservation settled twice (bugs
                in the caller).
        """
        if actual_micros < 0:
            raise ValueError(f"a negative cost: {actual_micros}")
        if reservation.settled:
            raise ValueError("this reservation was settled already")
        reservation.settled = True
        worst = reservation.worst_case_micros
        if actual_micros > worst:
            logger.warning(
                "a call cost %d micro-dollars, more than the %d reserved for it",
                actual_micros,
                worst,
            )
        for slot, generation in reservation._holds:
            self._slices.settle(slot, generation, worst, actual_micros)

    async def outlook(self, scopes: CallScopes) -> BudgetOutlook:
        """What the router should know: headroom and whether to prefer cheaper.

        Reads the database only for windows this replica has not seen yet.
        """
        zone, budgets = await self._covering(scopes)
        now = self._clock()
        slots = [self._slices.get(b, window_at(b.period, zone, now)) for b in budgets]
        await self._slices.observe(slots)

        headroom: int | None = None
        limiting = ""
        cheaper = False
        for slot in slots:
            if slot.seen is None:
                continue  # deleted meanwhile
            left = max(0, slot.seen.unleased_micros + max(slot.free, 0))
            if slot.budget.hard and (headroom is None or left < headroom):
                headroom, limiting = left, slot.budget.name
            threshold = slot.budget.prefer_cheaper_below_micros
            cheaper = cheaper or (threshold is not None and left < threshold)
        return BudgetOutlook(headroom, cheaper, limiting)

    async def headroom(self, scopes: CallScopes) -> int | None:
        """The most a call may cost under every covering hard budget, or None."""
        return (await self.outlook(scopes)).headroom_micros

    async def prefer_cheaper(self, scopes: CallScopes) -> bool:
        """Whether a covering budget is below its prefer-cheaper threshold."""
        return (await self.outlook(scopes)).prefer_cheaper

    async def status(
        self, org_id: str, budget_id: str, time_zone_name: str | None = None
    ) -> BudgetStatus:
        """A budget's spend in its current window, read from the database.

        Args:
            org_id: the org.
            budget_id: the budget.
            time_zone_name: the org's zone; None reads it from the org.

        Raises:
            NotFound: no such budget.
        """
        zone_name, budget = await load_budget(self._database, org_id, budget_id)
        zone = time_zone(time_zone_name or zone_name)
        window = window_at(budget.period, zone, self._clock())
        spent, leased, written_off = await self._leases.totals(
            WindowKey(org_id, budget_id, window.start)
        )
        return BudgetStatus(budget, window, spent, leased, written_off)

    # --- budgets by org -----------------------------------------------------

    async def _covering(self, scopes: CallScopes) -> tuple[ZoneInfo, list[Budget]]:
        """The org's zone and the budgets that cover a call, from the cache."""
        entry = self._orgs.get(scopes.org_id)
        if entry is None:
            async with self._loading:
                entry = self._orgs.get(scopes.org_id)
                if entry is None:
                    entry = await self._load(scopes.org_id)
                    self._orgs[scopes.org_id] = entry
        zone = time_zone(scopes.time_zone or entry.zone)
        return zone, [b for b in entry.budgets if b.covers(scopes)]

    async def _load(self, org_id: str) -> _OrgBudgets:
        zone, budgets = await load_org_budgets(self._database, org_id)
        return _OrgBudgets(zone, tuple(sorted(budgets, key=lambda b: b.id)))
