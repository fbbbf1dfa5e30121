"""What the Prometheus metrics cost (issue 14): the idle `kioskd run` with the textfile written
every 5 s (the default) against the same daemon with metrics off, and one refresh in process
(snapshot of a realistic registry rendered and written atomically).

Idle: as bench_idle.py (watchdog on, catalog loaded, nothing typed), CPU utime+stime from
/proc/PID/stat over `--seconds`, RSS at the end; metrics on and off alternate `--rounds` times so
both see the same background load. Refresh: `--refreshes` renders + atomic writes of a registry
with 9 endpoints x 3 outcomes observed (the histogram dominates), in a temporary folder.

Reproduce:  .venv/bin/python bench/bench_metrics.py [--seconds 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import BenchKiosk, emit, proc_cpu_s, proc_rss_mb

from kioskd.config import MetricsConfig
from kioskd.daemon.metrics import Metrics, PrinterGauges, Snapshot

ENDPOINTS = (
    "/auth/login",
    "/gaming/get-data",
    "/gaming/products/search",
    "/gaming/inventory/template",
    "/user/ticket/last",
    "/user/ticket/create",
    "/user/ticket/pay",
    "/user/ticket/cancel",
    "/user/ticket/",
)


def idle(metrics: bool, seconds: float, settle: float) -> tuple[float, float, int]:
    """(CPU % of one core, RSS MB, textfile writes seen) of an idle daemon."""
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(
            os.path.join(tmp, "kiosk"),
            log_level="warning",
            metrics=metrics,
            env={"WATCHDOG_USEC": "30000000"},
        )
        k.start()
        try:
            k.start_daemon()
            k.wait_catalog()
            time.sleep(settle)
            pid = k.daemon_pid()
            prom = k.metrics_dir / "kioskd.prom"
            writes, last = 0, prom.stat().st_mtime_ns if prom.exists() else 0
            cpu0, t0 = proc_cpu_s(pid), time.monotonic()
            while time.monotonic() < t0 + seconds:
                time.sleep(0.5)
                now = prom.stat().st_mtime_ns if prom.exists() else 0
                writes += now != last
                last = now
            cpu1, t1 = proc_cpu_s(pid), time.monotonic()
            rss = proc_rss_mb(pid)
        finally:
            k.close()
    return 100 * (cpu1 - cpu0) / (t1 - t0), rss, writes


def refresh_ms(n: int) -> tuple[float, float, int]:
    """(render ms, render + atomic write ms, file bytes) per refresh, in process."""
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as folder:
        m = Metrics(
            lambda: MetricsConfig(textfile_dir=folder), terminal_id="t", version="v", now=time.time
        )
        for endpoint in ENDPOINTS:
            for outcome in ("ok", "rejected", "in_doubt"):
                m.observe_exchange(endpoint, 0.1, outcome)
        snap = Snapshot(
            taken_at=time.time(),
            catalog_age_s=1.0,
            printer=PrinterGauges(connected=True, online=True, paper="ok", cover="closed"),
            devices={"scanner": True, "keypad": True, "printer": True},
            last_sale_at=time.time(),
        )
        m.update(snap)
        t = time.perf_counter()
        for _ in range(n):
            m.render()
        render = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for _ in range(n):
            m.refresh(lambda: snap)
        both = (time.perf_counter() - t) / n
        size = os.path.getsize(os.path.join(folder, "kioskd.prom"))
    return render * 1000, both * 1000, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--refreshes", type=int, default=500)
    args = parser.parse_args()
    render, both, size = refresh_ms(args.refreshes)
    print(f"refresh: render {render:.2f} ms, render + atomic write {both:.2f} ms, {size} bytes")
    on: list[tuple[float, float, int]] = []
    off: list[tuple[float, float, int]] = []
    for _ in range(args.rounds):
        on.append(idle(True, args.seconds, args.settle))
        off.append(idle(False, args.seconds, args.settle))
    for name, runs in (("on", on), ("off", off)):
        cpu = ", ".join(f"{c:.3f}" for c, _r, _w in runs)
        rss = ", ".join(f"{r:.1f}" for _c, r, _w in runs)
        writes = ", ".join(str(w) for _c, _r, w in runs)
        print(f"idle, metrics {name}: CPU {cpu} % of one core; RSS {rss} MB; writes seen {writes}")
    emit(
        "metrics",
        {
            "render_ms": round(render, 2),
            "refresh_ms": round(both, 2),
            "textfile_bytes": size,
            "idle_cpu_percent_on": [round(c, 3) for c, _r, _w in on],
            "idle_cpu_percent_off": [round(c, 3) for c, _r, _w in off],
            "rss_mb_on": [round(r, 1) for _c, r, _w in on],
            "rss_mb_off": [round(r, 1) for _c, r, _w in off],
            "seconds": args.seconds,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
