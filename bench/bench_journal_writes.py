"""Issue 19: the CPU of a sale's three durable journal writes, through the journal's own API.

A sale writes the journal three times: its intent (born `sending`), its outcome with the
ticket's print job, and the job's printed mark; each is one IMMEDIATE transaction committed
with the WAL fsynced (`synchronous=FULL`, as shipped). This times each write with
`time.thread_time()` (the kernel's share of the fdatasync included), `--sales` sales a round,
on a journal in a temporary folder on the benches' disk. With `--synchronous NORMAL` the same
writes skip the fsync at each commit (not what kioskd does: it tells what the fsync costs).
The daemon's figure for the same writes (`bench_sale_tasks.py --functions sale`) is higher:
there they run between other work, not back to back.

Reproduce:  .venv/bin/python bench/bench_journal_writes.py [--sales 300] [--rounds 5]
            [--synchronous NORMAL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from _common import machine, report


def one_round(sales: int, synchronous: str) -> dict[str, float]:
    from kioskd.journal import Journal, states

    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        journal = Journal(os.path.join(tmp, "journal.sqlite"))
        if synchronous != "FULL":
            journal.conn.execute(f"PRAGMA synchronous={synchronous}")
        spent = {"intent": 0.0, "outcome": 0.0, "printed": 0.0}
        for i in range(sales):
            now = 1_780_000_000.0 + i
            wager = {"amount": 1, "event_id": 5, "product_id": 1, "code": f"{i % 1000:03d}"}
            t0 = time.thread_time()
            op_id = journal.add(
                "create",
                {"wagers": [wager]},
                amount=1,
                deadline=now + 600,
                now=now,
                state=states.SENDING,
                watermark={"ticket_number": 1000 + i},
                sent_mono=float(i),
                sent_boot="bench",
            )
            t1 = time.thread_time()
            journal.transition(
                op_id,
                states.ANSWERED_OK,
                now=now + 0.1,
                history_kind="attempt",
                reason="answered",
                ticket_number=2000 + i,
                pin_number=1234,
                result={"ticket_number": 2000 + i, "status": "active", "wagers": [wager]},
                print_job=("ticket", {"kind": "create", "ticket_number": 2000 + i}),
                request_digest="0" * 64,
                response_digest="1" * 64,
            )
            t2 = time.thread_time()
            for job in journal.pending_print_jobs():
                journal.mark_printed(job.id, now=now + 0.2)
            t3 = time.thread_time()
            spent["intent"] += t1 - t0
            spent["outcome"] += t2 - t1
            spent["printed"] += t3 - t2
        journal.close()
    return {k: round(v / sales * 1e6, 1) for k, v in spent.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=300, help="sales a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--synchronous",
        default="FULL",
        choices=("FULL", "NORMAL"),
        help="FULL as shipped; NORMAL to see the fsync's share",
    )
    args = parser.parse_args()
    rounds = [one_round(args.sales, args.synchronous) for _ in range(args.rounds)]
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    total = round(sum(med.values()), 1)
    result = {
        "us_per_sale": total,
        **{f"{k}_us": v for k, v in med.items()},
        "synchronous": args.synchronous,
        "rounds": rounds,
        "machine": machine(),
        "command": " ".join([".venv/bin/python", "bench/bench_journal_writes.py", *sys.argv[1:]]),
    }
    parts = ", ".join(f"{k} {v} us" for k, v in med.items())
    return report(
        "journal_writes",
        result,
        f"a sale's journal writes (synchronous={args.synchronous}, median of {args.rounds} "
        f"rounds of {args.sales}): {total} us of CPU ({parts})\n"
        f"reproduce: {result['command']}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
