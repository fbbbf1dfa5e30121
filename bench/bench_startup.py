"""Budget 3: start-up of `kioskd run`, from spawning the process to READY=1 (<= 1.0 s).

The real process against the loopback simulator (`VirtualKiosk`), started and stopped `--runs`
times; READY=1 is read from the harness's own notify socket. `--importtime` also prints the
slowest imports of one start (``python -X importtime``), the usual suspect.

Reproduce:  .venv/bin/python bench/bench_startup.py [--runs 10] [--importtime]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

from _common import ROOT, BenchKiosk, emit, summary


def importtime(top: int = 12) -> list[tuple[float, str]]:
    """Cumulative import time (ms) of the slowest modules behind `kioskd run`'s imports."""
    code = "import kioskd.cli, kioskd.commands.run, kioskd.daemon.daemon"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+-?\d+ \|\s+(-?\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(2)) <= 3:  # top-level imports only (indent of one level)
            rows.append((int(m.group(1)) / 1000, m.group(3)))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    samples = []
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(os.path.join(tmp, "kiosk"), log_level="warning")
        k.start()
        try:
            for _ in range(args.runs + 1):  # the first start warms the page cache
                k.start_daemon()
                samples.append(time.monotonic() - k.spawned_at)
                k.stop_daemon()
        finally:
            k.close()
    result = {"startup_s": summary(samples[1:], scale=1.0), "first_start_s": round(samples[0], 3)}
    print(f"spawn -> READY=1: {result['startup_s']} s (budget <= 1.0 s)")
    if args.importtime:
        rows = importtime()
        result["slowest_imports_ms"] = [[round(ms, 1), name] for ms, name in rows]
        for ms, name in rows:
            print(f"  import {name}: {ms:.1f} ms")
    emit("startup", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
