"""Issue 19: the CPU the real daemon spends on one sale (budget: 5 ms here), shipped config.

The real `kioskd run` (shipped timers and log level, metrics textfile on tmpfs as shipped, the
watchdog armed, simulator over loopback HTTP, fake TCP printer, keypad typed as evtest text
into its replay FIFO, previews off). After the catalog and two warm-up sales, each round:
- `--idle-s` seconds with nothing typed: the idle CPU rate (the daemon's timers, the watchdog);
- `--sales` single-wager sales typed `--gap-s` apart (each a new number), then `--tail-s`
  seconds for the last one's slip and metrics; every sale must be done and printed.
CPU is utime+stime of the whole process from /proc/PID/stat (all threads, dead ones
included), 10 ms ticks: hence many sales per round. Gross = CPU during the sales / sales;
marginal (net) = (CPU during the sales - idle rate x their duration) / sales, the idle rate
the median of the rounds' (one idle window that caught the daemon's deferred start-up work
read several times the others and made its round's net figure wrong, low). The event-loop
thread's share is shown apart (the rest: worker threads, the printer, the lights' blinker), and
the kernel's (system time: sockets, the journal's writes and fdatasyncs, the FIFO).

With `--no-metrics` the metrics are off (`metrics.textfile_dir = ""`, nothing listening: not
shipped): what the metrics cost a sale is the difference with a run as shipped.

With `--schedstat` the CPU is read in nanoseconds per thread (see `_cpu_ns`): for A/B runs
of changes worth a millisecond, which the ticks blur (the kernel's share is then not shown).

Reproduce:  .venv/bin/python bench/bench_sale_cpu.py [--sales 30] [--rounds 3] [--schedstat]
            [--textfile-on-disk] [--no-metrics]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    BenchKiosk,
    done_count,
    machine,
    proc_rss_mb,
    proc_schedstat_s,
    report,
    sell_text,
    textfile_on_tmpfs,
)


def _ticks(path: str) -> tuple[float, float]:
    """(utime, stime) in seconds from a /proc stat file."""
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> tuple[float, float, float]:
    """CPU of the whole process, of the main thread (the event loop), and the process's
    system (kernel) time alone."""
    user, system = _ticks(f"/proc/{pid}/stat")
    main = sum(_ticks(f"/proc/{pid}/task/{pid}/stat"))
    return user + system, main, system


def _cpu_ns(pid: int) -> tuple[float, float, float]:
    """`--schedstat`: the same from the threads' schedstat (`proc_schedstat_s`); user and
    kernel time are not told apart (the third figure is 0)."""
    total, main = proc_schedstat_s(pid)
    return total, main, 0.0


def one_round(k: BenchKiosk, pid: int, args: argparse.Namespace, first: int) -> dict[str, float]:
    _cpu = _cpu_ns if args.schedstat else _cpu_ticks
    (c0, m0, s0), t0 = _cpu(pid), time.monotonic()
    time.sleep(args.idle_s)
    (c1, m1, s1), t1 = _cpu(pid), time.monotonic()
    idle_rate, idle_main = (c1 - c0) / (t1 - t0), (m1 - m0) / (t1 - t0)
    idle_sys = (s1 - s0) / (t1 - t0)
    done0, cuts0 = done_count(k), k.printer.core.cuts
    (c0, m0, s0), t0 = _cpu(pid), time.monotonic()
    for i in range(args.sales):
        k.type(sell_text(first + i))
        time.sleep(max(0.0, t0 + (i + 1) * args.gap_s - time.monotonic()))
    k.wait_for(lambda: k.printer.core.cuts >= cuts0 + args.sales, 60, 0.05)
    time.sleep(max(0.0, t0 + args.sales * args.gap_s + args.tail_s - time.monotonic()))
    (c1, m1, s1), t1 = _cpu(pid), time.monotonic()
    done = done_count(k) - done0
    if done != args.sales:
        raise SystemExit(f"{done} of {args.sales} sales done: the figure would be wrong")
    return {
        "idle": idle_rate, "idle_main": idle_main, "idle_sys": idle_sys,
        "cpu": c1 - c0, "main": m1 - m0, "sys": s1 - s0, "wall": t1 - t0, "n": args.sales,
    }  # fmt: skip


def figures(raw: dict[str, float], idle: dict[str, float]) -> dict[str, float]:
    """A round's figures, net of the idle rates `idle` (the rounds' medians: one idle window
    that caught a timer or the daemon's deferred start-up work would make its round's net
    figure wrong, low; here it moves nothing)."""
    wall, n = raw["wall"], raw["n"]
    main = (raw["main"] - idle["idle_main"] * wall) / n
    return {
        "idle_ms_per_s": round(raw["idle"] * 1000, 2),
        "gross_ms_per_sale": round(raw["cpu"] / n * 1000, 2),
        "net_ms_per_sale": round((raw["cpu"] - idle["idle"] * wall) / n * 1000, 2),
        "net_loop_thread_ms_per_sale": round(main * 1000, 2),
        "net_system_ms_per_sale": round((raw["sys"] - idle["idle_sys"] * wall) / n * 1000, 2),
        "seconds": round(wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=30, help="sales a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gap-s", type=float, default=1.0, help="seconds from sale to sale")
    parser.add_argument("--idle-s", type=float, default=20.0, help="idle window a round")
    parser.add_argument("--tail-s", type=float, default=2.0, help="after the last sale")
    parser.add_argument("--log-level", default="info", help="shipped: info")
    parser.add_argument(
        "--textfile-on-disk",
        action="store_true",
        help="the metrics textfile on the disk (the default before issue 19) instead of a "
        "tmpfs folder as shipped (/run/kioskd-metrics)",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help='metrics off (textfile_dir = ""): their cost is the difference with a shipped run',
    )
    parser.add_argument(
        "--schedstat",
        action="store_true",
        help="CPU from /proc/PID/task/*/schedstat (ns) instead of /proc/PID/stat (10 ms ticks)",
    )
    args = parser.parse_args()
    raws: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(
            os.path.join(tmp, "kiosk"),
            log_level=args.log_level,
            env={"WATCHDOG_USEC": "30000000"},
        )
        with k, textfile_on_tmpfs(k, args.textfile_on_disk):
            if args.no_metrics:  # a drop-in after the folder's turns the textfile off
                dropins = k.config_path.with_name(k.config_path.name + ".d")
                dropins.mkdir(exist_ok=True)
                (dropins / "60-no-metrics.toml").write_text('[metrics]\ntextfile_dir = ""\n')
            k.start_daemon()
            k.wait_catalog(60)
            pid = k.daemon_pid()
            cuts = k.printer.core.cuts
            for i in range(2):  # warm-up: the renderer, the connection, the first slips
                k.type(sell_text(900 + i))
                time.sleep(args.gap_s)
            k.wait_for(lambda: k.printer.core.cuts >= cuts + 2, 60, 0.05)
            time.sleep(3.0)
            for r in range(args.rounds):
                raws.append(one_round(k, pid, args, r * args.sales))
                # as it goes, net of its own idle rate; the result takes the rounds' median
                print(f"round {r + 1} (own idle): {figures(raws[-1], raws[-1])}", flush=True)
            rss = proc_rss_mb(pid)
    idle = {n: statistics.median(r[n] for r in raws) for n in ("idle", "idle_main", "idle_sys")}
    rounds = [figures(r, idle) for r in raws]
    keys = (
        "idle_ms_per_s",
        "gross_ms_per_sale",
        "net_ms_per_sale",
        "net_loop_thread_ms_per_sale",
        "net_system_ms_per_sale",
    )
    med: dict[str, Any] = {key: round(statistics.median(r[key] for r in rounds), 2) for key in keys}
    result = {
        **med,
        "net_range": [
            min(r["net_ms_per_sale"] for r in rounds),
            max(r["net_ms_per_sale"] for r in rounds),
        ],
        "rounds": rounds,
        "rss_mb": round(rss, 1),
        "load": round(os.getloadavg()[0], 1),
        "machine": machine(),
        "command": " ".join([".venv/bin/python", "bench/bench_sale_cpu.py", *sys.argv[1:]]),
    }
    kernel = "not apart (--schedstat)" if args.schedstat else f"{med['net_system_ms_per_sale']} ms"
    return report(
        "sale_cpu",
        result,
        f"CPU a sale (median of {args.rounds} rounds of {args.sales} sales {args.gap_s} s apart): "
        f"net {med['net_ms_per_sale']} ms {tuple(result['net_range'])} (budget 5 ms), gross "
        f"{med['gross_ms_per_sale']} ms, event-loop thread {med['net_loop_thread_ms_per_sale']}"
        f" ms, kernel {kernel}; idle {med['idle_ms_per_s']} ms/s; "
        f"load {result['load']}\n"
        f"reproduce: {result['command']}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
