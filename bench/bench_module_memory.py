"""Issue 19 item 5: which packages make the RSS that `kioskd run` gains right after READY=1.

The real daemon (shipped config, simulator over loopback HTTP) starts once under
`PYTHONPROFILEIMPORTTIME=1`; its log says, in order, every module it imported before its
"ready" line and after it, until the first catalog refresh is done. Then a fresh interpreter
imports the modules of before READY=1 and weighs, with `tracemalloc`, each module of after it
in the daemon's order (a package's own submodules first, as the import log lists them): the
Python objects each import made, summed by top-level package. What a package pulls in that
nothing loaded before (the stdlib's `email`, `http.server`, ...) counts for it, in the order
the daemon met them. Objects only, not the allocator's slack nor C libraries' pages: the
sum is below the RSS growth `bench_rss.py` reads from /proc.

Reproduce:  .venv/bin/python bench/bench_module_memory.py
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, BenchKiosk, emit

IMPORT = re.compile(r"^import time:\s+-?\d+ \|\s+-?\d+ \|\s*(\S+)\s*$")  # threads: < 0
READY = " ready "

WEIGH = """
import importlib, json, sys, tracemalloc
before, after = json.loads(sys.stdin.read())
for name in before:
    try:
        importlib.import_module(name)
    except Exception:
        pass
tracemalloc.start()
weights = {}
for name in after:
    if name in sys.modules:
        continue
    start = tracemalloc.get_traced_memory()[0]
    try:
        importlib.import_module(name)
    except Exception:
        continue
    top = name.split(".")[0]
    weights[top] = weights.get(top, 0) + tracemalloc.get_traced_memory()[0] - start
print(json.dumps(weights))
"""


def import_log() -> tuple[list[str], list[str]]:
    """The modules the daemon imported before its "ready" line, and after it."""
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(Path(tmp) / "k", log_level="info")
        with k:
            k.prime()
            k.extra_env = {"PYTHONPROFILEIMPORTTIME": "1"}
            k.log_path.write_bytes(b"")
            k.start_daemon(timeout_s=120)
            k.wait_for(k.fresh_catalog, 60)  # the first refresh done
            time.sleep(2.0)
            lines = k.log_path.read_text(errors="replace").splitlines()
            k.stop_daemon()
    before: list[str] = []
    after: list[str] = []
    seen_ready = False
    for line in lines:
        seen_ready = seen_ready or (READY in line and "kioskd" in line and "INFO" in line)
        found = IMPORT.match(line)
        if found:
            (after if seen_ready else before).append(found.group(1))
    return before, after


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    before, after = import_log()
    weighed = subprocess.run(
        [sys.executable, "-c", WEIGH],
        input=json.dumps([before, after]), cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    weights = {k: round(v / 1e6, 2) for k, v in json.loads(weighed).items()}
    ranked = dict(sorted(weights.items(), key=lambda kv: -kv[1]))
    for name, mb in ranked.items():
        if mb >= 0.05:
            print(f"{mb:6.2f} MB  {name}")
    total = round(sum(ranked.values()), 2)
    print(f"{total:6.2f} MB  in all ({len(after)} modules imported after READY=1, "
          f"{len(before)} before)")  # fmt: skip
    print("reproduce: .venv/bin/python bench/bench_module_memory.py")
    emit("module_memory", {"after_ready_mb": ranked, "total_mb": total,
                           "modules_before": len(before), "modules_after": len(after)})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
