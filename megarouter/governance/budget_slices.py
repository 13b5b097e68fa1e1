"""This replica's slices of budget windows: leasing, reserving, handing back.

A :class:`Slice` is this replica's lease on one budget window and what it
has done with it: money held (``held``), worst cases of calls in flight
(``reserved``) and settled spend not yet written back (``used``). Calls take
from it in memory; only when it runs short does :class:`Slices` lease more,
through :class:`~megarouter.governance.budget_leases.LeaseStore`.

Near the limit slices shrink: a slice is ``calls_per_slice`` worst cases
while plenty is left, and no more than ``1 / (2 * expected_replicas)`` of
what no replica holds once little is. In that tight zone a replica hands its
slice back as soon as it has had no call for ``idle_grace`` seconds, so the
last calls are admitted or refused as one shared counter would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from prometheus_client import Counter

from megarouter.errors import QuotaViolation, ResourceExhausted
from megarouter.governance.budget_leases import (
    LeaseLost,
    LeaseStore,
    WindowKey,
    WindowState,
)
from megarouter.governance.budget_model import Budget
from megarouter.governance.budget_periods import Window

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


@dataclass(frozen=True, slots=True)
class SlicePolicy:
    """How big slices are and how long they live; see :class:`BudgetBook`."""

    lease_ttl: timedelta = timedelta(seconds=15)
    calls_per_slice: int = 32
    expected_replicas: int = 4
    retry_after: float = 0.1
    idle_grace: float = 0.02


@dataclass(eq=False)
class Slice:
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
    uses: int = 0  # reservations taken, to tell an idle slice from a busy one
    uses_at_tick: int = 0  # ``uses`` at the previous maintenance tick
    settles: int = 0  # settlements, to tell whether a refusal may be stale
    refused: tuple[float, int, int, WindowState] | None = None  # the last one
    alerted: bool = False
    retired: bool = False  # dropped by maintenance: callers take a new one

    @property
    def free(self) -> int:
        return self.held - self.reserved - self.used


class Slices:
    """Every slice this replica holds, keyed by budget window.

    Args:
        leases: the lease statements.
        replica_id: names this replica in lease rows.
        clock: the current time, aware.
        policy: slice sizes and lifetimes.
    """

    def __init__(
        self, leases: LeaseStore, replica_id: str, clock: Clock, policy: SlicePolicy
    ) -> None:
        self._leases = leases
        self.replica_id = replica_id
        self._clock = clock
        self._policy = policy
        self._ttl = policy.lease_ttl
        self._slots: dict[WindowKey, Slice] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._creating: set[str] = set()  # ids of leases being inserted

    def get(self, budget: Budget, window: Window) -> Slice:
        """The slice of a budget window, empty if this replica has none yet."""
        key = WindowKey(budget.org_id, budget.id, window.start)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = Slice(key, window, budget)
        else:
            slot.budget = budget  # the latest definition
        return slot

    async def observe(self, slots: list[Slice]) -> None:
        """Read the windows of slices that have never seen theirs."""
        unseen = [slot.key for slot in slots if slot.seen is None]
        if unseen:
            states = await self._leases.read_many(unseen)
            for slot in slots:
                slot.seen = slot.seen or states.get(slot.key)

    def forget(self, org_id: str) -> None:
        """Drop what was seen of an org's windows; its budgets changed."""
        for slot in self._slots.values():
            if slot.key.org_id == org_id:
                slot.seen = None

    def settle(self, slot: Slice, generation: int, worst: int, actual: int) -> None:
        """A call that reserved ``worst`` from the slice ended, costing ``actual``."""
        if slot.generation != generation:
            return  # its lease was written off as spent, this call included
        slot.reserved -= worst
        slot.used += actual
        slot.settles += 1
        if slot.tight and slot.reserved == 0:
            self._release_if_idle_soon(slot)

    def cancel(self, slot: Slice, generation: int, worst: int) -> None:
        """Undo a reservation whose call will not run."""
        if slot.generation == generation:
            slot.reserved -= worst
            if slot.tight and slot.reserved == 0:
                self._release_if_idle_soon(slot)

    async def maintain(self) -> None:
        """Renew leases, notice lost ones, write back spend, hand back idle slices.

        Also writes off other replicas' expired leases and rereads windows.
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
        states = await self._leases.read_many(list(self._slots))
        for key, slot in self._slots.items():
            slot.seen = states.get(key, slot.seen)

    async def release_all(self) -> None:
        """Hand back every slice; calls in flight count at their worst case."""
        # Let pending hand-backs finish: cancelling one mid-transaction could
        # leave its connection holding a lock.
        await asyncio.gather(*self._background, return_exceptions=True)
        for slot in list(self._slots.values()):
            async with slot.lock:
                try:
                    await self._release(slot, in_flight_spent=True)
                except Exception:  # the lease expires and is written off
                    logger.exception("could not hand back %s", slot.budget.name)
        self._slots.clear()

    async def _release_orphans(self, held: set[str]) -> None:
        """Hand back leases this replica holds but forgot (a grow whose caller
        was cancelled after the commit): no call ever reserved from them."""
        known = {slot.lease_id for slot in self._slots.values()} | self._creating
        for lease_id in held - known:
            with contextlib.suppress(LeaseLost):
                await self._leases.release_orphan(lease_id)

    async def take(self, budget: Budget, window: Window, worst: int) -> Slice | None:
        """Reserve ``worst`` from a budget window; None if the budget is gone."""
        while True:
            slot = self.get(budget, window)
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
                        return None
                slot.reserved += worst
                slot.uses += 1
                return slot

    async def _grow(self, slot: Slice, worst: int) -> bool:
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

    def _slice_size(self, slot: Slice, worst: int, need: int) -> int:
        """A full slice far from the limit; a shrinking share near it."""
        full = max(need, worst * self._policy.calls_per_slice)
        seen = slot.seen
        if seen is None or not self._is_tight(seen, worst):
            return full
        share = seen.unleased_micros // (2 * self._policy.expected_replicas)
        return min(full, max(need, share))

    def _is_tight(self, state: WindowState, worst: int) -> bool:
        """Near a limit that still matters (a soft budget past it no longer does)."""
        if not state.hard and state.unleased_micros <= 0:
            return False
        full = worst * self._policy.calls_per_slice
        return state.unleased_micros < 2 * self._policy.expected_replicas * full

    def _refuse_if_just_refused(self, slot: Slice, worst: int) -> None:
        """Refuse at once what the database refused a moment ago.

        Calls queued behind a refused one would each be refused again; until
        a call settles here or a retry interval passes, they do not ask the
        database again, so refused callers retrying cannot flood it.
        """
        if slot.refused is None or slot.free >= worst:
            return
        at, settles, refused_worst, state = slot.refused
        fresh = asyncio.get_running_loop().time() - at < self._policy.retry_after
        if fresh and settles == slot.settles and worst >= refused_worst:
            raise self._refusal(slot, state, worst)

    def _refuse_if_known_exhausted(self, slot: Slice, worst: int) -> None:
        """Refuse without a database read when nothing can have come back."""
        seen, budget = slot.seen, slot.budget
        if seen is None or slot.lease_id is not None or seen.leased_micros > 0:
            return
        # The budget's own limit, in case an update raised it since the read.
        seen = replace(seen, limit_micros=budget.limit_micros, hard=budget.hard)
        if seen.hard and seen.unleased_micros < worst:
            raise self._refusal(slot, seen, worst)

    def _refusal(
        self, slot: Slice, state: WindowState, worst: int
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
        retry_after = self._policy.retry_after if may_free else None
        return ResourceExhausted(
            f"budget {budget.name} is exhausted: {description}",
            [QuotaViolation(subject=budget.name, description=description)],
            retry_after=retry_after,
        )

    async def _alert_if_over(self, slot: Slice) -> None:
        """Raise a soft budget's alert, once per window across all replicas."""
        if slot.alerted or not over_soft_limit(slot):
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

    def _release_if_idle_soon(self, slot: Slice) -> None:
        """Hand a tight slice back unless another call takes from it at once.

        A caller making calls back to back keeps its slice; one that pauses
        lets other replicas have the money.
        """
        uses = slot.uses

        async def release_when_idle() -> None:
            await asyncio.sleep(self._policy.idle_grace)
            async with slot.lock:
                if slot.uses == uses and slot.reserved == 0:
                    await self._release(slot)

        task = asyncio.create_task(release_when_idle())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _idle(self, slot: Slice, now: datetime) -> bool:
        """A slice worth handing back: nothing in flight, and no call since the
        previous tick, or near the limit, or its window is over."""
        unused = slot.uses == slot.uses_at_tick
        slot.uses_at_tick = slot.uses
        if slot.reserved > 0:
            return False
        return unused or slot.tight or not slot.window.contains(now)

    async def _write_back(self, slot: Slice) -> None:
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

    async def _release(self, slot: Slice, *, in_flight_spent: bool = False) -> None:
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

    def _lose(self, slot: Slice) -> None:
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


def over_soft_limit(slot: Slice) -> bool:
    return (
        not slot.budget.hard and slot.seen is not None and slot.seen.unleased_micros < 0
    )


def _scope_text(budget: Budget) -> str:
    if not budget.scope_value:
        return f"org {budget.org_id}"
    return f"{budget.scope_kind} {budget.scope_value}"
