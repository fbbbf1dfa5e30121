"""How many durable commits (and fsyncs) does one happy-path sale cost? Budget: 3.

A sale = intent (born `sending` with its watermark), outcome with its print job, printed.
Runs N sales through the real journal (WAL, synchronous=FULL) and the real outbox against the
in-process simulator, counting commits with the journal's counter and, when `strace` exists,
fsync/fdatasync calls of the whole process.

Reproduce:  .venv/bin/python bench/bench_commits.py [--sales 20]
(with fsync counts: strace is used automatically when installed)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile


async def sell(n: int, path: str) -> tuple[int, int]:
    from kioskd.banklot.client import BanklotClient
    from kioskd.banklot.models import WagerRequest
    from kioskd.clock import VirtualClock
    from kioskd.config import outbox_policy
    from kioskd.journal import Journal
    from kioskd.outbox import Outbox
    from kioskd.proving.sim import games as catalog
    from kioskd.proving.sim.inprocess import SimTransport
    from kioskd.proving.sim.simulator import Simulator

    logging.getLogger("kioskd").setLevel(logging.CRITICAL)
    clock = VirtualClock(catalog.day_start(catalog.local_day(1729612800.0)) + 9.1 * 3600)
    sim = Simulator(seed=1, clock=clock, password="pw")
    client = BanklotClient("http://sim", sim.email, "pw", transport=SimTransport(sim))
    journal = Journal(path)
    outbox = Outbox(journal, client, clock, outbox_policy(time_zone=catalog.TIME_ZONE))
    await outbox.recover()
    await client.login()
    product = catalog.PRODUCTS_BY_ID[1]
    start = journal.commits
    for i in range(n):
        ev = catalog.open_event(product, clock.now())
        code = catalog.inventory(1)[i % 100][0]
        await outbox.submit_create([WagerRequest(5, ev.id, 1, code)], ev.closing_ts)
        while await outbox.step():
            pass
        for job in journal.pending_print_jobs():
            journal.mark_printed(job.id, now=clock.now())
        clock.advance(1)
    commits = journal.commits - start
    done = journal.counts()["done"]
    journal.close()
    await client.aclose()
    return commits, done


def child(n: int) -> None:
    tmp = tempfile.mkdtemp(prefix="kioskd-bench-")
    try:
        commits, done = asyncio.run(sell(n, os.path.join(tmp, "journal.sqlite")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"COMMITS {commits} DONE {done}")


# A row of `strace -c`: % time, seconds, usecs/call, calls, [errors,] syscall.
SYNC_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync", re.M)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.sales)
        return 0
    cmd = [sys.executable, __file__, "--child", "--sales", str(args.sales)]
    strace = shutil.which("strace")
    syncs = None
    if strace:
        # Two runs: with 0 and with N sales, so start-up fsyncs (schema, WAL) cancel out.
        counts = []
        for n in (0, args.sales):
            trace = subprocess.run(
                [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", *cmd[:-1], str(n)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            total = sum(int(m.group(1)) for m in SYNC_ROW.finditer(trace.stderr))
            counts.append(total)
            out = trace.stdout
        syncs = (counts[1] - counts[0]) / args.sales
    else:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"COMMITS (\d+) DONE (\d+)", out)
    assert m, out
    commits, done = int(m.group(1)), int(m.group(2))
    per_sale = commits / max(1, done)
    print(f"happy-path sales: {done}")
    print(f"durable commits per sale: {per_sale:.2f} (budget 3)")
    if syncs is not None:
        print(f"fsync+fdatasync per sale (strace -f -c): {syncs:.2f}")
    else:
        print("fsync count: strace not installed (commits counted by the journal's hook)")
    print(f"reproduce: .venv/bin/python bench/bench_commits.py --sales {args.sales}")
    return 0 if per_sale <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
