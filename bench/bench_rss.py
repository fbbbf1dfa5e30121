"""Issue 19 item 5: where the daemon's resident memory goes after start (budget: 45 MB).

The real `kioskd run` (simulator over loopback HTTP, fake TCP printer, shipped timers, previews
off), `--starts` times; each start is read from `/proc/PID/smaps` at four moments:
- READY=1;
- started: the first catalog refresh done (`catalog_age_s` younger than the process: the
  catalog cached in the journal is there from READY=1 on), then 2 s for the metrics built
  after it and the memory given back after the refresh;
- first_key: the counter's first key typed (`+`, a sale begins), which has the ESC/POS
  renderer loaded by a worker (seen from outside: Pillow's `_imaging` library is mapped);
- first_slip: that sale finished and printed.
The first sale's last key -> paper and a second sale's are timed too (the renderer loads while
the first one is typed, so its slip should not wait for it).
Each reading: RSS, anonymous memory (the heap `[heap]`, other anonymous mappings: pymalloc
arenas, thread arenas and stacks) and file-backed pages (libraries, byte-code). Medians.

Reproduce:  .venv/bin/python bench/bench_rss.py --starts 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BenchKiosk, emit, sell_text

RENDERER_MAPPED = "PIL/_imaging"  # mapped once python-escpos (Pillow) is imported


def smaps(pid: int) -> dict[str, float]:
    """RSS by kind of mapping, MB."""
    out = {"rss": 0.0, "anon": 0.0, "heap": 0.0, "file": 0.0}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(None, 6)
        if "-" in head[0] and ":" not in head[0]:  # a mapping's first line
            name = head[5] if len(head) > 5 else ""
            continue
        if head[0] == "Rss:":
            mb = int(head[1]) / 1024
            out["rss"] += mb
            if name == "[heap]":
                out["heap"] += mb
            if name.startswith("/"):
                out["file"] += mb
            else:
                out["anon"] += mb
    return {k: round(v, 2) for k, v in out.items()}


def renderer_loaded(pid: int) -> bool:
    return RENDERER_MAPPED in Path(f"/proc/{pid}/maps").read_text()


def measure(starts: int) -> dict[str, Any]:
    phases: dict[str, list[dict[str, float]]] = {
        "ready": [], "started": [], "first_key": [], "first_slip": []
    }  # fmt: skip
    slip_ms: dict[str, list[float]] = {"first": [], "second": []}
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(Path(tmp) / "k", log_level="warning")
        with k:
            k.prime()
            for _ in range(starts):
                k.start_daemon(timeout_s=120)
                pid = k.daemon_pid()
                phases["ready"].append(smaps(pid))
                k.wait_for(k.fresh_catalog, 60)
                time.sleep(2.0)
                phases["started"].append(smaps(pid))
                text = sell_text(1)
                k.type(text[0])  # "+": a sale begins
                k.wait_for(lambda pid=pid: renderer_loaded(pid), 60)
                time.sleep(1.0)
                phases["first_key"].append(smaps(pid))
                for nth, keys in (("first", text[1:]), ("second", sell_text(2))):
                    cuts = k.printer.core.cuts
                    t0 = time.monotonic()
                    k.type(keys)
                    k.wait_for(lambda cuts=cuts: k.printer.core.cuts > cuts, 60, poll_s=0.005)
                    slip_ms[nth].append((time.monotonic() - t0) * 1000)
                    time.sleep(0.5)
                    if nth == "first":
                        phases["first_slip"].append(smaps(pid))
                k.stop_daemon()
    out: dict[str, Any] = {
        phase: {key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}
        for phase, runs in phases.items()
    }
    out["keys_to_paper_ms"] = {n: round(statistics.median(v), 1) for n, v in slip_ms.items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    out = measure(args.starts)
    for phase, figures in out.items():
        unit = "ms" if phase.endswith("_ms") else "MB"
        print(f"{phase:>11}: " + ", ".join(f"{k} {v} {unit}" for k, v in figures.items()))
    print(f"reproduce: .venv/bin/python bench/bench_rss.py --starts {args.starts}")
    emit("rss", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
