"""The real-process crash campaign: `kill -9` the real `kioskd run` at random moments.

A `VirtualKiosk` runs the daemon against the Banklot simulator over loopback. A seeded RNG
types sales and cancellations on the keypad FIFO, scans winners' barcodes in a final pay phase,
arms simulator faults (commit then drop, commit then 504, fail before commit, delay) and picks
the kill moments (right after Enter, while a delayed request is in flight, during printing, when
idle). After every kill the daemon is restarted and the campaign goes on. At the end the faults
are cleared, the daemon settles and is stopped cleanly, and `check()` compares the books.

Rules:
- The books are the simulator's ledger (what the server holds), the journal (what the daemon
  wrote) and the bytes the loopback printer received (what reached paper). Nothing else.
- Every typed sale has a unique wager signature, so a server ticket maps back to the one sale
  the clerk typed: two tickets for one signature is a duplicate.
- The simulator clock is real time and only moves forward in the pay phase, after every sale
  and cancellation has settled (winners need closed draws).
- `check()` is pure (ledger, operations, print jobs, printed bytes in; violations out) so that it
  can be tested on its own; the campaign is I/O around it.

Timers: `policy="shipped"` (the command line's default) writes the daemon config with the
shipped defaults of every timer (API timeouts, `[offline]`, `[reconcile]`, printer timeout),
so the campaign proves what a shop runs; an operation in doubt after a kill then waits out the
60 s quiet period. `policy="short"` is the harness's short-timer variant (4 s quiet period,
2 s read timeout): the same proof in seconds, what the tests use.

Wall clock (`wall="stepping"`, `--wall stepping`): the daemon runs under libfaketime
(`kioskd.proving.faketime`): its wall clock starts off by -3 days .. +1 day (a Raspberry Pi
booted with the time of its last shutdown) and steps, forward and back by seconds to days, at
every restart (the boot time) and during every cycle while operations are in the air (NTP),
its monotonic and boot-time clocks untouched. The simulator's clock is the real time. The
report counts the steps (`wall_steps`) and keeps the offsets (`wall_offsets`).

Run: `python -m kioskd.proving.campaigns.kill9 --kills 20 [--seed S] [--policy short] [--json]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kioskd.proving.books import check as check_books

WALLS = ("true", "stepping")  # the daemon's wall clock: the real one, or libfaketime's
UNSETTLED = ("queued", "sending", "in_doubt", "reconciling")
FAULT_MODES = ("commit_then_drop", "commit_then_504", "fail_before_commit", "delay")
ENDPOINT = {
    "sale": "/user/ticket/create",
    "cancel": "/user/ticket/cancel",
    "pay": "/user/ticket/pay",
}
# How the campaign picks the moment to kill, and how often.
KILL_MOMENTS = (
    ("enter", 3),  # right after the Enter that sends (keys may not even be read yet)
    ("inflight", 3),  # a delayed request is on the wire
    ("random", 3),  # anywhere in the next 1.5 s
    ("printing", 1),  # the operation is done: its slip is being printed or marked
    ("idle", 1),  # nothing going on: recovery of a quiet daemon
)
SLIP_START = b"\x1b@\x1bt"  # INIT + code page: the first bytes of every slip kioskd prints
COPY_MARKS = (b"*** COPIA ***", b"*** COPY ***")
LUCKY = "777"  # product 2 code many sales share (different amounts), forced as a result


Signature = tuple[tuple[int, str, int], ...]


def signature(wagers: Iterable[dict[str, Any]]) -> Signature:
    """(product, wager, amount) per wager: what identifies one typed sale."""
    from kioskd.proving.sim import games as catalog

    out = []
    for w in wagers:
        ev = catalog.event(int(w["event_id"]))
        product = ev.product.id if ev is not None else -int(w.get("game_id", 0))
        out.append((product, str(w["wager"]), int(w["amount"])))
    return tuple(out)


# ============================================================================ the check


@dataclass
class Books:
    """What the check reads; plain data so that tests can build it by hand."""

    ledger: dict[str, Any]
    operations: list[dict[str, Any]]
    print_jobs: list[dict[str, Any]]
    printed: bytes = b""
    intents: set[Signature] = field(default_factory=set)
    check_paper: bool = True


def paper_slips(printed: bytes) -> list[tuple[bytes, bool, bool]]:
    """(slip bytes, marked as a copy, complete with a cut) for every slip on the paper."""
    out = []
    for chunk in printed.split(SLIP_START)[1:]:
        out.append((chunk, any(m in chunk for m in COPY_MARKS), b"\x1dV" in chunk))
    return out


def check(books: Books) -> list[str]:
    """Every violation of 'the ledger equals the journal and every sale was printed'.

    The network is healthy long before the end, so nothing may stay unresolved: every server
    row needs a done operation. Then the paper: each sold ticket on it, once as an original."""
    from kioskd.proving.sim import games as catalog

    found = check_books(
        books.ledger,
        books.operations,
        books.print_jobs,
        unresolved_covers=False,
        intents=books.intents,
        sale_key=signature,
    )
    v = [str(x) for x in found]
    if not books.check_paper:
        return v
    by_number = {int(t["ticket_number"]): t for t in books.ledger["tickets"]}
    slips = paper_slips(books.printed)
    for o in books.operations:
        t = by_number.get(o["ticket_number"] or 0)
        if o["kind"] != "create" or o["state"] != "done" or t is None:
            continue
        n = t["ticket_number"]
        data = _barcode(t, catalog)
        mine = [(copy, cut) for chunk, copy, cut in slips if data.encode() in chunk]
        complete = [copy for copy, cut in mine if cut]
        if not complete:
            v.append(f"ticket {n}: no complete slip on paper")
        if sum(1 for copy in complete if not copy) > 1:
            v.append(f"ticket {n}: printed twice as an original (reprint not marked)")
        jobs = [j for j in books.print_jobs if j["op_id"] == o["id"] and j["kind"] == "ticket"]
        if len(complete) > 1 and not any(j["reprint"] for j in jobs):
            v.append(f"ticket {n}: {len(complete)} slips but no job marked as a reprint")
    return v


def _barcode(t: dict[str, Any], catalog: Any) -> str:
    from kioskd.counter.scan import barcode_data

    return barcode_data(
        int(t["ticket_number"]), int(t["pin_number"]), catalog.local_day(t["created_at"])
    )


# ============================================================================ the campaign


@dataclass
class Report:
    kills: int = 0
    operations: int = 0
    sales_typed: int = 0
    cancels_typed: int = 0
    pays_scanned: int = 0
    faults_armed: int = 0
    tickets: int = 0
    paid: int = 0
    canceled: int = 0
    states: dict[str, int] = field(default_factory=dict)
    reprints: int = 0
    moments: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    policy: str = "shipped"
    clean_stop: int | None = None
    violations: list[str] = field(default_factory=list)
    workdir: str = ""
    wall: str = "true"
    wall_steps: int = 0
    wall_offsets: list[float] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.kills} kills, {self.operations} operations, {len(self.violations)} violations"
            f" ({self.policy} timers"
            + (f", {self.wall_steps} wall-clock steps" if self.wall != "true" else "")
            + ")"
        )


class Campaign:
    """One campaign over one virtual kiosk; `run()` returns the `Report`."""

    def __init__(
        self,
        workdir: str | Path,
        kills: int,
        seed: int = 0,
        *,
        pay_share: float = 0.2,
        settle_s: float | None = None,
        max_delay_s: float = 1.5,
        log: Callable[[str], None] | None = None,
        policy: str = "shipped",
        wall: str = "true",
    ) -> None:
        from kioskd.proving.harness import TIMERS, settle_bound_s

        if wall not in WALLS:
            raise ValueError(f"wall must be one of {WALLS}, not {wall!r}")
        self.wall = wall
        self.faketime: Any = None

        if policy not in TIMERS:
            raise ValueError(f"policy must be one of {TIMERS}, not {policy!r}")
        self.policy = policy
        self.workdir = Path(workdir)
        self.kills_wanted = kills
        self.seed = seed
        self.rng = random.Random(seed)
        self.pay_kills = int(kills * pay_share) if kills >= 5 else 0
        # Long enough for the slowest "not applied" of the timers in use to be decided.
        self.settle_s = settle_s if settle_s is not None else max(60.0, settle_bound_s(policy))
        # A delayed request commits on the server after the delay. With short timers the
        # daemon reconciles after a 4 s quiet period: delays beyond it make duplicates the
        # daemon cannot avoid (see bench/crash_campaign.md), so they are opt-in.
        self.max_delay_s = max_delay_s
        self.log = log or (lambda _msg: None)
        self.report = Report(workdir=str(self.workdir), policy=policy, wall=wall)
        self.intents: set[Signature] = set()
        self.k: Any = None
        self._delay_next = False

    # ----------------------------------------------------------------- driving

    def run(self) -> Report:
        from kioskd.proving.harness import VirtualKiosk

        t0 = time.monotonic()
        with VirtualKiosk(
            self.workdir, seed=self.seed, preview=False, log_level="info", timers=self.policy
        ) as k:
            self.k = k
            self._start_daemon()
            k.wait_catalog()
            sale_kills = self.kills_wanted - self.pay_kills
            while self.report.kills < sale_kills:
                self._cycle(self._sales_action)
            self._settle()
            winners = self._make_winners()
            self.log(f"pay phase: {len(winners)} winners")
            while self.report.kills < self.kills_wanted:
                self._cycle(lambda: self._pay_action(winners))
            self._settle()
            self.report.clean_stop = k.stop_daemon()
            self._finish(time.monotonic() - t0)
        return self.report

    def _start_daemon(self, boot: bool = False) -> None:
        """Start the daemon (under the stepping wall clock when asked); `boot`: a restart, at
        which a kiosk without a real-time clock comes back with a wrong time."""
        if self.wall == "true":
            self.k.start_daemon()
            return
        from kioskd.proving import clockmodel
        from kioskd.proving.faketime import FaketimeWall

        if self.faketime is None:
            self.faketime = FaketimeWall(
                self.workdir / "faketime.offset", clockmodel.initial_offset(self.rng)
            )
        elif boot:
            self._step_wall()
        self.report.wall_offsets.append(self.faketime.offset_s)
        self.k.start_daemon(env=self.faketime.env())

    def _step_wall(self) -> None:
        """One step of the daemon's wall clock (the model's sizes, kept in its range)."""
        from kioskd.proving import clockmodel

        size = self.rng.choice(clockmodel.STEP_SIZES)
        delta = size if self.rng.random() < 0.5 else -size
        target = self.faketime.offset_s + delta
        if not clockmodel.MIN_OFFSET_S <= target <= clockmodel.MAX_OFFSET_S:
            target = self.faketime.offset_s - delta
        self.faketime.set(target)
        self.report.wall_steps = self.faketime.steps
        self.report.wall_offsets.append(self.faketime.offset_s)

    def _cycle(self, action: Callable[[], str]) -> None:
        """A few inputs, then a kill at the chosen moment, then a restart."""
        rng = self.rng
        for _ in range(rng.choice((0, 0, 1, 2))):
            action()
            if self.faketime is not None and rng.random() < 0.5:
                self._step_wall()  # NTP steps while the operation may be in the air
            time.sleep(rng.uniform(0.05, 0.5))
        moment = _weighted(rng, KILL_MOMENTS)
        self._delay_next = moment == "inflight"  # the last input's request hangs on the wire
        kind = action()
        if moment == "enter":
            time.sleep(rng.uniform(0.0, 0.03))
        elif moment == "inflight":
            time.sleep(rng.uniform(0.1, 0.6) if kind != "idle" else 0.1)
        elif moment == "random":
            time.sleep(rng.uniform(0.0, 1.5))
        elif moment == "printing":
            self._wait_quiet(3.0)
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            self._wait_quiet(5.0)
        self.k.kill9()
        self.report.kills += 1
        self.report.moments[moment] = self.report.moments.get(moment, 0) + 1
        # The keys of a crashed daemon are gone: close our FIFO ends so that bytes still in the
        # pipe are dropped instead of being read by the next daemon without their header.
        self.k.keypad.close()
        self.k.scanner.close()
        if rng.random() < 0.5:
            self.k.sim.clear_faults()  # else a leftover fault may hit recovery: also wanted
        self._start_daemon(boot=True)
        if self.report.kills % 25 == 0:
            self.log(f"{self.report.kills} kills so far")

    def _arm(self, what: str) -> None:
        rng = self.rng
        if self._delay_next:
            self._delay_next = False
            self.k.sim.arm_fault(
                ENDPOINT[what], "delay", delay_s=rng.uniform(0.6, self.max_delay_s)
            )
            self.report.faults_armed += 1
        elif rng.random() < 0.3:
            mode = rng.choice(FAULT_MODES)
            self.k.sim.arm_fault(ENDPOINT[what], mode, delay_s=rng.uniform(0.2, self.max_delay_s))
            self.report.faults_armed += 1

    def _wait_quiet(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError, OSError):
            self.k.wait_for(self._quiet, timeout_s, poll_s=0.05)

    def _quiet(self) -> bool:
        q = self.k.status()["queue"]
        return not any(q.get(s, 0) for s in UNSETTLED)

    # ----------------------------------------------------------------- inputs

    def _sales_action(self) -> str:
        if self.rng.random() < 0.2 and self._cancel():
            return "cancel"
        self._sale()
        return "sale"

    def _new_signature(self) -> Signature:
        rng = self.rng
        while True:
            if rng.random() < 0.3:
                first = (2, LUCKY, rng.randint(1, 99))
            else:
                first = (rng.choice((1, 2)), f"{rng.randint(0, 999):03d}", rng.randint(1, 99))
            wagers = [first]
            for _ in range(rng.choice((0, 0, 0, 1, 2))):
                p = rng.choice((3, 6, 1))
                if p == 6:
                    number = rng.choice(("0", "00", *map(str, range(1, 37))))
                    wagers.append((6, number, 2 * rng.randint(1, 50)))
                elif p == 3:
                    code = f"{rng.randint(0, 999):03d}{rng.randint(1, 12):02d}"
                    wagers.append((3, code, rng.randint(1, 99)))
                else:
                    wagers.append((1, f"{rng.randint(0, 999):03d}", rng.randint(1, 99)))
            typed = tuple(wagers)
            sig = _api_signature(typed)
            if sig not in self.intents:
                self.intents.add(sig)
                return typed

    def _sale(self) -> None:
        typed = self._new_signature()
        self._arm("sale")
        text = "+" + "".join(f"{p}.{n}.{a}\n" for p, n, a in typed) + "\n"
        self.k.type(text)
        self.report.sales_typed += 1

    def _cancel(self) -> bool:
        """Cancel a recent sold ticket: `-` then its barcode."""
        from kioskd.proving.sim import games as catalog

        now = self.k.sim.now()
        ledger = self.k.sim.ledger()["tickets"]
        recent = [t for t in ledger if t["status"] == "sold" and now - t["created_at"] < 120]
        if not recent:
            return False
        t = self.rng.choice(recent)
        self._arm("cancel")
        self.k.type("-")
        self.k.scan(_barcode(t, catalog))
        self.report.cancels_typed += 1
        return True

    def _pay_action(self, winners: list[dict[str, Any]]) -> str:
        from kioskd.proving.sim import games as catalog

        if not winners:
            time.sleep(0.2)
            return "idle"
        paid = {t["ticket_number"] for t in self.k.sim.ledger()["tickets"] if t["paid_at"]}
        unpaid = [t for t in winners if t["ticket_number"] not in paid]
        # Mostly unpaid winners; sometimes a paid one again (must be refused as already paid).
        pool = unpaid if unpaid and self.rng.random() < 0.85 else winners
        t = self.rng.choice(pool)
        self._arm("pay")
        self.k.scan(_barcode(t, catalog))
        self.report.pays_scanned += 1
        return "pay"

    def _make_winners(self) -> list[dict[str, Any]]:
        """Close the draws sold for, force results that make winners, return the winners."""
        from kioskd.proving.sim import games as catalog

        sim = self.k.sim
        tickets = [t for t in sim.ledger()["tickets"] if t["status"] == "sold"]
        by_event: dict[int, list[str]] = defaultdict(list)
        for t in tickets:
            for w in t["wagers"]:
                by_event[int(w["event_id"])].append(w["wager"])
        if not by_event:
            return []
        events = [catalog.event(e) for e in by_event]
        last_close = max(ev.closing_ts for ev in events if ev is not None)
        sim.advance(max(0.0, last_close - sim.now() + 1.0))
        for event_id, wagers in sorted(by_event.items()):
            ev = catalog.event(event_id)
            lucky = LUCKY if ev is not None and ev.product.id == 2 else None
            sim.force_result(event_id, lucky if lucky in wagers else self.rng.choice(wagers))
        return [t for t in sim.ledger()["tickets"] if t["status"] == "winner"]

    # ----------------------------------------------------------------- the end

    def _settle(self) -> None:
        """Clear faults and wait until nothing is queued, in doubt or unprinted (bounded)."""
        k = self.k
        k.sim.clear_faults()

        def settled() -> bool:
            try:
                quiet = self._quiet()
            except OSError:
                return False
            return quiet and all(j["printed_at"] for j in k.print_jobs())

        try:
            k.wait_for(settled, self.settle_s, poll_s=0.1)
        except TimeoutError:
            self.log(f"not settled after {self.settle_s} s: {k.status()['queue']}")

    def _finish(self, seconds: float) -> None:
        k, r = self.k, self.report
        ledger = k.sim.ledger()
        ops = k.journal_operations()
        jobs = k.print_jobs()
        with k.printer.core.lock:
            printed = bytes(k.printer.core.printed)
        books = Books(ledger, ops, jobs, printed, set(self.intents))
        r.violations = check(books)
        if r.clean_stop != 0:
            r.violations.append(f"the final SIGTERM stop exited with {r.clean_stop}")
        api = [t for t in ledger["tickets"] if t.get("origin", "api") == "api"]
        r.operations = len(ops)
        r.tickets = len(api)
        r.paid = sum(1 for t in api if t["paid_at"])
        r.canceled = sum(1 for t in api if t["canceled_at"])
        r.states = dict(Counter(f"{o['kind']}:{o['state']}" for o in ops))
        r.reprints = sum(1 for j in jobs if j["reprint"])
        r.seconds = round(seconds, 1)


def _api_signature(typed: tuple[tuple[int, str, int], ...]) -> Signature:
    """The signature the server will show for what was typed (zodiac codes become "444-ARI")."""
    from kioskd.proving.sim import games as catalog

    out = []
    for product, number, amount in typed:
        game = catalog.PRODUCTS_BY_ID[product].game_id
        out.append((product, catalog.normalize_wager(game, number) or number, amount))
    return tuple(out)


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    names = [n for n, _ in table]
    return rng.choices(names, weights=[w for _, w in table])[0]


def run_campaign(kills: int, seed: int = 0, workdir: str | Path | None = None, **kw: Any) -> Report:
    """A campaign in `workdir` (a fresh temporary folder when None)."""
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="kioskd-crash-")
    return Campaign(workdir, kills, seed, **kw).run()


def main(argv: list[str] | None = None) -> int:
    from kioskd.proving.harness import add_timers_argument

    parser = argparse.ArgumentParser(
        prog="python -m kioskd.proving.campaigns.kill9",
        description="kill -9 the real kioskd at random moments; check ledger == journal",
    )
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="keep the kiosk's files here (default: a temp dir)")
    parser.add_argument(
        "--max-delay", type=float, default=1.5, help="longest delay fault, seconds (1.5)"
    )
    add_timers_argument(parser)
    parser.add_argument(
        "--wall",
        choices=WALLS,
        default="true",
        help="the daemon's wall clock: the real one, or stepping under libfaketime (off by "
        "-3 days .. +1 day, stepping at every restart and while operations are in the air)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    quiet = args.json
    report = run_campaign(
        args.kills,
        args.seed,
        args.workdir,
        max_delay_s=args.max_delay,
        policy=args.policy,
        wall=args.wall,
        log=(lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True)),
    )
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        for violation in report.violations:
            print("VIOLATION", violation)
        print(
            f"seed {args.seed}: {report.tickets} tickets, {report.paid} paid, "
            f"{report.canceled} canceled, {report.reprints} reprints, {report.seconds} s, "
            f"{report.policy} timers, "
            f"states {report.states}, kill moments {report.moments}"
        )
        print(report.line())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
