"""Budget 7: backlog drain. N sales queued during an outage, then online: operations/s.

The real journal (SQLite file, WAL, synchronous=FULL: every commit is fsynced) and the real
outbox against the in-process simulator (`SimTransport`, no network), one event loop. While the
simulator is offline the sales are submitted and stay `queued`; then it comes back and `step()`
runs until all are done. Each sale costs a watermark call (`/user/ticket/last`), the create and
its durable commits. The default policy caps the offline queue at 20 operations
(`Policy.max_queued`); the bench raises the cap to N to measure throughput.
Budget: >= 100 operations/s (the daemon is never the bottleneck).

Reproduce:  .venv/bin/python bench/bench_drain.py [--ops 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time

from _common import report


async def drain(n: int, path: str) -> dict[str, float]:
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
    logging.getLogger("httpx").setLevel(logging.CRITICAL)
    clock = VirtualClock(catalog.day_start(catalog.local_day(1729612800.0)) + 9.1 * 3600)
    sim = Simulator(seed=1, clock=clock, password="pw")
    client = BanklotClient("http://sim", sim.email, "pw", transport=SimTransport(sim))
    journal = Journal(path)
    policy = outbox_policy(time_zone=catalog.TIME_ZONE, max_queued=n)
    outbox = Outbox(journal, client, clock, policy)
    await outbox.recover()
    await client.login()
    product = catalog.PRODUCTS_BY_ID[1]
    ev = catalog.open_event(product, clock.now())
    codes = [c for c, *_ in catalog.inventory(1)]
    sim.set_offline(True)
    t0 = time.perf_counter()
    for i in range(n):
        wager = WagerRequest(1, ev.id, 1, codes[i % len(codes)])
        await outbox.submit_create([wager], ev.closing_ts)
        while await outbox.step():  # tries, finds the API down, backs off
            pass
    queue_s = time.perf_counter() - t0
    queued = outbox.counts()["queued"]
    sim.set_offline(False)
    clock.advance(120)  # past any back-off; still well inside the deadlines
    t0 = time.perf_counter()
    while await outbox.step():
        pass
    drain_s = time.perf_counter() - t0
    done = outbox.counts()["done"]
    journal.close()
    await client.aclose()
    return {
        "queued": queued,
        "done": done,
        "queue_s": round(queue_s, 3),
        "drain_s": round(drain_s, 3),
        "ops_per_s": round(done / drain_s, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--profile", help="write a cProfile of the drain to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        coro = drain(args.ops, os.path.join(tmp, "journal.sqlite3"))
        if args.profile:
            import cProfile

            with cProfile.Profile() as prof:
                result = asyncio.run(coro)
            prof.dump_stats(args.profile)
        else:
            result = asyncio.run(coro)
    summary = f"queued {result['queued']}, drained {result['done']} in {result['drain_s']} s: "
    return report("drain", result, summary + f"{result['ops_per_s']} ops/s (budget >= 100)")


if __name__ == "__main__":
    raise SystemExit(main())
