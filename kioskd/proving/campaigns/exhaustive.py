"""Exhaustive small cases: every interleaving of two sales and one payout, with every fault
mode at every request, once or twice in a row (not random seeds).

Rules:
- A case is (submission order, whether the outbox steps between submissions, whether the two
  sales carry the same wagers, fault, index of the request that gets the fault, and -- for
  look-alike sales -- whether the next request to the same endpoint gets it too). Two in a row
  is what puts two look-alike sales in doubt at once, the world the same-fingerprint hold exists
  for. The faults are every mode of the simulator (the API's and the field's: gateway 502/504
  with a JSON body while the upstream commits later, other wagers, a replayed answer, numbers
  beyond 64 bits) and a dropped answer while another terminal sells the same wagers, or other
  ones, or the ticket made cannot be looked up (`world="field"`; `"api"`: the API's own
  modes only). A delayed or late commit lands at a share of the quiet period that cycles with
  the case (after the read timeout, before and after the probes, just inside the quiet
  period). Every combination is run; `cases()` lists them in a fixed order, so case N is
  always the same run.
- Each case is the real journal (SQLite file) and outbox against the simulator on a virtual
  clock, exactly as in `seeded_chaos`; after it settles, `seeded_chaos.check` (the books) must
  find nothing: ledger equals journal, nothing duplicated or lost, every done operation printed.
- The clock model (`wall="skewed"`): the kiosk's wall clock starts off by an offset drawn from
  the case's number (-3 days .. +1 day) and steps (forward or back, seconds to days) before
  every outbox step, the setup's included; the simulator keeps the server's time.
- The setup (one sale, made a winner, so that there is something to pay) runs without faults;
  request numbers count from the first request after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from kioskd.banklot.models import WagerRequest
from kioskd.clock import VirtualClock
from kioskd.journal import states
from kioskd.outbox.outbox import OutboxRefused
from kioskd.proving.campaigns.seeded_chaos import (
    PASSWORD,
    WALL_DEFAULT,
    WORLD_DEFAULT,
    CrashPlan,
    Kiosk,
    RunResult,
    Violation,
    check,
    policy_for,
    quiet_kioskd_logs,
    settle,
)
from kioskd.proving.clockmodel import WallSteps
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.faults import APPLIED_MODES, FIELD_MODES, MODES
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator

START = catalog.day_start(catalog.local_day(1729612800.0 + 86400)) + 10 * 3600
FAULT_AT = range(1, 7)  # the sends and the first probes of a case
ORDERS = tuple(itertools.permutations("ABP"))
GAPS = tuple(itertools.product((0, 1), repeat=2))  # outbox steps after the 1st and 2nd submit
# Delay / late commit, as shares of the quiet period (shipped 60 s: 18, 30, 45, 54 s): all
# after the read timeout and inside the quiet period, some after the probes' "not found".
FAULT_DELAY_SHARES = (0.3, 0.5, 0.75, 0.9)
REPEATS = (1, 2)
# A fault: (mode, another terminal sells "same"/"other" wagers meanwhile, ticket unreadable).
API_FAULTS: tuple[tuple[str, str | None, bool], ...] = tuple((m, None, False) for m in MODES)
FIELD_FAULTS: tuple[tuple[str, str | None, bool], ...] = (
    *API_FAULTS,
    *((m, None, False) for m in FIELD_MODES),
    ("commit_then_drop", "same", False),
    ("commit_then_drop", "other", False),
    ("commit_then_drop", None, True),
    ("drop_before_commit", "same", False),
)


@dataclass(frozen=True)
class Case:
    order: tuple[str, ...]
    gaps: tuple[int, ...]
    twins: bool
    mode: str | None  # None: no fault
    at: int
    repeat: int = 1  # how many requests in a row to the same endpoint get the fault
    delay_share: float = FAULT_DELAY_SHARES[0]
    foreign: str | None = None
    unreadable: bool = False

    def __str__(self) -> str:
        flags = (f" +{self.foreign} terminal" if self.foreign else "") + (
            " +unreadable" if self.unreadable else ""
        )
        fault = (
            f"{self.mode}{flags}@{self.at}x{self.repeat} (delay {self.delay_share:g} of quiet)"
            if self.mode
            else "no fault"
        )
        return (
            f"order {''.join(self.order)} gaps {self.gaps} "
            f"{'same' if self.twins else 'different'} wagers, {fault}"
        )


def cases(world: str = WORLD_DEFAULT) -> list[Case]:
    """Every case of the world ("api": the API's own faults; "field": also the field's)."""
    faults = FIELD_FAULTS if world == "field" else API_FAULTS
    out = []
    for order, gaps, twins in itertools.product(ORDERS, GAPS, (False, True)):
        out.append(Case(order, gaps, twins, None, 0))
        repeats = REPEATS if twins else REPEATS[:1]
        for (mode, foreign, unreadable), at, repeat in itertools.product(faults, FAULT_AT, repeats):
            share = FAULT_DELAY_SHARES[len(out) % len(FAULT_DELAY_SHARES)]
            out.append(Case(order, gaps, twins, mode, at, repeat, share, foreign, unreadable))
    return out


class FaultAt(SimTransport):
    """Arms one fault on whatever the `at`-th request (after the setup) asks for."""

    def __init__(self, sim: Simulator, case: Case, delay_s: float) -> None:
        super().__init__(sim)
        self.mode, self.at, self.counting, self.n = case.mode, case.at, False, 0
        self.case, self.delay_s = case, delay_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.counting and not request.url.path.startswith("/_sim"):
            self.n += 1
            if self.mode is not None and self.n == self.at:
                self.sim.arm_fault(
                    request.url.path,
                    self.mode,
                    count=self.case.repeat,
                    delay_s=self.delay_s,
                    foreign=self.case.foreign,
                    unreadable=self.case.unreadable,
                )
        return await super().handle_async_request(request)


def _wagers(product_id: int, code_index: int, now: float) -> tuple[list[WagerRequest], float]:
    product = catalog.PRODUCTS_BY_ID[product_id]
    ev = catalog.open_event(product, now)
    code = catalog.inventory(product.game_id)[code_index][0]
    return [WagerRequest(product.min_bet, ev.id, product.game_id, code)], ev.closing_ts


async def run_case(
    case: Case, workdir: str, variant: str = "shipped", wall: str = WALL_DEFAULT, number: int = 0
) -> RunResult:
    clock = VirtualClock(START)
    sim = Simulator(seed=7, clock=clock, password=PASSWORD)
    steps = WallSteps(clock, random.Random(number), step_share=1.0) if wall == "skewed" else None
    path = os.path.join(workdir, "exhaustive.sqlite")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(path + suffix)
    kiosk = Kiosk(sim, clock, path, CrashPlan(), 0, policy_for(variant), steps)
    policy = kiosk.policy
    transport = FaultAt(sim, case, round(case.delay_share * policy.quiet_period_s, 1))
    kiosk.transport = transport
    try:
        if case.foreign == "same" and case.mode not in APPLIED_MODES:
            # Ours never reaches the server: the terminal that sells our very wagers meanwhile
            # has sold on the account before (its very first sale being ours to the letter
            # while ours is not there is ambiguity 5's remaining risk, a named test).
            sim.foreign_ticket()
        await kiosk.boot()
        assert kiosk.outbox is not None and kiosk.journal is not None
        wagers, closes = _wagers(1, 0, clock.now())
        try:
            sold = await kiosk.outbox.submit_create(wagers, closes)
        except OutboxRefused as exc:
            return RunResult(0, [Violation(0, "valid-operation-refused", f"setup sale: {exc}")])
        await kiosk.work(10)
        if kiosk.journal.get(sold).state != states.DONE:
            await settle(kiosk)
        op = kiosk.journal.get(sold)
        if op.result is None or op.pin_number is None or not op.ticket_number:
            # The product could not even make the fault-free setup sale: a failure, not a crash.
            return RunResult(0, [Violation(0, "setup-sale-not-done", f"setup sale {op.state}")])
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

        refused: list[Violation] = []
        for i, name in enumerate(case.order):
            try:
                await submit(name)
            except OutboxRefused as exc:
                # Every submission of a case is valid at the server (open draw, in the cancel
                # and payout windows): a refusal is the kiosk's own clock misleading it.
                refused.append(Violation(0, "valid-operation-refused", f"{name}: {exc}"))
            if i < len(case.gaps):
                await kiosk.work(case.gaps[i])
        await settle(kiosk)
        result = check(kiosk, 0)
        result.violations[:0] = refused
        return result
    finally:
        if kiosk.journal is not None:
            kiosk.journal.close()
        if kiosk.client is not None:
            await kiosk.client.aclose()


def run_cases(
    selected: list[Case] | None = None,
    variant: str = "shipped",
    wall: str = WALL_DEFAULT,
    world: str = WORLD_DEFAULT,
) -> Iterator[tuple[Case, RunResult]]:
    """Run the cases (all of `world` by default), yielding each with its result. A case's
    clock offset and steps are drawn from its number in `cases("field")`, so a sample (and the
    same case in either world) replays the same run."""
    workdir = tempfile.mkdtemp(prefix="kioskd-exhaustive-")
    numbers = {c: i for i, c in enumerate(cases("field"))}
    try:
        with quiet_kioskd_logs():
            for case in selected if selected is not None else cases(world):
                yield (
                    case,
                    asyncio.run(run_case(case, workdir, variant, wall, numbers.get(case, 0))),
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
