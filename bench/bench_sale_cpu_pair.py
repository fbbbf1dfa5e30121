"""Issue 19: the CPU a sale costs in two source trees, measured side by side in one run.

Why: this shared VM changes speed over minutes (the same tree read 6.6 and 8.1 ms a sale in
one half hour with `bench_sale_cpu.py`), so two trees measured one after the other cannot tell
apart a change worth a few tenths of a millisecond. Here both kiosks run at once, each the real
`kioskd run` of its tree (shipped config, metrics textfile on tmpfs, simulator, fake printer,
keypad through the replay FIFO, as `bench_sale_cpu.py`), and their sales alternate half a
second apart, each kiosk selling once a second: whatever the machine does, both meet it.

Each round: `--idle-s` of nothing (each daemon's idle rate), then `--sales` sales on each;
CPU is read in nanoseconds from /proc/PID/task/*/schedstat (the whole process) and net of the
idle rate, as `bench_sale_cpu.py --schedstat`. The figure to read is the difference B - A of
each round (and its median): the rounds' absolute figures move with the machine.

The daemon of a tree is started in that folder (`python -m kioskd` imports the tree's own
package first), with this interpreter and its installed dependencies.

Reproduce:  git worktree add /tmp/kioskd-a <commit> && ln -s "$PWD/.venv" /tmp/kioskd-a/.venv
            .venv/bin/python bench/bench_sale_cpu_pair.py --a /tmp/kioskd-a --b . [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    BenchKiosk,
    done_count,
    machine,
    proc_schedstat_s,
    report,
    sell_text,
    textfile_on_tmpfs,
)


def _cpu_s(pid: int) -> float:
    """The process's CPU so far (every live thread), seconds."""
    return proc_schedstat_s(pid)[0]


def _kiosk(tmp: str, name: str, tree: str) -> BenchKiosk:
    """A kiosk whose daemon runs in `tree` (`env --chdir`: the same process, no wrapper
    child, so its pid is the daemon's)."""
    return BenchKiosk(
        os.path.join(tmp, name),
        log_level="info",
        env={"WATCHDOG_USEC": "30000000"},
        wrap=["env", f"--chdir={os.path.abspath(tree)}"],
    )


def one_round(
    kiosks: list[BenchKiosk], pids: list[int], args: argparse.Namespace, first: int
) -> list[float]:
    """Net CPU a sale of each kiosk (ms) in one round."""
    c0, t0 = [_cpu_s(p) for p in pids], time.monotonic()
    time.sleep(args.idle_s)
    c1, t1 = [_cpu_s(p) for p in pids], time.monotonic()
    idle = [(b - a) / (t1 - t0) for a, b in zip(c0, c1, strict=True)]
    done0 = [done_count(k) for k in kiosks]
    cuts0 = [k.printer.core.cuts for k in kiosks]
    c0, t0 = [_cpu_s(p) for p in pids], time.monotonic()
    step = args.gap_s / len(kiosks)
    for i in range(args.sales):
        for j, k in enumerate(kiosks):
            k.type(sell_text(first + i))
            slot = t0 + i * args.gap_s + (j + 1) * step
            time.sleep(max(0.0, slot - time.monotonic()))
    for k, cuts in zip(kiosks, cuts0, strict=True):
        k.wait_for(lambda k=k, cuts=cuts: k.printer.core.cuts >= cuts + args.sales, 60, 0.05)
    time.sleep(max(0.0, t0 + args.sales * args.gap_s + args.tail_s - time.monotonic()))
    c1, t1 = [_cpu_s(p) for p in pids], time.monotonic()
    for k, d0 in zip(kiosks, done0, strict=True):
        if done_count(k) - d0 != args.sales:
            raise SystemExit("not every sale was done: the figures would be wrong")
    wall = t1 - t0
    return [
        round((b - a - rate * wall) / args.sales * 1000, 3)
        for a, b, rate in zip(c0, c1, idle, strict=True)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="source tree A (the baseline)")
    parser.add_argument("--b", required=True, help="source tree B (the change)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sales", type=int, default=20, help="sales a round on each kiosk")
    parser.add_argument(
        "--gap-s", type=float, default=1.0, help="seconds between two sales of one kiosk"
    )
    parser.add_argument("--idle-s", type=float, default=10.0, help="idle window a round")
    parser.add_argument("--tail-s", type=float, default=2.0, help="after the last sale")
    args = parser.parse_args()
    for tree in (args.a, args.b):
        if not (Path(tree) / "kioskd" / "__main__.py").is_file():
            raise SystemExit(f"{tree}: not a kioskd source tree")
    rows: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        kiosks = [_kiosk(tmp, "a", args.a), _kiosk(tmp, "b", args.b)]
        with kiosks[0], kiosks[1], textfile_on_tmpfs(kiosks[0]), textfile_on_tmpfs(kiosks[1]):
            for k in kiosks:
                k.start_daemon()
            for k in kiosks:
                k.wait_catalog(60)
            pids = [k.proc.pid for k in kiosks if k.proc is not None]  # `env` execs the daemon
            for pid, tree in zip(pids, (args.a, args.b), strict=True):
                if os.path.realpath(f"/proc/{pid}/cwd") != os.path.realpath(tree):
                    raise SystemExit(f"the daemon {pid} does not run in {tree}")
            cuts = [k.printer.core.cuts for k in kiosks]
            for i in range(2):  # warm-up: the renderer, the connection, the first slips
                for k in kiosks:
                    k.type(sell_text(900 + i))
                time.sleep(args.gap_s)
            for k, c in zip(kiosks, cuts, strict=True):
                k.wait_for(lambda k=k, c=c: k.printer.core.cuts >= c + 2, 60, 0.05)
            time.sleep(3.0)
            for r in range(args.rounds):
                rows.append(one_round(kiosks, pids, args, r * args.sales))
                a, b = rows[-1]
                print(f"round {r + 1}: A {a} ms, B {b} ms, B - A {b - a:+.3f} ms", flush=True)
    diffs = [b - a for a, b in rows]
    result = {
        "a": args.a,
        "b": args.b,
        "a_ms": [a for a, _ in rows],
        "b_ms": [b for _, b in rows],
        "b_minus_a_ms": [round(d, 3) for d in diffs],
        "median_b_minus_a_ms": round(statistics.median(diffs), 3),
        "machine": machine(),
        "command": " ".join([".venv/bin/python", "bench/bench_sale_cpu_pair.py", *sys.argv[1:]]),
    }
    return report(
        "sale_cpu_pair",
        result,
        f"CPU a sale, side by side ({args.rounds} rounds of {args.sales} sales each, "
        f"{args.gap_s} s apart on each kiosk): A median {statistics.median(result['a_ms']):.2f}"
        f" ms, B median {statistics.median(result['b_ms']):.2f} ms; B - A by round "
        f"{result['b_minus_a_ms']}, median {result['median_b_minus_a_ms']:+.3f} ms\n"
        f"reproduce: {result['command']}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
