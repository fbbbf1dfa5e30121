"""Issue 19 item 5: what trusting the system's CAs costs an https:// kiosk at start.

The daemon builds its API client (and its TLS context) before READY=1. Two ways, each in a
fresh interpreter that has imported `ssl` and `kioskd.banklot.client` already (the daemon's
state at that point), `--runs` times, medians:
- `whole_file`: `ssl.create_default_context()`, what kioskd did before (OpenSSL parses every CA
  of the system file);
- `on_demand`: `kioskd.banklot.trust.client_context()`, what it does now (the hashed folder:
  a CA is read when a handshake names it).
Each run prints the CPU time (process CPU around the call), the RSS growth and the CAs the
context holds. The simulator speaks http://, so `bench_history.py` and `bench_rss.py` never
build a TLS context: this is the figure an https:// kiosk adds to theirs.

Reproduce:  .venv/bin/python bench/bench_tls.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _common import ROOT, emit, machine

PROBE = """
import json, os, ssl, sys, time
import kioskd.banklot.client
from kioskd.banklot import trust

def rss_kb():
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

before, t0 = rss_kb(), time.process_time()
if sys.argv[1] == "whole_file":
    ctx = ssl.create_default_context()
else:
    ctx = trust.client_context()
cpu = time.process_time() - t0
print(json.dumps({"cpu_ms": cpu * 1000, "rss_mb": (rss_kb() - before) / 1024,
                  "cas": ctx.cert_store_stats()["x509_ca"]}))
"""

WAYS = ("whole_file", "on_demand")


def measure(runs: int) -> dict[str, dict[str, float]]:
    seen: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for _ in range(runs):
        for way in WAYS:  # alternated, so both see the same minutes of this shared machine
            out = subprocess.run(
                [sys.executable, "-c", PROBE, way],
                cwd=ROOT, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            seen[way].append(json.loads(out))
    return {
        way: {key: round(statistics.median(r[key] for r in rows), 2) for key in rows[0]}
        for way, rows in seen.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    out = measure(args.runs)
    for way, figures in out.items():
        print(
            f"{way:>10}: {figures['cpu_ms']} ms CPU, +{figures['rss_mb']} MB RSS, "
            f"{int(figures['cas'])} CAs loaded"
        )
    print(f"reproduce: .venv/bin/python bench/bench_tls.py --runs {args.runs}")
    emit("tls", {**out, "runs": args.runs, "machine": machine()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
