"""Budget 4: idle cost of `kioskd run` with the watchdog on: CPU <= 0.5 % of one core over
`--seconds` (60), and wake-ups (voluntary context switches per second, all threads).

The daemon runs with ``WATCHDOG_USEC`` set (30 s, as `systemd/kioskd.service`; the harness
normally removes it) against the loopback simulator, the fake printer and both replay FIFOs,
after the catalog is loaded; nothing is typed. CPU is utime+stime from /proc/PID/stat.

Reproduce:  .venv/bin/python bench/bench_idle.py [--seconds 60] [--watchdog-usec 30000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import BenchKiosk, proc_cpu_s, proc_rss_mb, proc_switches, proc_threads, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--watchdog-usec", default="30000000")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(
            os.path.join(tmp, "kiosk"),
            log_level="warning",
            env={"WATCHDOG_USEC": args.watchdog_usec},
        )
        k.start()
        try:
            k.start_daemon()
            k.wait_catalog()
            time.sleep(args.settle)
            pid = k.daemon_pid()
            cpu0, (vol0, inv0), t0 = proc_cpu_s(pid), proc_switches(pid), time.monotonic()
            watchdogs = 0
            end = t0 + args.seconds
            while time.monotonic() < end:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                watchdogs += sum(1 for m in k.notifications() if m == "WATCHDOG=1")
            cpu1, (vol1, inv1), t1 = proc_cpu_s(pid), proc_switches(pid), time.monotonic()
            rss, threads = proc_rss_mb(pid), proc_threads(pid)
        finally:
            k.close()
    wall = t1 - t0
    result = {
        "seconds": round(wall, 1),
        "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / wall, 3),
        "voluntary_switches_per_s": round((vol1 - vol0) / wall, 2),
        "involuntary_switches_per_s": round((inv1 - inv0) / wall, 2),
        "watchdog_pings": watchdogs,
        "threads": threads,
        "rss_mb": round(rss, 1),
    }
    return report(
        "idle",
        result,
        f"idle {result['seconds']} s: CPU {result['cpu_percent_of_one_core']} % of one core "
        f"(budget <= 0.5 %), {result['voluntary_switches_per_s']} voluntary switches/s, "
        f"{watchdogs} WATCHDOG=1, {threads} threads",
    )


if __name__ == "__main__":
    raise SystemExit(main())
