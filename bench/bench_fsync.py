"""Budget 6 on the real process: fsync/fdatasync per sale of `kioskd run` (budget <= 3).

Runs the daemon under ``strace -f -c -e trace=fsync,fdatasync`` (``apt-get install -y strace``),
sells N tickets through the control socket and divides the calls made meanwhile by N: two runs
(0 and N sales) so that start-up and shutdown cancel out. (`strace -c` reports system time per
call, not the wall time a commit waits: see RESULTS.md for `strace -T`.)
`bench/bench_commits.py` (journal + outbox in-process) counts the journal's commits.

Reproduce:  .venv/bin/python bench/bench_fsync.py [--sales 50]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time

from _common import BenchKiosk, done_count, emit, fix_sim_nagle, sell_text

# A row of `strace -c`: % time, seconds, usecs/call, calls, [errors,] syscall.
ROW = re.compile(r"^\s*[\d.]+\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:\d+\s+)?(f(?:data)?sync)\s*$", re.M)


def traced(sales: int, tmp: str) -> dict[str, tuple[int, float]]:
    out = os.path.join(tmp, f"strace-{sales}.txt")
    wrap = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out]
    k = BenchKiosk(os.path.join(tmp, f"kiosk-{sales}"), log_level="warning", wrap=wrap)
    k.start()
    try:
        k.start_daemon()
        k.wait_catalog()
        for i in range(sales):
            before = done_count(k)
            k.ctl("inject-keys", {"text": sell_text(i)})
            while done_count(k) <= before:
                time.sleep(0.002)
        k.wait_for(lambda: k.status()["slips_printed"] >= sales, 20)
        k.stop_wrapped()
    finally:
        k.close()
    with open(out) as f:
        text = f.read()
    return {m.group(4): (int(m.group(3)), float(m.group(2))) for m in ROW.finditer(text)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("strace"):
        print("strace is not installed (apt-get install -y strace); see bench_commits.py")
        return 0
    fix_sim_nagle()
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        base = traced(0, tmp)
        full = traced(args.sales, tmp)
    calls = sum(c for c, _ in full.values()) - sum(c for c, _ in base.values())
    usecs = [u for _, u in full.values()]
    result = {
        "sales": args.sales,
        "syncs_per_sale": round(calls / args.sales, 2),
        "by_call": {k: v[0] for k, v in full.items()},
        "strace_system_us_per_call": max(usecs) if usecs else None,
    }
    print(f"fsync+fdatasync per sale of kioskd run: {result['syncs_per_sale']} (budget <= 3); "
          f"({result['by_call']})")  # fmt: skip
    emit("fsync", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
