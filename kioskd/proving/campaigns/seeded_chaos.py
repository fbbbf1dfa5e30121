"""Deterministic chaos campaign: the real journal and outbox against the simulator, with faults.

Rules:
- One run = one seed. Everything random comes from `random.Random(seed)`; time is a
  `VirtualClock` shared by the kiosk and the in-process simulator (`SimTransport`), so a failing
  seed replays exactly from its number.
- The journal is a real SQLite file (fresh per run, `synchronous=FULL`). A crash is a
  `SimulatedCrash` raised from the crash hook that the journal calls before and after every
  commit and that the outbox calls between an answer and its commit (and between a probe and its
  decision). After a crash every object of the kiosk is dropped (all memory lost); only the
  file survives, and the kiosk boots again through `Outbox.recover()`.
- Two clocks (the clock model, `kioskd.proving.clockmodel`): the simulator runs on the
  campaign's `VirtualClock` (the server's time, the truth); with `wall="skewed"` the kiosk sees
  a `KioskClock` over it whose wall time starts off by -3 days .. +1 day and steps (forward and
  back, seconds to days) as a scripted action and between outbox steps; monotonic time never
  steps. With `wall="true"` the kiosk shares the server's clock.
- Attribution (`attribution.py`): the simulator records which operation's request made each
  ticket, payment and cancellation; the books fail a done operation holding another's row
  (or another terminal's ticket) and a payout or cancel told as not done that its request did.
- Faults: every simulator fault mode of the world (`world="api"`: the API's own; `"field"`:
  also gateways, mismatched and replayed answers, 64-bit overflow, other terminals selling the
  same or other wagers, unreadable rows; half the field's accounts have another terminal's sale
  from before the start; the simulator never makes the one case no answer can decide,
  reconcile's ambiguity 5: a terminal's very first sale carrying our very wagers while ours is
  not on the server; a named test shows it) on the money endpoints and on `/last` and lookups, token
  expiry, outages (offline periods) during which events close, foreign tickets in `/last`.
- After the run the faults stop and the kiosk settles (virtual time moves on until nothing is
  due). Then the invariants are checked against the simulator's ledger:
  ledger == journal (each server sale/payment/cancel is journaled done with the same ticket
  number, or visibly unresolved; each done operation is on the server), zero duplicates, zero
  lost operations, every done operation printed at least once, reprints marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from kioskd import servertime as st
from kioskd.banklot.client import BanklotClient
from kioskd.banklot.models import WagerRequest
from kioskd.clock import ServerTimeClock, VirtualClock
from kioskd.config import outbox_policy
from kioskd.journal import states
from kioskd.journal.store import CREATE, Journal, Operation
from kioskd.outbox.outbox import Outbox, OutboxRefused
from kioskd.outbox.policy import Policy
from kioskd.proving import books
from kioskd.proving.campaigns.attribution import ObservedOutbox, attribute
from kioskd.proving.clockmodel import KioskClock, WallSteps
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.faults import FIELD_MODES, MODES
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator

PASSWORD = "banklot"
BASE_URL = "http://banklot.sim"
FAULT_ENDPOINTS = (
    "/user/ticket/create",
    "/user/ticket/create",
    "/user/ticket/pay",
    "/user/ticket/cancel",
    "/user/ticket/last",
    "/user/ticket",
    "/user/ticket/",
    "*",
)


class SimulatedCrash(BaseException):
    """The power was cut here (BaseException: no `except Exception` may swallow it)."""


class CrashPlan:
    """Counts crash points; raises SimulatedCrash at the chosen ones (by index or by name)."""

    def __init__(self, at: set[int] | None = None, names: dict[str, int] | None = None) -> None:
        self.at = set(at or ())
        self.names = dict(names or {})  # point name -> occurrence (1-based) at which to crash
        self.count = 0
        self.seen: Counter[str] = Counter()
        self.crashed: list[str] = []
        self.trace: list[str] = []
        self.enabled = True

    def __call__(self, point: str) -> None:
        if not self.enabled:
            return
        self.count += 1
        self.seen[point] += 1
        self.trace.append(point)
        if self.count in self.at or self.names.get(point) == self.seen[point]:
            self.crashed.append(point)
            raise SimulatedCrash(point)


@dataclass
class Violation:
    seed: int
    invariant: str
    detail: str
    history: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "invariant": self.invariant,
            "detail": self.detail,
            "history": self.history,
        }


@dataclass
class RunResult:
    seed: int
    violations: list[Violation]
    operations: int = 0
    crashes: int = 0
    faults: int = 0
    prints: int = 0
    in_doubt: int = 0  # times an operation went in doubt (coverage, not a failure)
    together: int = 0  # most operations in doubt at the same time (concurrency coverage)
    alarms: int = 0
    states: dict[str, int] = field(default_factory=dict)


@dataclass
class Printed:
    job_id: int
    op_id: int | None
    kind: str
    reprint: bool
    pending_at_boot: bool


# The kiosk's wall clock: "true" (the server's clock) or "skewed" (the clock model, what
# ships: money must not depend on the kiosk's wall clock).
WALLS = ("true", "skewed")
WALL_DEFAULT = "skewed"
# The faults: "api" (the API's own misbehaviour, `faults.MODES`) or "field" (also gateways,
# mismatched and replayed answers, 64-bit overflow, other terminals, unreadable rows).
WORLDS = ("api", "field")
# Field world: the share of runs whose account another terminal sells on from the start.
SHARED_SHARE = 0.5
WORLD_DEFAULT = "field"  # the proof runs in the field: the API's faults and the field's
SERVER_TIME_KEY = "server_time"  # as the daemon keeps it (kioskd.daemon.daemon)
SERVER_TIME_SAVE_S = 3600.0  # as the daemon (kioskd.daemon.daemon)
STEP_SHARE = 0.05  # seeded runs: chance of a wall-clock step before each outbox step


class Kiosk:
    """What a power cut destroys: journal connection, client, outbox (the file survives)."""

    def __init__(self, sim: Simulator, clock: VirtualClock, path: str, plan: CrashPlan,
                 seed: int, policy: Policy, wall: WallSteps | None = None) -> None:  # fmt: skip
        self.sim, self.sim_clock, self.path, self.plan = sim, clock, path, plan
        self.wall = wall
        self.world = WORLD_DEFAULT
        self.shared_from_start = False  # another terminal sold on the account before the boot
        # The kiosk's own clock: the server's time (wall="true") or the clock model's skewed,
        # stepping one; over it, as in the daemon, the server-time estimate decides money.
        self.wallclock: KioskClock = wall.clock if wall is not None else KioskClock(clock)
        self.servertime = st.ServerTime()
        self.clock = ServerTimeClock(self.wallclock, self.servertime)
        self._time_saved_mono: float | None = None
        self._save_pending = False
        self.made_by = attribute(sim)
        self.seed, self.policy = seed, policy
        self.boots = 0
        self.crashes = 0
        self.journal: Journal | None = None
        self.client: BanklotClient | None = None
        self.outbox: Outbox | None = None
        self.printed: list[Printed] = []
        self.pending_at_boot: set[int] = set()
        self.op_ids: list[int] = []
        self.last_sale: tuple[list[WagerRequest], float] | None = None  # the clerk's last play
        self.transport: httpx.AsyncBaseTransport | None = None  # None: a plain SimTransport

    async def boot(self) -> None:
        while True:
            try:
                self.boots += 1
                self.journal = Journal(self.path, crash_hook=self.plan)
                self.client = BanklotClient(
                    BASE_URL,
                    self.sim.email,
                    PASSWORD,
                    transport=self.transport or SimTransport(self.sim),
                    on_answer=self._on_answer,
                    monotonic=self.wallclock.monotonic,
                )
                self.outbox = ObservedOutbox(
                    self.journal,
                    self.client,
                    self.clock,
                    self.policy,
                    rng=random.Random(self.seed * 1000 + self.boots),
                    crash_hook=self.plan,
                )
                self._restore_server_time()
                await self.outbox.recover()
                await self.learn_server_time()
                self.pending_at_boot |= {j.id for j in self.journal.pending_print_jobs()}
                return
            except SimulatedCrash:
                await self.crash()

    # The daemon's server-time wiring (`Daemon._on_answer`, `_learn`, `_save_server_time`,
    # `_restore_server_time`, `_server_time_at_start`), in process: every answer's Date teaches
    # the estimate, a gateway's 502/503/504 does not; the estimate is saved in the journal when
    # first known and then every SERVER_TIME_SAVE_S, and restored at boot.

    def _on_answer(self, status: int, date: str | None, started: float, ended: float) -> None:
        if status in (502, 503, 504):
            return
        server = st.parse_http_date(date)
        if server is not None:
            self._learn(server, started, ended)

    def _learn(self, server: float, started: float, ended: float) -> None:
        was = self.servertime.known
        self.servertime.learn(server, started, ended, st.DATE_RESOLUTION_S)
        mono = self.wallclock.monotonic()
        if (
            not was
            or self._time_saved_mono is None
            or (mono - self._time_saved_mono >= SERVER_TIME_SAVE_S)
        ):
            self._time_saved_mono = mono
            self._save_pending = True

    def _save_server_time(self) -> None:
        if self.journal is None or not self._save_pending:
            return
        self._save_pending = False
        record = self.servertime.to_record(self.wallclock.boot_id(), self.wallclock.monotonic())
        if record is None:
            return
        # Outside the crash plan: its points stay those of money (a cut here would only lose
        # the estimate, which the daemon saves best effort), so seeds keep their crash points.
        enabled, self.plan.enabled = self.plan.enabled, False
        try:
            self.journal.save_catalog(SERVER_TIME_KEY, record, fetched_at=self.clock.now())
        finally:
            self.plan.enabled = enabled

    def _restore_server_time(self) -> None:
        assert self.journal is not None
        cached = self.journal.load_catalog(SERVER_TIME_KEY)
        if cached is not None and isinstance(cached[0], dict):
            self.servertime.restore(cached[0], self.wallclock.boot_id(), self.wallclock.monotonic())

    async def learn_server_time(self) -> None:
        """`/gaming/time` while the server's time is not known on this boot (the daemon: once
        at start, then every 30 s while unknown; here: at boot and before each step)."""
        if self.servertime.known or self.client is None:
            return
        from kioskd.banklot import errors

        started = self.wallclock.monotonic()
        with contextlib.suppress(errors.BanklotError):
            answer = await self.client.time()
            self._learn(answer.unix, started, self.wallclock.monotonic())

    async def crash(self) -> None:
        self.crashes += 1
        # A power cut: memory (the estimate) is lost, the kiosk boots again.
        self.wallclock.reboot()
        self.servertime = st.ServerTime()
        self.clock = ServerTimeClock(self.wallclock, self.servertime)
        self._time_saved_mono = None
        self._save_pending = False
        if self.journal is not None:
            self.journal.close()
        if self.client is not None:
            await self.client.aclose()
        self.journal = self.client = self.outbox = None

    async def guarded(self, action: Callable[[Kiosk], Any]) -> Any:
        """Run one kiosk action; a crash inside it loses memory and reboots the kiosk."""
        try:
            return await action(self)
        except SimulatedCrash:
            await self.crash()
            await self.boot()
            return None

    async def print_pending(self) -> None:
        """The fake printer: paper first, then `mark_printed` (a crash between = reprint)."""
        assert self.journal is not None
        for job in self.journal.pending_print_jobs():
            self.printed.append(
                Printed(job.id, job.op_id, job.kind, job.reprint, job.id in self.pending_at_boot)
            )
            self.plan("print:on_paper")
            self.journal.mark_printed(job.id, now=self.clock.now())

    async def tick(self) -> None:
        """Before an outbox step: the wall clock may step (the clock model); the daemon's
        server-time chores run (save the estimate, ask the time while it is unknown)."""
        if self.wall is not None:
            self.wall.maybe_step()
        self._save_server_time()
        await self.learn_server_time()

    async def work(self, steps: int) -> None:
        assert self.outbox is not None
        for _ in range(steps):
            await self.tick()
            did = await self.outbox.step()
            await self.print_pending()
            if not did:
                break


# ------------------------------------------------------------------------------ the script


def _start_time(rng: random.Random) -> float:
    day = catalog.DAY_ZERO.fromordinal(catalog.DAY_ZERO.toordinal() + 1700 + rng.randrange(60))
    return (
        catalog.day_start(day)
        + rng.choice((11.5, 12.5, 15.6, 18.7, 9.8)) * 3600
        + rng.randrange(1200)
    )


def _random_wagers(rng: random.Random, now: float) -> tuple[list[WagerRequest], float]:
    wagers = []
    closes = float("inf")
    for _ in range(rng.choice((1, 1, 2, 3))):
        product = rng.choice(catalog.PRODUCTS)
        ev = catalog.open_event(product, now)
        code = rng.choice(catalog.inventory(product.game_id))[0]
        steps = product.max_bet // product.amount_multiple
        lo = -(-product.min_bet // product.amount_multiple)
        amount = product.amount_multiple * rng.randint(lo, min(steps, lo + 9))
        wagers.append(WagerRequest(amount, ev.id, product.game_id, code))
        closes = min(closes, ev.closing_ts)
    return wagers, closes


async def _act(k: Kiosk, rng: random.Random, action: str) -> None:
    """One scripted action (the kiosk may crash anywhere inside it)."""
    sim, clock = k.sim, k.sim_clock  # the clerk's world runs on the server's time

    async def sell(k: Kiosk) -> None:
        if k.last_sale is not None and rng.random() < 0.25:
            wagers, closes = k.last_sale  # the same play again: a look-alike (holds)
        else:
            wagers, closes = _random_wagers(rng, clock.now())
        k.last_sale = (wagers, closes)
        assert k.outbox is not None
        k.op_ids.append(await k.outbox.submit_create(wagers, closes))

    def done_sales() -> list[Operation]:
        assert k.journal is not None
        return [
            op for op in k.journal.operations((states.DONE,))
            if op.kind == CREATE and op.ticket_number
        ]  # fmt: skip

    async def pay(k: Kiosk) -> None:
        sales = done_sales()
        if not sales:
            return
        op = rng.choice(sales)
        assert op.result is not None and op.pin_number is not None
        w = op.result["wagers"][0]
        ev = catalog.event(w["event_id"])
        assert ev is not None
        if rng.random() < 0.8:
            sim.force_result(ev.id, w["wager"])
        if clock.now() < ev.result_ts + 1:
            clock.set(ev.result_ts + 1 + rng.randrange(60))
        day = catalog.local_day(op.result["created_at"]).isoformat()
        assert k.outbox is not None
        k.op_ids.append(await k.outbox.submit_pay(op.ticket_number or 0, op.pin_number, day))

    async def cancel(k: Kiosk) -> None:
        sales = done_sales()
        if not sales:
            return
        op = sales[-1] if rng.random() < 0.8 else rng.choice(sales)
        assert op.result is not None and k.outbox is not None
        k.op_ids.append(
            await k.outbox.submit_cancel(
                op.ticket_number or 0, op.result["created_at"], sim.seconds_to_cancel
            )
        )

    async def work(k: Kiosk) -> None:
        await k.work(rng.randint(1, 6))

    def arm_fault(endpoint: str) -> None:
        mode = rng.choice(FAULT_MODES if k.world == "field" else MODES)
        # A late commit must land inside the quiet period: that is the premise it rests on.
        delays = [d for d in (1, 10, 20, 45) if d < k.policy.quiet_period_s - 1]
        count, delay = rng.choice((1, 1, 2)), rng.choice(delays)
        if k.world != "field":
            sim.arm_fault(endpoint, mode, count=count, delay_s=delay)
            return
        # What else happens on the account meanwhile: another terminal sells the same wagers
        # or others just before this call is handled; the ticket it makes cannot be looked up.
        foreign = rng.choice((None, None, None, None, "same", "other"))
        unreadable = rng.random() < 0.08
        sim.arm_fault(endpoint, mode, count=count, delay_s=delay, foreign=foreign,
                      unreadable=unreadable)  # fmt: skip

    async def burst(k: Kiosk) -> None:
        """Several operations in the air at once: submitted back to back (each born `sending`
        unless held), some of them faulted, before the outbox sends any."""
        for _ in range(rng.randint(2, 4)):
            kind = rng.choice(("sell", "sell", "sell", "pay", "cancel"))
            if rng.random() < 0.5:
                arm_fault(rng.choice(BURST_FAULT_ENDPOINTS))
            await _refusable({"sell": sell, "pay": pay, "cancel": cancel}[kind])(k)

    if action == "burst":
        await k.guarded(burst)
    elif action == "sell":
        await k.guarded(_refusable(sell))
    elif action == "pay":
        await k.guarded(_refusable(pay))
    elif action == "cancel":
        await k.guarded(_refusable(cancel))
    elif action == "fault":
        arm_fault(rng.choice(FAULT_ENDPOINTS))
    elif action == "offline":
        sim.set_offline(True, for_s=rng.choice((5, 30, 120, 400, 1800)))
    elif action == "foreign":
        sim.foreign_ticket()
    elif action == "advance":
        clock.advance(rng.choice((1, 5, 20, 70, 200, 700)))
    elif action == "step" and k.wall is not None:
        k.wall.step()
    await k.guarded(work)


def _refusable(fn: Callable[[Kiosk], Any]) -> Callable[[Kiosk], Any]:
    async def wrapped(k: Kiosk) -> None:
        with contextlib.suppress(OutboxRefused):
            await fn(k)

    return wrapped


ACTIONS = (
    ("sell", 6), ("pay", 2), ("cancel", 2), ("fault", 5), ("offline", 1),
    ("foreign", 1), ("advance", 3), ("burst", 4),
)  # fmt: skip
# Every fault the simulator knows: the API's own (`MODES`) and the field's (`FIELD_MODES`:
# gateways answering 502/504 with a JSON body while the upstream commits later, answers with
# other wagers, a replayed answer, numbers beyond 64 bits).
FAULT_MODES = MODES + FIELD_MODES
BURST_FAULT_ENDPOINTS = (
    "/user/ticket/create", "/user/ticket/create", "/user/ticket/pay", "/user/ticket/cancel",
    "/user/ticket/last", "/user/ticket/",
)  # fmt: skip

# The policies a run proves: what ships, and a short-timer variant (every timer near its
# floor, so deadlines, quiet periods and probes race each other far more often).
VARIANTS = ("shipped", "short")


def policy_for(variant: str) -> Policy:
    if variant == "short":
        return outbox_policy(
            time_zone=catalog.TIME_ZONE,
            create_max_age_s=40.0,
            pay_max_age_s=90.0,
            quiet_period_s=16.0,  # just over the client's 15 s read timeout
            not_applied_probes=2,
            probe_interval_s=2.0,
        )
    if variant != "shipped":
        raise ValueError(f"unknown policy variant {variant!r} (known: {', '.join(VARIANTS)})")
    return outbox_policy(time_zone=catalog.TIME_ZONE)


def script_for(rng: random.Random, wall: str = WALL_DEFAULT) -> list[str]:
    table = (*ACTIONS, ("step", 3)) if wall == "skewed" else ACTIONS
    names = [a for a, _ in table]
    weights = [w for _, w in table]
    return rng.choices(names, weights, k=rng.randint(4, 14))


# ------------------------------------------------------------------------------ one run


async def run_seed(
    seed: int,
    workdir: str | None = None,
    *,
    plan: CrashPlan | None = None,
    script: list[str] | None = None,
    policy: Policy | None = None,
    variant: str = "shipped",
    wall: str = WALL_DEFAULT,
    world: str = WORLD_DEFAULT,
) -> RunResult:
    if wall not in WALLS:
        raise ValueError(f"unknown wall clock {wall!r} (known: {', '.join(WALLS)})")
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r} (known: {', '.join(WORLDS)})")
    rng = random.Random(seed)
    clock = VirtualClock(_start_time(rng))
    sim = Simulator(seed=seed, clock=clock, password=PASSWORD)
    steps = (
        WallSteps(clock, random.Random(seed * 7919 + 1), step_share=STEP_SHARE)
        if wall == "skewed"
        else None
    )
    if plan is None:
        n_crashes = rng.choice((0, 1, 1, 2))
        plan = CrashPlan({rng.randint(1, 45) for _ in range(n_crashes)})
    if script is None:
        script = script_for(rng, wall)
    if policy is None:
        policy = policy_for(variant)
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="kioskd-chaos-")
    path = os.path.join(workdir, f"journal-{seed}.sqlite")
    kiosk = Kiosk(sim, clock, path, plan, seed, policy, steps)
    kiosk.world = world
    faults = 0
    if world == "field" and random.Random(seed * 7919 + 2).random() < SHARED_SHARE:
        sim.foreign_ticket()  # an account another terminal sells on: it sold before we start
        kiosk.shared_from_start = True
    try:
        await kiosk.boot()
        for action in script:
            faults += action == "fault"
            await _act(kiosk, rng, action)
        await settle(kiosk)
        plan.enabled = False
        result = check(kiosk, seed)
        result.faults = faults
        return result
    finally:
        if kiosk.journal is not None:
            kiosk.journal.close()
        if kiosk.client is not None:
            await kiosk.client.aclose()
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(path + suffix)


async def settle(k: Kiosk, max_rounds: int = 400) -> None:
    """Faults stop; time moves on until nothing is due (crashes may still happen)."""
    k.sim.clear_faults()
    k.sim.set_offline(False)
    for _ in range(max_rounds):

        async def round_(k: Kiosk) -> bool:
            assert k.outbox is not None
            await k.tick()
            did = await k.outbox.step()
            await k.print_pending()
            if did:
                return True
            # How long until something is due: the outbox's next due instant is on the kiosk's
            # clock, a handler still running at the server on the server's.
            waits = []
            due = k.outbox.next_due()
            if due is not None:
                waits.append(due - k.clock.now())
            late = k.sim.late_pending_until()
            if late is not None:
                waits.append(late - k.sim_clock.now())
            if not k.servertime.known:
                waits.append(30.0)  # the daemon asks /gaming/time again every 30 s
            if not waits:
                return False
            k.sim_clock.advance(max(min(waits), 0.001))
            k.sim.run_late()
            return True

        if await k.guarded(round_) is False:
            return


# ------------------------------------------------------------------------------ invariants


def _history(journal: Journal, op: Operation) -> list[str]:
    return [
        f"{h.at:.0f} {h.kind} {h.event or ''} {h.from_state or ''}->{h.to_state or ''} "
        f"{ {k: v for k, v in h.detail.items() if k != 'deadline'} }"
        for h in journal.history(op.id)
    ]


def _most_in_doubt_together(journal: Journal) -> int:
    """The largest number of operations that were in doubt (or being reconciled) at once."""
    now: dict[int, str] = {}
    most = 0
    for h in journal.history():
        if h.op_id is None or h.to_state is None:
            continue
        now[h.op_id] = h.to_state
        most = max(most, sum(1 for st in now.values() if st in books.UNRESOLVED))
    return most


def check(k: Kiosk, seed: int) -> RunResult:
    journal = Journal(k.path)
    try:
        return _check(k, journal, seed)
    finally:
        journal.close()


def _check(k: Kiosk, journal: Journal, seed: int) -> RunResult:
    ops, jobs, _ = books.read_journal(k.path)
    found = books.check(
        k.sim.ledger(),
        ops,
        jobs,
        accepted=k.op_ids,
        on_paper={p.job_id for p in k.printed},
        made_by=k.made_by,
    )
    # Paper: a slip printed again, or after a restart, says it is a copy.
    printed_jobs: dict[int, list[Printed]] = {}
    for p in k.printed:
        printed_jobs.setdefault(p.job_id, []).append(p)
    for job_id, prints in printed_jobs.items():
        for p in prints[1:]:
            if not p.reprint:
                found.append(books.Violation(
                    "unmarked-reprint", f"print job {job_id} printed again without reprint mark"
                ))  # fmt: skip
        for p in prints:
            if p.pending_at_boot and not p.reprint:
                found.append(books.Violation(
                    "unmarked-reprint", f"print job {job_id} survived a restart, not marked"
                ))  # fmt: skip
    by_id = {op.id: op for op in journal.operations()}
    out = [
        Violation(seed, v.invariant, v.detail, _history(journal, by_id[v.op_id]))
        if v.op_id in by_id
        else Violation(seed, v.invariant, v.detail)
        for v in found
    ]
    return RunResult(
        seed,
        out,
        operations=len(ops),
        crashes=k.crashes,
        prints=len(k.printed),
        in_doubt=sum(1 for h in journal.history() if h.to_state == states.IN_DOUBT),
        together=_most_in_doubt_together(journal),
        alarms=len(journal.history(kind="alarm")),
        states=journal.counts(),
    )


# ------------------------------------------------------------------------------ campaign


@contextlib.contextmanager
def quiet_kioskd_logs() -> Iterator[None]:
    """Silence kioskd's loggers for the campaign's thousands of simulated faults, and give the
    level back afterwards (a process-wide change would silence whoever runs next)."""
    logger = logging.getLogger("kioskd")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def run_one(
    seed: int,
    workdir: str | None = None,
    variant: str = "shipped",
    wall: str = WALL_DEFAULT,
    world: str = WORLD_DEFAULT,
) -> RunResult:
    """One seed, synchronously (each run has its own event loop: nothing leaks between runs)."""
    with quiet_kioskd_logs():
        return asyncio.run(run_seed(seed, workdir, variant=variant, wall=wall, world=world))


def run_range(
    start: int,
    count: int,
    workdir: str | None = None,
    variant: str = "shipped",
    wall: str = WALL_DEFAULT,
    world: str = WORLD_DEFAULT,
) -> list[RunResult]:
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="kioskd-chaos-")
    try:
        return [
            run_one(seed, workdir, variant, wall, world) for seed in range(start, start + count)
        ]
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------ named scenarios

Action = Callable[[Kiosk], Any]


async def run_scenario(
    actions: list[Action],
    workdir: str,
    *,
    plan: CrashPlan,
    seed: int = 0,
    start: float | None = None,
    policy: Policy | None = None,
) -> RunResult:
    """Run hand-written actions (each may crash), then settle and check the invariants.

    Used by the named crash-point tests: `plan` says where the power is cut."""
    clock = VirtualClock(start if start is not None else _start_time(random.Random(seed)))
    sim = Simulator(seed=seed, clock=clock, password=PASSWORD)
    policy = policy or outbox_policy(time_zone=catalog.TIME_ZONE)
    path = os.path.join(workdir, f"scenario-{seed}-{plan.count}-{len(plan.at)}.sqlite")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(path + suffix)
    kiosk = Kiosk(sim, clock, path, plan, seed, policy)
    try:
        await kiosk.boot()
        for action in actions:
            await kiosk.guarded(action)
            await kiosk.guarded(lambda k: k.work(50))
        await settle(kiosk)
        plan.enabled = False
        return check(kiosk, seed)
    finally:
        if kiosk.journal is not None:
            kiosk.journal.close()
        if kiosk.client is not None:
            await kiosk.client.aclose()
