"""Issue 19: the CPU of one log line through kioskd's stderr handler (redaction included).

A sale writes two lines at `info` ("create done", "printed ticket slip"). This sends a sale's
"done" line, with its fields, through `setup_logging("info", "stderr")` (the redacting filter
and the `key=value` formatter, into memory instead of a pipe) `--lines` times a round and
prints the median CPU of a line over the rounds. The same line in the daemon's sale costs more
(it runs once between other work, not in a tight loop): compare two trees, not the daemon.
Under systemd the handler is the journal's native one; its formatting differs, not the filter.

Reproduce:  .venv/bin/python bench/bench_log_line.py [--lines 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import time

from _common import machine, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20000, help="lines a round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from kioskd.daemon import logs as klog

    stream = io.StringIO()
    klog.setup_logging("info", "stderr", terminal_id="kiosk-0001", stream=stream)
    klog.register_secret("a-long-api-password", permanent=True)
    log = logging.getLogger("kioskd.daemon")
    rounds = []
    for _ in range(args.rounds):
        stream.seek(0)
        stream.truncate()
        start = time.thread_time()
        for i in range(args.lines):
            fields = {"OP_ID": i, "OP_KIND": "create", "TICKET_NUMBER": 32426439 + i}
            log.info("%s done (%s)", "create", "answered",
                     extra={**fields, "MESSAGE_ID": klog.SALE_DONE})  # fmt: skip
        rounds.append(round((time.thread_time() - start) / args.lines * 1e6, 2))
    median = statistics.median(rounds)
    command = " ".join([".venv/bin/python", "bench/bench_log_line.py", *sys.argv[1:]])
    return report(
        "log_line",
        {"us_per_line": median, "rounds": rounds, "machine": machine(), "command": command},
        f"a sale's log line through the stderr handler: {median} us of CPU (rounds {rounds})\n"
        f"reproduce: {command}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
