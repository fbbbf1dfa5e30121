"""The power-cut campaign: the real `kioskd run` with its journal on the power-cut filesystem.

`python -m kioskd.proving.campaigns.powercut.campaign --cuts N [--seed S] [--policy short] [--json]`

One virtual kiosk (`kioskd.proving.harness.VirtualKiosk`: simulator over loopback HTTP, replay
FIFOs, loopback printer) whose `[journal] path` lies on a `PowerCutMount`. Each round types a few
sales, cancellations and payments on the keypad/scanner while network faults are armed, waits a
random moment, then cuts the power: SIGKILL to the daemon and to the filesystem together, so
every write the journal did not sync is gone. Remount, restart, next round. A second phase moves
the simulator's clock past the draws, forces results (winners) and pays under cuts too.

At the end (network healthy, daemon settled, a clean stop and one more cut) the checks are:
the journal passes `PRAGMA integrity_check`, and the books balance (`kioskd.proving.books`):
every ticket, payment and cancellation the server holds is journaled done exactly once, or
covered by one operation visibly unresolved; nothing journaled done is missing from the server;
every operation is terminal or visibly unresolved; every done operation's slip is printed.
Exit status 1 on any violation.

Timers: `policy="shipped"` (the command line's default) runs the daemon with the shipped
defaults of every timer (API timeouts, `[offline]`, `[reconcile]`, printer timeout): only
addresses, paths and devices differ from a shop's config. `policy="short"` is the harness's
short-timer variant (4 s quiet period, 2 s read timeout), what the tests use.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kioskd.proving.books import Violation, read_journal
from kioskd.proving.books import check as check_books
from kioskd.proving.campaigns.powercut.mount import PowerCutMount
from kioskd.proving.harness import VirtualKiosk, add_timers_argument, settle_bound_s

FAULT_ENDPOINTS = ("/user/ticket/create", "/user/ticket/pay", "/user/ticket/cancel")
FAULT_MODES = (
    "commit_then_drop",
    "commit_then_504",
    "fail_before_commit",
    "malformed",
    "delay",
    "hang",
    "empty_body",
    "expire_token",
)
UNFINISHED = ("queued", "sending", "in_doubt", "reconciling")


class PowerCutKiosk(VirtualKiosk):
    """A virtual kiosk whose journal lives on the power-cut mount."""

    def __init__(self, workdir: str | os.PathLike[str], journal_dir: Path, **kw: Any) -> None:
        super().__init__(workdir, **kw)
        self.journal_dir = journal_dir

    @property
    def journal_path(self) -> Path:
        return self.journal_dir / "journal.sqlite3"


@dataclass
class Result:
    cuts: int = 0
    operations: int = 0
    states: dict[str, int] = field(default_factory=dict)
    server: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0
    policy: str = "shipped"
    workdir: str | None = None  # kept for inspection when there are violations

    def summary(self) -> str:
        return (
            f"{self.cuts} cuts, {self.operations} operations, {len(self.violations)} violations "
            f"({self.policy} timers)"
        )


def _local_date(sim: Any, number: int) -> dt.date:
    for t in sim._tickets:  # the simulator's own records: the date the ticket belongs to
        if t.number == number:
            return t.local_date
    raise KeyError(number)


class Campaign:
    def __init__(self, workdir: Path, seed: int, log: Any = None, policy: str = "shipped") -> None:
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.log = log or (lambda msg: None)
        self.mount = PowerCutMount(workdir / "backing", workdir / "mnt")
        self.kiosk = PowerCutKiosk(workdir / "kiosk", workdir / "mnt", seed=seed, timers=policy)
        # Long enough for the slowest "not applied" of the timers in use to be decided.
        self.settle_s = max(90.0, settle_bound_s(policy))
        self.result = Result(policy=policy)

    # ----------------------------------------------------------------- the counter

    def _sell(self) -> None:
        lines = "".join(
            f"{self.rng.choice((1, 2))}.{self.rng.randrange(1000):03d}.{self.rng.randint(1, 99)}\n"
            for _ in range(self.rng.randint(1, 2))
        )
        self.kiosk.type("+" + lines + "\n")

    def _own_tickets(self, status: tuple[str, ...]) -> list[dict[str, Any]]:
        ledger = self.kiosk.sim.ledger()
        return [t for t in ledger["tickets"] if t["origin"] == "api" and t["status"] in status]

    def _barcode(self, t: dict[str, Any]) -> str:
        from kioskd.counter.scan import barcode_data

        number = t["ticket_number"]
        return barcode_data(number, t["pin_number"], _local_date(self.kiosk.sim, number))

    def _cancel(self) -> None:
        recent = [
            t
            for t in self._own_tickets(("sold",))
            if time.time() - _created(t) < 150  # inside the 180 s cancel window
        ]
        if recent:
            self.kiosk.type("-")
            self.kiosk.scan(self._barcode(self.rng.choice(recent)))

    def _pay(self) -> None:
        tickets = self._own_tickets(("winner", "sold", "paid"))
        if tickets:
            winners = [t for t in tickets if t["status"] == "winner"]
            self.kiosk.scan(self._barcode(self.rng.choice(winners or tickets)))

    def _arm_faults(self) -> None:
        sim = self.kiosk.sim
        sim.clear_faults()
        if self.rng.random() < 0.5:
            mode = self.rng.choice(FAULT_MODES)
            delay = self.rng.choice((0.5, 3.0)) if mode == "delay" else 0
            sim.arm_fault(self.rng.choice(FAULT_ENDPOINTS), mode, count=1, delay_s=delay)
        if self.rng.random() < 0.05:
            sim.set_offline(True, for_s=self.rng.uniform(0.5, 3.0))

    # ----------------------------------------------------------------- the power

    def _start(self) -> None:
        self.kiosk.start_daemon(timeout_s=60)
        with contextlib.suppress(TimeoutError, OSError):
            self.kiosk.wait_catalog(timeout_s=20)

    def _cut(self) -> None:
        """SIGKILL the daemon and the filesystem at once; remount from what was synced."""
        proc = self.kiosk.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        self.mount.cut(remount=False)
        if proc is not None:
            proc.wait(30)
        self.mount.mount()
        self.result.cuts += 1

    def _round(self, actions: tuple[str, ...]) -> None:
        self._arm_faults()
        for _ in range(self.rng.randint(1, 3)):
            action = self.rng.choice(actions)
            try:
                {"sell": self._sell, "cancel": self._cancel, "pay": self._pay}[action]()
            except (OSError, TimeoutError) as exc:
                self.log(f"could not {action}: {exc}")
            time.sleep(self.rng.uniform(0.0, 0.4))
        time.sleep(self.rng.uniform(0.0, 1.2))
        self._cut()
        self._start()

    # ----------------------------------------------------------------- the run

    def run(self, cuts: int) -> Result:
        started = time.monotonic()
        self.mount.mount()
        self.kiosk.start()
        try:
            self._start()
            phase1 = max(1, cuts * 2 // 3)
            for i in range(cuts):
                if i == phase1:
                    self._make_winners()
                actions = ("sell", "sell", "cancel", "pay") if i < phase1 else ("pay",)
                self._round(actions)
                self.log(f"cut {self.result.cuts}/{cuts}")
            self._settle()
            self.kiosk.stop_daemon()
            self._cut()  # a cut after a clean stop: everything must already be durable
            self._check()
        finally:
            with contextlib.suppress(Exception):
                self.kiosk.close()
            with contextlib.suppress(Exception):
                self.mount.unmount()
        self.result.seconds = time.monotonic() - started
        return self.result

    def _make_winners(self) -> None:
        """Close the draws of the tickets sold so far and make some of them winners."""
        sim = self.kiosk.sim
        sim.clear_faults()
        self._settle()
        tickets = self._own_tickets(("sold",))
        if not tickets:
            return
        from kioskd.proving.sim import games as catalog

        events = {w["event_id"] for t in tickets for w in t["wagers"]}
        closing = [ev.closing_ts for e in events if (ev := catalog.event(e)) is not None]
        sim.set_time(max([time.time(), *closing]) + 1)
        for t in tickets:
            w = self.rng.choice(t["wagers"])
            with contextlib.suppress(ValueError):
                sim.force_result(w["event_id"], w["wager"])
        self.log(f"winners: {len(self._own_tickets(('winner',)))}")

    def _settle(self, timeout_s: float | None = None) -> None:
        if timeout_s is None:
            timeout_s = self.settle_s
        sim = self.kiosk.sim
        sim.clear_faults()
        sim.set_offline(False)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                st = self.kiosk.status()
            except OSError:
                time.sleep(0.5)
                continue
            if "queue" not in st:
                # The daemon found its journal lost or damaged and waits for a technician
                # (attention): nothing more will settle. Said as a violation; the books check
                # then judges what the files hold.
                self.result.violations.append(
                    Violation("journal-attention", str(st.get("journal", "?")))
                )
                return
            busy = sum(st["queue"].get(k, 0) for k in UNFINISHED)
            if busy == 0 and all(j["printed_at"] for j in self.kiosk.print_jobs()):
                return
            time.sleep(0.5)
        self.log("daemon did not settle in time")

    # ----------------------------------------------------------------- the books

    def _check(self) -> None:
        ops, jobs, integrity = read_journal(self.kiosk.journal_path)
        out = self.result.violations
        if integrity != "ok":
            out.append(Violation("integrity", f"PRAGMA integrity_check: {integrity}"))
        ledger = self.kiosk.sim.ledger()
        self.result.operations = len(ops)
        self.result.states = dict(Counter(op["state"] for op in ops))
        self.result.server = {
            "tickets": sum(1 for t in ledger["tickets"] if t["origin"] == "api"),
            "payments": len(ledger["payments"]),
            "cancellations": len(ledger["cancellations"]),
        }
        out.extend(check_books(ledger, ops, jobs))


def _created(t: dict[str, Any]) -> float:
    value = t["created_at"]
    if isinstance(value, int | float):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def run_campaign(
    cuts: int,
    seed: int = 0,
    workdir: str | os.PathLike[str] | None = None,
    log: Any = None,
    policy: str = "shipped",
) -> Result:
    """Run `cuts` power cuts; returns the result (violations listed, never raised).

    The work directory (daemon log, backing store) is removed only after a clean run."""
    tmp = tempfile.mkdtemp(prefix="kioskd-powercut-", dir=workdir)
    result = Campaign(Path(tmp), seed, log, policy).run(cuts)
    if result.violations:
        result.workdir = tmp
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kioskd.proving.campaigns.powercut.campaign")
    parser.add_argument("--cuts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    add_timers_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--tmpdir", default=None, help="where the work directory goes")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    from kioskd.proving.campaigns.powercut.mount import fuse_unavailable

    why = fuse_unavailable()
    if why:
        print(f"power-cut campaign cannot run: {why}", file=sys.stderr)
        return 2
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.verbose else None
    r = run_campaign(args.cuts, args.seed, args.tmpdir, log, args.policy)
    if args.json:
        print(json.dumps({
            "cuts": r.cuts, "operations": r.operations, "states": r.states,
            "server": r.server, "seconds": round(r.seconds, 1), "policy": r.policy,
            "violations": [v.to_json() for v in r.violations],
        }))  # fmt: skip
    else:
        for v in r.violations:
            print(f"VIOLATION {v.invariant}: {v.detail}")
        print(f"states {r.states}; server {r.server}; {r.policy} timers; {r.seconds:.0f} s")
        print(r.summary())
    return 1 if r.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
