"""Exhaustive small cases: every interleaving of two sales and one payout, with every fault
mode at every request (not random seeds).

Rules:
- A case is (submission order, whether the outbox steps between submissions, whether the two
  sales carry the same wagers, fault mode, index of the request that gets the fault). Every
  combination is run; `cases()` lists them in a fixed order, so case N is always the same run.
- Each case is the real journal (SQLite file) and outbox against the simulator on a virtual
  clock, exactly as in `seeded_chaos`; after it settles, `seeded_chaos.check` (the books) must
  find nothing: ledger equals journal, nothing duplicated or lost, every done operation printed.
- The setup (one sale, made a winner, so that there is something to pay) runs without faults;
  request numbers count from the first request after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from kioskd.banklot.models import WagerRequest
from kioskd.clock import VirtualClock
from kioskd.proving.campaigns.seeded_chaos import (
    PASSWORD,
    CrashPlan,
    Kiosk,
    RunResult,
    check,
    policy_for,
    quiet_kioskd_logs,
    settle,
)
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.faults import MODES
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator

START = catalog.day_start(catalog.local_day(1729612800.0 + 86400)) + 10 * 3600
FAULT_AT = range(1, 7)  # the sends and the first probes of a case
ORDERS = tuple(itertools.permutations("ABP"))
GAPS = tuple(itertools.product((0, 1), repeat=2))  # outbox steps after the 1st and 2nd submit
FAULT_DELAY_S = 20.0  # delay / late commit: after the read timeout, inside the quiet period


@dataclass(frozen=True)
class Case:
    order: tuple[str, ...]
    gaps: tuple[int, ...]
    twins: bool
    mode: str | None  # None: no fault
    at: int

    def __str__(self) -> str:
        fault = f"{self.mode}@{self.at}" if self.mode else "no fault"
        return (
            f"order {''.join(self.order)} gaps {self.gaps} "
            f"{'same' if self.twins else 'different'} wagers, {fault}"
        )


def cases() -> list[Case]:
    out = []
    for order, gaps, twins in itertools.product(ORDERS, GAPS, (False, True)):
        out.append(Case(order, gaps, twins, None, 0))
        for mode, at in itertools.product(MODES, FAULT_AT):
            out.append(Case(order, gaps, twins, mode, at))
    return out


class FaultAt(SimTransport):
    """Arms one fault on whatever the `at`-th request (after the setup) asks for."""

    def __init__(self, sim: Simulator, mode: str | None, at: int) -> None:
        super().__init__(sim)
        self.mode, self.at, self.counting, self.n = mode, at, False, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.counting and not request.url.path.startswith("/_sim"):
            self.n += 1
            if self.mode is not None and self.n == self.at:
                self.sim.arm_fault(request.url.path, self.mode, delay_s=FAULT_DELAY_S)
        return await super().handle_async_request(request)


def _wagers(product_id: int, code_index: int, now: float) -> tuple[list[WagerRequest], float]:
    product = catalog.PRODUCTS_BY_ID[product_id]
    ev = catalog.open_event(product, now)
    code = catalog.inventory(product.game_id)[code_index][0]
    return [WagerRequest(product.min_bet, ev.id, product.game_id, code)], ev.closing_ts


async def run_case(case: Case, workdir: str, variant: str = "shipped") -> RunResult:
    clock = VirtualClock(START)
    sim = Simulator(seed=7, clock=clock, password=PASSWORD)
    path = os.path.join(workdir, "exhaustive.sqlite")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(path + suffix)
    kiosk = Kiosk(sim, clock, path, CrashPlan(), 0, policy_for(variant))
    transport = FaultAt(sim, case.mode, case.at)
    kiosk.transport = transport
    try:
        await kiosk.boot()
        assert kiosk.outbox is not None and kiosk.journal is not None
        wagers, closes = _wagers(1, 0, clock.now())
        sold = await kiosk.outbox.submit_create(wagers, closes)
        await kiosk.work(10)
        op = kiosk.journal.get(sold)
        assert op.result is not None and op.pin_number is not None and op.ticket_number
        ev = catalog.event(wagers[0].event_id)
        assert ev is not None
        sim.force_result(ev.id, wagers[0].wager)
        clock.set(ev.result_ts + 10)
        day = catalog.local_day(op.result["created_at"]).isoformat()
        a = _wagers(2, 1, clock.now())
        b = a if case.twins else _wagers(2, 2, clock.now())
        transport.counting = True

        async def submit(name: str) -> None:
            assert kiosk.outbox is not None
            if name == "P":
                kiosk.op_ids.append(
                    await kiosk.outbox.submit_pay(op.ticket_number or 0, op.pin_number or 0, day)
                )
            else:
                wagers, closes = a if name == "A" else b
                kiosk.op_ids.append(await kiosk.outbox.submit_create(wagers, closes))

        for i, name in enumerate(case.order):
            await submit(name)
            if i < len(case.gaps):
                await kiosk.work(case.gaps[i])
        await settle(kiosk)
        return check(kiosk, 0)
    finally:
        if kiosk.journal is not None:
            kiosk.journal.close()
        if kiosk.client is not None:
            await kiosk.client.aclose()


def run_cases(
    selected: list[Case] | None = None, variant: str = "shipped"
) -> Iterator[tuple[Case, RunResult]]:
    """Run the cases (all by default), yielding each with its result."""
    workdir = tempfile.mkdtemp(prefix="kioskd-exhaustive-")
    try:
        with quiet_kioskd_logs():
            for case in selected if selected is not None else cases():
                yield case, asyncio.run(run_case(case, workdir, variant))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
