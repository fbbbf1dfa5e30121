"""Issue 19: where the event loop's CPU goes in a sale, by the task each callback stepped.

The real `kioskd run` as in bench_sale_cpu.py (shipped config, the metrics textfile on tmpfs
as shipped, simulator over loopback HTTP,
fake TCP printer, keypad typed as evtest text into its replay FIFO), started with
bench/loop_tasks/sitecustomize.py on its PYTHONPATH: every callback of its loop is timed with
`time.thread_time()` while `--sales` single-wager sales are typed `--gap-s` apart (after three
warm-up sales). Prints the loop's CPU a sale and the heaviest step kinds, each named by where
the task stood when the step ended (``done ...``: the step that finished the task). Naming the
steps is left out of the figures; the timing itself adds a little to each callback: compare
shares, or two trees in one sitting, several runs each (a tree's daemon is `python -m kioskd`
from the current folder: run this script from each tree's folder; the same code read 11-13 ms
from run to run in this VM's slow phase, 6-8 ms in its fast one).

`--functions` times named functions instead (inclusive CPU of their calls on the loop's
thread; nested ones count in both): `sale` for the parts of a sale listed in SALE_FUNCTIONS,
or `module:Class.function,...`.

Reproduce:  .venv/bin/python bench/bench_sale_tasks.py [--sales 40] [--top 20]
            [--functions sale]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from _common import BenchKiosk, report, sell_text, textfile_on_tmpfs

PROBE_DIR = Path(__file__).resolve().parent / "loop_tasks"

# The parts of a sale on the event loop's thread, for `--functions sale`.
SALE_FUNCTIONS = (
    "kioskd.daemon.daemon:Daemon.feed",
    "kioskd.daemon.daemon:Daemon._feedback",
    "kioskd.counter.session:CounterSession.handle",
    "kioskd.outbox.outbox:Outbox._add",
    "kioskd.outbox.outbox:Outbox._finish_done",
    "kioskd.outbox.outbox:Outbox._emit",
    "kioskd.outbox.outbox:Outbox._set_signal",
    "kioskd.journal.store:Journal.add",
    "kioskd.journal.store:Journal.transition",
    "kioskd.journal.store:Journal.mark_printed",
    "kioskd.journal.store:Journal._open_view",
    "kioskd.daemon.daemon:Daemon._on_outcome",
    "kioskd.daemon.executor:Executor.on_outcome",
    "logging:Logger._log",
    "kioskd.daemon.metrics:Metrics._take",
    "kioskd.daemon.metrics:Metrics.render",
    "httpx:AsyncClient.build_request",
    "kioskd.banklot.client:BanklotClient._classify",
    "kioskd.daemon.spooler:receipt_for_job",
    "kioskd.daemon.spooler:Spooler._mark",
    "kioskd.lights:Lights.set_state",
    "kioskd.lights:Lights.signal",
    "kioskd.clock:ServerTimeClock.now",
)


def _short(name: str, width: int = 140) -> str:
    """A long chain of coroutines with its middle left out (its ends say the most)."""
    return name if len(name) <= width else f"{name[:50]} ... {name[-(width - 55) :]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=40)
    parser.add_argument("--gap-s", type=float, default=1.0, help="seconds from sale to sale")
    parser.add_argument("--top", type=int, default=20, help="step kinds shown")
    parser.add_argument(
        "--functions",
        default="",
        help="time these functions instead of the steps: `sale` (SALE_FUNCTIONS) or "
        "module:Class.function,...",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        out = Path(tmp) / "tasks.txt"
        path = [str(PROBE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {
            "KIOSKD_BENCH_LOOP_TASKS": str(out),
            "PYTHONPATH": os.pathsep.join(path),
            "WATCHDOG_USEC": "30000000",
        }
        if args.functions:
            names = SALE_FUNCTIONS if args.functions == "sale" else args.functions.split(",")
            env["KIOSKD_BENCH_LOOP_FUNCTIONS"] = ",".join(names)
        k = BenchKiosk(Path(tmp) / "kiosk", env=env)
        with k, textfile_on_tmpfs(k):  # the metrics textfile on tmpfs, as shipped
            k.start_daemon(timeout_s=120)
            k.wait_catalog(60)
            time.sleep(3.0)
            for i in range(3):  # warm-up: the renderer, the connection, the first slips
                k.type(sell_text(900 + i))
                time.sleep(args.gap_s)
            pid = k.daemon_pid()
            time.sleep(2.0)
            os.kill(pid, signal.SIGUSR2)
            cuts = k.printer.core.cuts
            for i in range(args.sales):
                k.type(sell_text(i))
                time.sleep(args.gap_s)
            k.wait_for(lambda: k.printer.core.cuts >= cuts + args.sales, 60, 0.05)
            time.sleep(2.0)
            os.kill(pid, signal.SIGUSR2)
            k.wait_for(out.exists, 10, 0.05)
            time.sleep(0.2)
            lines = out.read_text().splitlines()
    total = float(lines[0].split()[1]) / args.sales * 1000
    steps = []
    for line in lines[1:]:
        seconds, calls, name = line.split(" ", 2)
        steps.append((float(seconds) / args.sales * 1000, int(calls) / args.sales, name))
    shown = steps[: args.top]
    if args.functions:  # nested functions count in both: no sum
        print(f"loop CPU a sale {total:.2f} ms (timed); by function, inclusive:")
    else:
        in_steps = sum(s[0] for s in steps)
        print(f"loop CPU a sale {total:.2f} ms (timed), in callbacks {in_steps:.2f} ms")
    for ms, calls, name in shown:
        print(f"{ms:6.2f} ms {ms / total * 100:5.1f} % {calls:4.1f}/sale  {_short(name)}")
    command = " ".join([".venv/bin/python", "bench/bench_sale_tasks.py", *sys.argv[1:]])
    return report(
        "sale_tasks",
        {
            "loop_ms_per_sale": round(total, 2),
            "steps": [[round(ms, 3), round(c, 2), n] for ms, c, n in shown],
            "command": command,
        },
        f"reproduce: {command}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
