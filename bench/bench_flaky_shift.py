"""Flaky shift (issue 11): the real `kioskd run` with the SHIPPED outbox timers against the
simulator over loopback HTTP, 100 sales typed at a steady pace, a fault on one create in four.

Faults, in turn: drop before commit (nothing applied), HTTP 500 with the API's JSON envelope
(nothing applied), commit then drop, commit then 504 (a proxy's HTML page), a hang past the
read timeout (nothing applied). Every sale carries its own plays, so each server ticket maps to
the one sale typed.

Reported: sales sold and printed exactly once, duplicates, sales expired, seconds from Enter to
the ticket printed (median, p95), and the longest stretch during which a new sale could not be
sent (Enter -> first send of that sale, the worst over the shift). Times come from the journal
(the daemon's clock, the same wall clock as this process).

Reproduce:  .venv/bin/python bench/bench_flaky_shift.py [--sales 100] [--pace 2.0]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from typing import Any

from _common import BenchKiosk, emit, percentile

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


def run(sales: int, pace: float, workdir: str, verbose: bool = False) -> dict[str, Any]:
    import json

    k = BenchKiosk(workdir, log_level="warning")  # shipped timers
    k.start()
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
    ops = rows(jp, "SELECT id, state, payload, created_at, attempts FROM operations "
                   "WHERE kind='create'")  # fmt: skip
    printed_sql = (
        "SELECT op_id, MIN(printed_at) FROM print_jobs "
        "WHERE kind='ticket' AND printed_at IS NOT NULL GROUP BY op_id"
    )
    printed = dict(rows(jp, printed_sql))
    first_send: dict[int, float] = {}
    for op_id, at, to_state in rows(jp, "SELECT op_id, at, to_state FROM history ORDER BY id"):
        if to_state == "sending" and op_id not in first_send:
            first_send[op_id] = at
    ledger = k.sim.ledger()["tickets"]
    k.close()
    by_number = Counter(w["wager"] for t in ledger for w in t["wagers"])
    latency: list[float] = []
    latency_after_fault: list[float] = []
    worst_wait = 0.0
    expired = done_printed = 0
    for op_id, state, payload, created_at, _attempts in ops:
        number = json.loads(payload)["wagers"][0]["wager"]
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
    for op_id, _state, payload, _created, attempts in ops:
        number = json.loads(payload)["wagers"][0]["wager"]
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
