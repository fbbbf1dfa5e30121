"""Flaky shift (issue 11): the real `kioskd run` with the SHIPPED outbox timers against the
simulator over loopback HTTP, 100 sales typed at a steady pace, a fault on one create in four.

Faults, in turn: drop before commit (nothing applied), HTTP 500 with the API's JSON envelope
(nothing applied), commit then drop, commit then 504 (a proxy's HTML page), a hang past the
read timeout (nothing applied). Every sale carries its own plays, so each server ticket maps to
the one sale typed.

Reported: sales sold and printed exactly once, duplicates, sales expired, seconds from Enter to
the ticket printed (median, p95), and the longest stretch during which a new sale could not be
sent (Enter -> first send of that sale, the worst over the shift). Times are this process's
wall clock at both ends: the Enter as typed, the ticket's cut as the fake printer took it (its
slip found by the ticket number it prints), a send as it reached the simulator (faulted or
not). The journal's own times are server-time estimates (1 s `Date` headers: issue 18) and
would not make a latency.

Reproduce:  .venv/bin/python bench/bench_flaky_shift.py [--sales 100] [--pace 2.0]
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from typing import Any

from _common import BenchKiosk, emit, percentile

from kioskd.proving.fakes.escpos_printer import CUT

FAULTS = ("drop_before_commit", "fail_before_commit", "commit_then_drop", "commit_then_504", "hang")


def plays(i: int) -> str:
    """Sale i: TRIPLE ZAMORANO number i, amount 1 + i // 1000 (unique per sale)."""
    return f"+1.{i % 1000:03d}.{1 + i // 1000}\n\n"


def rows(path: str, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _number(payload: str | bytes) -> str:
    """The wager number of a sale (each sale of the shift has its own), from the journal's
    payload or the create's request body (`{"ticket": {"wagers": [...]}}`)."""
    data = json.loads(payload)
    return str(data.get("ticket", data)["wagers"][0]["wager"])


def _paper_times(k: BenchKiosk, tickets: dict[int, int]) -> dict[int, float]:
    """op id -> when its ticket's first slip was cut: the slip that prints its number."""
    core = k.printer.core
    with core.lock:
        slips = bytes(core.printed).split(CUT)
        cut_times = list(core.cut_times)
    first: dict[bytes, int] = {}
    for i, slip in enumerate(slips[: len(cut_times)]):
        for number in set(re.findall(rb"\d{8}", slip)):
            first.setdefault(number, i)
    return {
        op_id: cut_times[first[f"{n:08d}".encode()]]
        for op_id, n in tickets.items()
        if f"{n:08d}".encode() in first
    }


def _first_sends(k: BenchKiosk) -> dict[str, float]:
    """wager number -> when the first create carrying it reached the simulator."""
    sends: dict[str, float] = {}
    for at, path, body in list(k.sim.arrivals or ()):
        if path == "/user/ticket/create":
            sends.setdefault(_number(body), at)
    return sends


def run(sales: int, pace: float, workdir: str, verbose: bool = False) -> dict[str, Any]:
    k = BenchKiosk(workdir, log_level="warning")  # shipped timers
    k.start()
    k.sim.record_arrivals()
    k.start_daemon()
    k.wait_catalog()
    enter: dict[str, float] = {}  # wager number -> time the Enter went in
    faulted: dict[str, str] = {}
    try:
        started = time.time()
        for i in range(sales):
            number = f"{i % 1000:03d}"
            due = started + i * pace
            time.sleep(max(0.0, due - time.time()))
            if i % 4 == 1:  # armed just before the sale, after the previous one was sent
                mode = FAULTS[(i // 4) % len(FAULTS)]
                k.sim.arm_fault("/user/ticket/create", mode)
                faulted[number] = mode
            enter[number] = time.time()
            k.type(plays(i))

        # The last dropped sale needs the quiet period (60 s) and a probe before its resend.
        def settled() -> bool:
            q = k.status()["queue"]
            return not any(q.get(s, 0) for s in ("queued", "sending", "in_doubt", "reconciling"))

        time.sleep(2)
        k.wait_for(settled, timeout_s=400, poll_s=0.5)
        time.sleep(2)  # last slips to paper
    finally:
        k.stop_daemon()
    jp = str(k.journal_path)
    ops = rows(jp, "SELECT id, state, payload, created_at, attempts, ticket_number "
                   "FROM operations WHERE kind='create'")  # fmt: skip
    printed = _paper_times(k, {op[0]: op[5] for op in ops if op[5] is not None})
    sent = _first_sends(k)
    first_send = {op[0]: sent[_number(op[2])] for op in ops if _number(op[2]) in sent}
    ledger = k.sim.ledger()["tickets"]
    k.close()
    by_number = Counter(w["wager"] for t in ledger for w in t["wagers"])
    latency: list[float] = []
    latency_after_fault: list[float] = []
    worst_wait = 0.0
    expired = done_printed = 0
    for op_id, state, payload, created_at, _attempts, _ticket in ops:
        number = _number(payload)
        if state == "expired":
            expired += 1
        if state == "done" and op_id in printed and by_number[number] == 1:
            done_printed += 1
            latency.append(printed[op_id] - enter[number])
            prev = f"{(int(number) - 1) % 1000:03d}"
            if prev in faulted:
                latency_after_fault.append(printed[op_id] - enter[number])
        worst_wait = max(worst_wait, first_send.get(op_id, created_at) - enter[number])
    faulted_latency: dict[str, float] = {}
    for op_id, _state, payload, _created, attempts, _ticket in ops:
        number = _number(payload)
        mode = faulted.get(number)
        if verbose:
            print(
                op_id,
                number,
                _state,
                attempts,
                mode,
                round(printed.get(op_id, 0) - enter[number], 3),
            )
        if mode is not None and op_id in printed:
            seconds = round(printed[op_id] - enter[number], 1)
            faulted_latency[mode] = max(faulted_latency.get(mode, 0.0), seconds)
    return {
        "sales_typed": sales,
        "sold_and_printed_once": done_printed,
        "duplicates": sum(n - 1 for n in by_number.values() if n > 1),
        "expired": expired,
        "enter_to_ticket_median_s": round(statistics.median(latency), 3) if latency else None,
        "enter_to_ticket_p95_s": round(percentile(latency, 95), 3) if latency else None,
        "sale_after_a_faulted_one_max_s": (
            round(max(latency_after_fault), 3) if latency_after_fault else None
        ),
        "slowest_faulted_sale_by_mode_s": faulted_latency,
        "longest_wait_to_send_s": round(worst_wait, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sales", type=int, default=100)
    ap.add_argument("--pace", type=float, default=2.0, help="seconds between sales")
    ap.add_argument("--verbose", action="store_true", help="one line per sale")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kioskd-flaky-") as workdir:
        result = run(args.sales, args.pace, workdir, args.verbose)
    for key, value in result.items():
        print(f"{key:34s} {value}")
    emit("flaky_shift", result)


if __name__ == "__main__":
    main()
