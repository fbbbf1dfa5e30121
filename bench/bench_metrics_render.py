"""Issue 19 (CPU per sale): the CPU of the metrics refresh that follows a sale, in process.

`Metrics` is built as `Daemon._metrics` builds it, with the endpoints a shift's client uses
already observed and a realistic `Snapshot` rendered once. Each round is one sale's worth of
changes, as the daemon makes them between two refreshes: the create request
(`observe_exchange("/user/ticket/create", ...)`), its done outcome (`observe_outcome`), and a
snapshot whose readings moved (time, catalog age, slips printed, last sale, journal size, the
loop's longest callback). Timed with `time.thread_time()` (this thread's CPU: another process's
load does not count, though it still slows this one's caches): `render()` alone, and the
loop's whole refresh as `_refresh` makes it (`_take`, the write decision's key, `render()`;
the worker thread's write is left out). The sale's hooks themselves are not timed. Each figure
is the median of 5 blocks of rounds, each block on a new `Metrics`.

The code measured is the `kioskd` on `PYTHONPATH` (printed first; bench/_common.py is not
imported, as it puts its own tree first on sys.path): run it against two trees alternately,
in one sitting, to compare them.

Reproduce:  PYTHONPATH=. .venv/bin/python bench/bench_metrics_render.py [--rounds 3000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from types import SimpleNamespace

import kioskd
from kioskd.config import MetricsConfig
from kioskd.daemon.metrics import Metrics, PrinterGauges, Snapshot, _steady_snapshot

CREATE = "/user/ticket/create"
# What the client has used by the first sale of a shift (login, catalog, counters, a sale).
ENDPOINTS = (
    "/auth/login",
    "/gaming/get-data",
    "/gaming/products/search",
    "/gaming/inventory/template",
    "/gaming/time",
    "/user/ticket/last",
    CREATE,
    "/user/ticket/pay",
    "/user/ticket/",
)
START = 1_780_000_000.0


def build() -> tuple[Metrics, Snapshot]:
    """The daemon's `Metrics` after a few exchanges and one refresh (every series written)."""
    clock = SimpleNamespace(t=START)
    metrics = Metrics(
        lambda: MetricsConfig(textfile_dir="/nonexistent"),
        terminal_id="T-0042",
        version="1.0.0",
        now=lambda: clock.t,
    )
    for endpoint in ENDPOINTS:
        metrics.observe_exchange(endpoint, 0.08, "ok")
    metrics.observe_exchange("/user/ticket/last", 15.0, "in_doubt")
    snapshot = Snapshot(
        taken_at=START,
        unfinished={"queued": 0, "sending": 0, "in_doubt": 0, "reconciling": 0, "conflict": 0},
        max_queued_operations=20,
        max_queued_amount=500,
        api_up=True,
        catalog_age_s=12.5,
        printer=PrinterGauges(connected=True, online=True, paper="ok", cover="closed"),
        devices={"keypad": True, "scanner": True, "printer": True},
        journal_bytes=1_200_000,
        lights="ready",
        server_time_known=True,
        clock_skew_s=0.2,
        loop_longest_s=0.012,
    )
    metrics.update(snapshot)
    metrics.render()
    return metrics, snapshot


def sale(metrics: Metrics, before: Snapshot, i: int) -> Snapshot:
    """Sale `i`'s changes to the metrics (hooks); the snapshot the next refresh reads."""
    metrics.observe_exchange(CREATE, 0.05 + (i % 7) * 0.04, "ok")
    metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="create"))
    t = START + 30.0 * i
    return dataclasses.replace(
        before,
        taken_at=t,
        catalog_age_s=round(12.5 + 30.0 * i, 1),
        journal_bytes=before.journal_bytes + 4096,
        last_sale_at=t - 1.0,
        slips_printed=before.slips_printed + 1,
        loop_longest_s=max(before.loop_longest_s, 0.012 + (i % 97) * 1e-4),
    )


def refresh(metrics: Metrics, snapshot: Snapshot) -> bytes:
    """What `Metrics._refresh` runs on the loop when a sale moved the counters."""
    metrics._take(lambda: snapshot)
    taken = metrics.collector.snapshot
    assert taken is not None
    key = (metrics._observed, _steady_snapshot(taken))
    assert key != metrics._written_key
    return metrics.render()


def measure(rounds: int) -> tuple[float, float]:
    """(render µs, refresh µs) per sale, CPU of this thread, median of 5 blocks."""
    renders: list[float] = []
    refreshes: list[float] = []
    block = max(1, rounds // 5)
    for _ in range(5):
        metrics, snapshot = build()
        render = whole = 0.0
        for i in range(1, block + 1):
            snapshot = sale(metrics, snapshot, 2 * i)
            metrics.update(snapshot)
            t0 = time.thread_time()
            metrics.render()
            render += time.thread_time() - t0
            snapshot = sale(metrics, snapshot, 2 * i + 1)
            t0 = time.thread_time()
            refresh(metrics, snapshot)
            whole += time.thread_time() - t0
        renders.append(render / block * 1e6)
        refreshes.append(whole / block * 1e6)
    return statistics.median(renders), statistics.median(refreshes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    print(f"kioskd from {kioskd.__file__}")
    render, whole = measure(args.rounds)
    print(f"after a sale: render {render:.1f} µs, refresh on the loop {whole:.1f} µs (CPU)")
    print(
        "RESULT "
        + json.dumps(
            {
                "bench": "metrics_render",
                "render_us": round(render, 1),
                "refresh_us": round(whole, 1),
                "rounds": args.rounds,
            }
        )
    )
    print("reproduce: PYTHONPATH=. .venv/bin/python bench/bench_metrics_render.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
