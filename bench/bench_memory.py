"""Budget 5: RSS of `kioskd run` after start, after 1,000 and after N (10,000) operations:
<= 60 MB, and growth <= 5 MB between 1,000 and N.

Sales are driven through the control socket (``inject-keys``: the same session path as the
keypad, without the evtest text), one at a time, each waited for until the journal says done;
every one is printed on the fake printer. `--ops` sets the checkpoints (the last one is N).
Also reports the durable commits seen by strace when `--strace` is given (see bench_fsync.py).

Reproduce:  .venv/bin/python bench/bench_memory.py [--ops 1000,10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import BenchKiosk, done_count, emit, fix_sim_nagle, proc_rss_mb, sell_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default="1000,10000")
    args = parser.parse_args()
    checkpoints = sorted(int(x) for x in args.ops.split(","))
    fix_sim_nagle()
    rss: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        k = BenchKiosk(os.path.join(tmp, "kiosk"), log_level="warning")
        k.start()
        try:
            k.start_daemon()
            k.wait_catalog()
            pid = k.daemon_pid()
            rss["start"] = round(proc_rss_mb(pid), 1)
            t0 = time.monotonic()
            for i in range(checkpoints[-1]):
                k.ctl("inject-keys", {"text": sell_text(i)})
                while done_count(k) <= i:
                    time.sleep(0.002)
                done = i + 1
                if done in checkpoints:
                    rss[str(done)] = round(proc_rss_mb(pid), 1)
                    print(f"after {done} sales: RSS {rss[str(done)]} MB "
                          f"({time.monotonic() - t0:.0f} s)", flush=True)  # fmt: skip
            status = k.status()
        finally:
            k.close()
    first, last = str(checkpoints[0]), str(checkpoints[-1])
    result = {
        "rss_mb": rss,
        "max_rss_mb": max(rss.values()),
        "growth_mb": round(rss[last] - rss[first], 1),
        "checkpoints": checkpoints,
        "queue": status["queue"],
        "slips_printed": status["slips_printed"],
    }
    print(f"RSS {rss} MB (budget <= 60), growth {first}->{last}: {result['growth_mb']} MB "
          "(budget <= 5)")  # fmt: skip
    emit("memory", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
