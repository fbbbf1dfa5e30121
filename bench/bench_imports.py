"""Issue 19 item 5: what `kioskd run` imports, and what that costs, metrics on and off.

The real daemon (simulator over loopback HTTP, fake TCP printer, the shipped timers, previews
off), per metrics setting:
- `--starts` starts: CPU-seconds to READY=1 (median), RSS after READY and the first catalog
  (median), RSS once the first slip is printed (python-escpos loads then);
- one more start under `PYTHONPROFILEIMPORTTIME=1`: the modules imported by READY and after the
  first slip, and the cumulative import time of the heavy packages (under the profiler, so
  slower than a plain start: compare the packages with each other, not with the CPU-seconds).

Reproduce:  .venv/bin/python bench/bench_imports.py --starts 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BenchKiosk, emit, proc_cpu_s, proc_rss_mb, sell_text

IMPORT = re.compile(r"^import time:\s+-?\d+ \|\s+(-?\d+) \|( *)(\S+)\s*$", re.MULTILINE)
HEAVY = (
    "escpos.escpos",
    "barcode",
    "PIL",
    "prometheus_client",
    "httpx",
    "httpx._main",
    "httpcore",
    "anyio",
    "ssl",
)


def _modules(log: str) -> dict[str, int]:
    """Module -> cumulative import time (us), top of each package's own import."""
    return {name: int(us) for us, _indent, name in IMPORT.findall(log)}


def _slip(k: BenchKiosk) -> None:
    cuts = k.printer.core.cuts
    k.type(sell_text(1))
    k.wait_for(lambda: k.printer.core.cuts > cuts, 60)


def measure(metrics: bool, starts: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(Path(tmp) / "k", metrics=metrics)
        with k:
            cpu, rss, rss_slip = [], [], []
            for _ in range(starts):
                k.start_daemon(timeout_s=120)
                pid = k.daemon_pid()
                cpu.append(proc_cpu_s(pid))
                k.wait_catalog(60)
                time.sleep(1.0)
                rss.append(proc_rss_mb(pid))
                _slip(k)
                time.sleep(0.5)
                rss_slip.append(proc_rss_mb(pid))
                k.stop_daemon()
            out["cpu_to_ready_s"] = round(statistics.median(cpu), 3)
            out["rss_after_ready_mb"] = round(statistics.median(rss), 1)
            out["rss_after_first_slip_mb"] = round(statistics.median(rss_slip), 1)
            k.extra_env = {"PYTHONPROFILEIMPORTTIME": "1"}
            k.log_path.write_bytes(b"")
            k.start_daemon(timeout_s=120)
            k.wait_catalog(60)
            time.sleep(1.0)
            ready = _modules(k.log_path.read_text(errors="replace"))
            _slip(k)
            time.sleep(0.5)
            after = _modules(k.log_path.read_text(errors="replace"))
            k.stop_daemon()
    out["modules_at_ready"] = len(ready)
    out["modules_after_first_slip"] = len(after)
    out["import_ms_at_ready"] = {p: round(ready[p] / 1000, 1) for p in HEAVY if p in ready}
    out["loaded_by_first_slip"] = sorted({m.split(".")[0] for m in set(after) - set(ready)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, Any] = {}
    for metrics in (True, False):
        name = "metrics_on" if metrics else "metrics_off"
        result[name] = measure(metrics, args.starts)
        print(name, result[name], flush=True)
    emit("imports", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
