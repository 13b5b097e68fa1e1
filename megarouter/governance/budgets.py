"""Budgets checked on every call, exact across replicas, without a database
round trip per call.

Each replica leases a slice of every budget window it serves (see
:mod:`megarouter.governance.budget_leases`), reserves each call's worst-case
cost from its slice in memory, and settles the actual cost in memory too.
Settled spend is written back with the next lease, at every maintenance
tick (a third of the lease time-to-live) and when a slice is released.

Near the limit slices shrink: a slice is ``calls_per_slice`` worst cases
while plenty is left, and no more than ``1 / (2 * expected_replicas)`` of
what no replica holds once little is. In that tight zone a replica also
hands its slice back as soon as it has no call in flight, so the last
calls are admitted or refused exactly, as one shared counter would.

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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import Counter

from megarouter.errors import InvalidArgument, QuotaViolation, ResourceExhausted
from megarouter.governance.budget_admin import load_budget, load_org_budgets
from megarouter.governance.budget_leases import (
    LeaseLost,
    LeaseStore,
    WindowKey,
    WindowState,
)
from megarouter.governance.budget_model import (
    Budget,
    BudgetOutlook,
    BudgetStatus,
    CallScopes,
)
from megarouter.governance.budget_periods import Window, time_zone, window_at
from megarouter.store.database import Database

logger = logging.getLogger(__name__)

ALERTS = Counter(
    "megarouter_budget_alerts",
    "Soft budgets that went over their limit (once per budget window).",
    ["org", "budget"],
)
REFUSALS = Counter(
    "megarouter_budget_refusals", "Calls refused by a hard budget.", ["org", "budget"]
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class _Slot:
    """This replica's lease on one budget window, and what it did with it."""

    key: WindowKey
    window: Window
    budget: Budget
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    lease_id: str | None = None
    held: int = 0  # the lease row's amount
    reserved: int = 0  # worst cases of calls in flight
    used: int = 0  # settled spend not yet written back (part of held)
    generation: int = 0  # bumped when the lease is lost or given up
    tight: bool = False  # near the limit: hand the slice back when idle
    seen: WindowState | None = None  # the window, as last read or written
    last_used: datetime | None = None
    uses: int = 0  # reservations taken, to tell an idle slice from a busy one
    settles: int = 0  # settlements, to tell whether a refusal may be stale
    refused: tuple[float, int, int, WindowState] | None = None  # the last one
    alerted: bool = False
    retired: bool = False  # dropped from the book: take a fresh slot instead

    @property
    def free(self) -> int:
        return self.held - self.reserved - self.used


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
    _holds: tuple[tuple[_Slot, int], ...] = field(default=(), repr=False)


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
        self._ttl = timedelta(seconds=lease_ttl)
        self._calls_per_slice = calls_per_slice
        self._replicas = expected_replicas
        self._retry_after = retry_after
        self._orgs: dict[str, _OrgBudgets] = {}
        self._loading = asyncio.Lock()
        self._slots: dict[WindowKey, _Slot] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._creating: set[str] = set()  # ids of leases being inserted
        self._idle_grace = idle_grace

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
        # Let pending hand-backs finish: cancelling one mid-transaction could
        # leave its connection holding a lock.
        await asyncio.gather(*self._background, return_exceptions=True)
        for slot in list(self._slots.values()):
            async with slot.lock:
                await self._release(slot, in_flight_spent=True)
        self._slots.clear()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl.total_seconds() / 3)
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
        now = self._clock()
        renewing = {s.lease_id: s for s in self._slots.values() if s.lease_id}
        still_held = await self._leases.renew(self.replica_id, now + self._ttl)
        for lease_id, slot in renewing.items():
            # Gone although this replica neither released nor replaced it.
            if lease_id not in still_held and slot.lease_id == lease_id:
                self._lose(slot)
        await self._release_orphans(still_held)

        for slot in list(self._slots.values()):
            async with slot.lock:
                if slot.lease_id is not None and self._idle(slot, now):
                    await self._release(slot)
                elif slot.used > 0:
                    await self._write_back(slot)
                ended = not slot.window.contains(now)
                if ended and slot.lease_id is None and slot.reserved == 0:
                    slot.retired = True
                    del self._slots[slot.key]

        written_off = await self._leases.expire(now)
        if written_off:
            logger.warning(
                "wrote off %d micro-dollars of expired budget leases", written_off
            )
        for org_id in list(self._orgs):
            self._orgs[org_id] = await self._load(org_id)
        states = await self._leases.read_many(list(self._slots))
        for key, slot in self._slots.items():
            slot.seen = states.get(key, slot.seen)

    async def _release_orphans(self, held: set[str]) -> None:
        """Hand back leases this replica holds but forgot (a grow whose caller
        was cancelled after the commit): no call ever reserved from them."""
        known = {slot.lease_id for slot in self._slots.values()} | self._creating
        for lease_id in held - known:
            with contextlib.suppress(LeaseLost):
                await self._leases.release_orphan(lease_id)

    def forget(self, org_id: str) -> None:
        """Reread an org's budgets on next use (call after changing them)."""
        self._orgs.pop(org_id, None)
        for slot in self._slots.values():
            if slot.key.org_id == org_id:
                slot.seen = None

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
            InvalidArgument: a negative worst case.
            ResourceExhausted: a hard budget cannot hold it; the violation
                names the budget (``orgs/{org}/budgets/{id}``). Nothing is
                held then.
        """
        if worst_case_micros < 0:
            raise InvalidArgument.for_field("worst_case_micros", "must not be negative")
        zone, budgets = await self._covering(scopes)
        now = self._clock()

        holds: list[tuple[_Slot, int]] = []
        try:
            for budget in budgets:
                slot = await self._take(
                    budget, window_at(budget.period, zone, now), worst_case_micros
                )
                if slot is not None:
                    holds.append((slot, slot.generation))
        except BaseException:
            for slot, generation in holds:
                if slot.generation == generation:
                    slot.reserved -= worst_case_micros
            raise

        alerts = tuple(s.budget.name for s, _ in holds if _over_soft_limit(s))
        return Reservation(
            worst_case_micros,
            tuple(s.budget.name for s, _ in holds),
            alerts,
            _holds=tuple(holds),
        )

    async def settle(self, reservation: Reservation, actual_micros: int) -> None:
        """Count a finished call's actual cost against its budgets.

        Args:
            reservation: from :meth:`reserve`; settle each exactly once.
            actual_micros: what the call cost (0 if it never ran).

        Raises:
            InvalidArgument: a negative cost, or a reservation settled twice.
        """
        if actual_micros < 0:
            raise InvalidArgument.for_field("actual_micros", "must not be negative")
        if reservation.settled:
            raise InvalidArgument("this reservation was settled already")
        reservation.settled = True
        worst = reservation.worst_case_micros
        if actual_micros > worst:
            logger.warning(
                "a call cost %d micro-dollars, more than the %d reserved for it",
                actual_micros,
                worst,
            )

        now = self._clock()
        for slot, generation in reservation._holds:
            if slot.generation != generation:
                continue  # its lease was written off as spent, this call included
            slot.reserved -= worst
            slot.used += actual_micros
            slot.settles += 1
            slot.last_used = now
        for slot, generation in reservation._holds:
            if slot.tight and slot.reserved == 0 and slot.generation == generation:
                self._release_if_idle_soon(slot)

    async def outlook(self, scopes: CallScopes) -> BudgetOutlook:
        """What the router should know: headroom and whether to prefer cheaper.

        Reads the database only for windows this replica has not seen yet.
        """
        zone, budgets = await self._covering(scopes)
        now = self._clock()
        slots = [self._slot(b, window_at(b.period, zone, now)) for b in budgets]
        unseen = [slot.key for slot in slots if slot.seen is None]
        if unseen:
            states = await self._leases.read_many(unseen)
            for slot in slots:
                slot.seen = slot.seen or states.get(slot.key)

        headroom: int | None = None
        cheaper = False
        for slot in slots:
            if slot.seen is None:
                continue  # deleted meanwhile
            left = slot.seen.unleased_micros + max(slot.free, 0)
            if slot.budget.hard:
                headroom = max(0, left if headroom is None else min(headroom, left))
            threshold = slot.budget.prefer_cheaper_below_micros
            cheaper = cheaper or (threshold is not None and left < threshold)
        return BudgetOutlook(headroom, cheaper)

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

        Raises:
            NotFound: no such budget.
        """
        zone_name, budget = await load_budget(self._database, org_id, budget_id)
        window = window_at(
            budget.period, time_zone(time_zone_name or zone_name), self._clock()
        )
        spent, leased, written_off = await self._leases.totals(
            WindowKey(org_id, budget_id, window.start)
        )
        return BudgetStatus(budget, window, spent, leased, written_off)

    # --- slots ------------------------------------------------------------

    async def _covering(self, scopes: CallScopes) -> tuple[ZoneInfo, list[Budget]]:
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

    def _slot(self, budget: Budget, window: Window) -> _Slot:
        key = WindowKey(budget.org_id, budget.id, window.start)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(key, window, budget)
        else:
            slot.budget = budget  # the latest definition
        return slot

    async def _take(self, budget: Budget, window: Window, worst: int) -> _Slot | None:
        """Reserve ``worst`` from a budget window; None if the budget is gone."""
        while True:
            slot = self._slot(budget, window)
            if slot.lease_id is not None and slot.free >= worst:
                slot.reserved += worst  # the common case: no await, no database
                slot.uses += 1
                return slot
            self._refuse_if_known_exhausted(slot, worst)
            async with slot.lock:
                if slot.retired:
                    continue  # dropped by maintenance while we waited
                self._refuse_if_just_refused(slot, worst)
                while slot.lease_id is None or slot.free < worst:
                    if not await self._grow(slot, worst):
                        self.forget(budget.org_id)
                        return None
                slot.reserved += worst
                slot.uses += 1
                return slot

    async def _grow(self, slot: _Slot, worst: int) -> bool:
        """Lease enough for one more call (and more while far from the limit).

        Returns False when the budget no longer exists.

        Raises:
            ResourceExhausted: a hard budget refuses even one call's worth.
        """
        need = worst - slot.free if slot.lease_id is not None else worst
        size = self._slice_size(slot, worst, need)
        state: WindowState | None = None
        attempts = [(size, False), (need, False)] if size != need else [(need, False)]
        if not slot.budget.hard:
            attempts.append((need, True))  # a soft budget admits past its limit
        for grow, may_pass in attempts:
            new_lease = slot.lease_id is None
            lease_id = slot.lease_id or uuid.uuid4().hex
            used = slot.used
            self._creating.add(lease_id)
            try:
                grant = await self._leases.grow(
                    slot.key,
                    slot.window.end,
                    lease_id,
                    self.replica_id,
                    new_lease=new_lease,
                    grow_micros=grow,
                    used_micros=used,
                    expires_at=self._clock() + self._ttl,
                    may_pass_soft_limit=may_pass,
                )
            except LeaseLost:
                self._lose(slot)
                return True  # the caller loops and leases afresh
            finally:
                self._creating.discard(lease_id)
            if grant.state is None:
                return False
            state = slot.seen = grant.state
            if grant.granted:
                slot.lease_id = lease_id
                slot.held += grow - used
                slot.used -= used
                slot.tight = self._is_tight(state, worst)
                await self._alert_if_over(slot)
                return True
        assert state is not None
        slot.refused = (asyncio.get_running_loop().time(), slot.settles, worst, state)
        raise self._refusal(slot, state, worst)

    def _slice_size(self, slot: _Slot, worst: int, need: int) -> int:
        """A full slice far from the limit; a shrinking share near it."""
        full = max(need, worst * self._calls_per_slice)
        seen = slot.seen
        if seen is None or not self._is_tight(seen, worst):
            return full
        share = seen.unleased_micros // (2 * self._replicas)
        return min(full, max(need, share))

    def _is_tight(self, state: WindowState, worst: int) -> bool:
        """Near a limit that still matters (a soft budget past it no longer does)."""
        if not state.hard and state.unleased_micros <= 0:
            return False
        full = worst * self._calls_per_slice
        return state.unleased_micros < 2 * self._replicas * full

    def _refuse_if_just_refused(self, slot: _Slot, worst: int) -> None:
        """Refuse at once what the database refused a moment ago.

        Calls queued behind a refused one would each be refused again; until
        a call settles here or half a retry interval passes, nothing here
        can have changed the answer, so they do not ask again.
        """
        if slot.refused is None or slot.free >= worst:
            return
        at, settles, refused_worst, state = slot.refused
        fresh = asyncio.get_running_loop().time() - at < self._retry_after / 2
        if fresh and settles == slot.settles and worst >= refused_worst:
            raise self._refusal(slot, state, worst)

    def _refuse_if_known_exhausted(self, slot: _Slot, worst: int) -> None:
        """Refuse without a database read when nothing can have come back."""
        seen, budget = slot.seen, slot.budget
        if seen is None or slot.lease_id is not None or seen.leased_micros > 0:
            return
        # The budget's own limit, in case an update raised it since the read.
        seen = replace(seen, limit_micros=budget.limit_micros, hard=budget.hard)
        if seen.hard and seen.unleased_micros < worst:
            raise self._refusal(slot, seen, worst)

    def _refusal(
        self, slot: _Slot, state: WindowState, worst: int
    ) -> ResourceExhausted:
        budget = slot.budget
        REFUSALS.labels(budget.org_id, budget.id).inc()
        left = max(0, state.unleased_micros + max(slot.free, 0))
        description = (
            f"{budget.period} budget of {budget.limit_micros} micro-USD on "
            f"{_scope_text(budget)}: {left} left unreserved, the call may cost "
            f"up to {worst}"
        )
        # Money other replicas hold, or calls in flight here, may come back.
        held_elsewhere = state.leased_micros - slot.held
        may_free = held_elsewhere > 0 or slot.reserved > 0
        retry_after = self._retry_after if may_free else None
        return ResourceExhausted(
            f"budget {budget.name} is exhausted: {description}",
            [QuotaViolation(subject=budget.name, description=description)],
            retry_after=retry_after,
        )

    async def _alert_if_over(self, slot: _Slot) -> None:
        """Raise a soft budget's alert, once per window across all replicas."""
        if slot.alerted or not _over_soft_limit(slot):
            return
        slot.alerted = True
        if await self._leases.claim_alert(slot.key, self._clock()):
            budget, seen = slot.budget, slot.seen
            assert seen is not None
            ALERTS.labels(budget.org_id, budget.id).inc()
            logger.warning(
                "budget alert: soft %s budget %s (%s) is over its limit of %d "
                "micro-USD: %d spent, %d held for calls",
                budget.period,
                budget.name,
                _scope_text(budget),
                budget.limit_micros,
                seen.spent_micros,
                seen.leased_micros,
            )

    def _release_if_idle_soon(self, slot: _Slot) -> None:
        """Hand a tight slice back unless another call takes from it at once.

        A caller making calls back to back keeps its slice; one that pauses
        lets other replicas have the money.
        """
        uses = slot.uses

        async def release_when_idle() -> None:
            await asyncio.sleep(self._idle_grace)
            async with slot.lock:
                if slot.uses == uses and slot.reserved == 0:
                    await self._release(slot)

        task = asyncio.create_task(release_when_idle())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _idle(self, slot: _Slot, now: datetime) -> bool:
        """A slice worth handing back: nothing in flight and no use lately."""
        if slot.reserved > 0:
            return False
        if slot.tight or not slot.window.contains(now):
            return True
        return slot.last_used is None or now - slot.last_used >= self._ttl

    async def _write_back(self, slot: _Slot) -> None:
        assert slot.lease_id is not None
        used = slot.used
        try:
            state = await self._leases.write_back(
                slot.key,
                slot.lease_id,
                used_micros=used,
                returned_micros=0,
                expires_at=self._clock() + self._ttl,
            )
        except LeaseLost:
            self._lose(slot)
            return
        slot.used -= used
        slot.held -= used
        slot.seen = state or slot.seen

    async def _release(self, slot: _Slot, *, in_flight_spent: bool = False) -> None:
        """Hand a slice back; settled spend (and, if asked, calls in flight) stays."""
        if slot.lease_id is None:
            return
        spent = slot.used + (slot.reserved if in_flight_spent else 0)
        try:
            state = await self._leases.release(
                slot.key, slot.lease_id, used_micros=spent
            )
        except LeaseLost:
            self._lose(slot)
            return
        slot.seen = state or slot.seen
        slot.lease_id = None
        slot.held = slot.used = 0
        if in_flight_spent:
            slot.reserved = 0
            slot.generation += 1

    def _lose(self, slot: _Slot) -> None:
        """The lease expired and was written off: start again with nothing."""
        logger.warning(
            "budget lease on %s expired before this replica renewed it; "
            "its %d micro-USD were written off as spent",
            slot.budget.name,
            slot.held,
        )
        slot.lease_id = None
        slot.held = slot.used = slot.reserved = 0
        slot.generation += 1


def _over_soft_limit(slot: _Slot) -> bool:
    return (
        not slot.budget.hard and slot.seen is not None and slot.seen.unleased_micros < 0
    )


def _scope_text(budget: Budget) -> str:
    if not budget.scope_value:
        return f"org {budget.org_id}"
    return f"{budget.scope_kind} {budget.scope_value}"
