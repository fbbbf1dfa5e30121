"""Issue 19: what a long history costs the real `kioskd run` (an empty journal against 90 days,
1 year and 5 years of a busy counter).

Journals are made by `kioskd.proving.history` through the journal's own API (550 operations a
day, about 1.15 KB each with their history and slips; 5 years = the newest year through the
API and four copies of it shifted back a year each, see `copy_back`) and kept in `--cache` to
be reused. Each is given to the real daemon (simulator over loopback HTTP, fake TCP printer)
with the shipped config except `journal.retention_days = 3650` (so the history stays while we
measure; `--purge` measures the shipped 90 days on a journal a week past them). Per journal:

- spawn -> READY=1 (median of `--starts`), CPU-seconds to READY, RSS after the catalog;
- a shift: `--sales` rounds of two sales, a payout scan of the first (journaled, refused:
  not a winner) and a cancel of the second (`-` then its barcode: the cancel slip looks up
  the sale's amount), each
  timed from the last input byte to the first printed byte; `kioskctl status` and
  `kioskctl queue` timed from the client, the daemon's peak RSS (VmHWM) before and after the
  queue; the loop-lag probe's longest callback since READY=1 (`status`); watchdog on
  (WATCHDOG_USEC as the shipped unit sets it): it would fire only if one callback held the loop
  for half of WatchdogSec or start-up passed TimeoutStartSec, which the figures show.

With `--purge`: a journal with `--purge-days` of operations past the shipped 90-day retention
(plus 90 days inside it), started with the shipped config: READY time, how long the background
purge takes, the longest callback while it runs and a sale typed during it, the journal
file's size before and after (once its freed pages are given back) and how long that took.

With `--idle-io SECONDS`: the bytes the daemon writes (`/proc/PID/io`) and its fdatasyncs
(strace), idle for SECONDS, then per sale over `--sales` sales typed on the keypad, then per
payout: each of those tickets scanned to be paid (the server refuses: not a winner).

Reproduce:  .venv/bin/python bench/bench_history.py --sizes 0,90,365,1825 [--cache DIR]
            .venv/bin/python bench/bench_history.py --purge [--purge-days 7]
            .venv/bin/python bench/bench_history.py --idle-io 600 --sales 20 [--textfile-on-disk]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    BenchKiosk,
    Probe,
    emit,
    is_query_only,
    proc_cpu_s,
    proc_rss_mb,
    textfile_on_tmpfs,
)

DAY = 86400.0
KEEP = "[journal]\nretention_days = 3650\n"


def prepare(days: int, path: Path) -> dict[str, Any]:
    """A journal of `days` of a busy counter ending now, at `path` (reused when present)."""
    from kioskd.journal.store import Journal
    from kioskd.proving.history import copy_back, fill

    if path.exists():
        return {"reused": True, "bytes": path.stat().st_size}
    tmp = path.with_suffix(".part")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.monotonic()
    j = Journal(tmp, retention_days=3650)
    if days:
        filled = fill(j, days=min(days, 365), end=time.time() - 60)
        if days > 365:
            copy_back(j, days // 365 - 1)
        print(f"  filled {days} days: {filled.operations} by the API in {filled.seconds:.0f} s")
    j.checkpoint()
    j.close()
    tmp.rename(path)
    seconds = round(time.monotonic() - t0, 1)
    return {"reused": False, "seconds": seconds, "bytes": path.stat().st_size}


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return 0.0


def _first_print(probe: Probe, t0: float, timeout_s: float = 15.0) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with probe.lock:
            for t, data in probe.printer:
                if t >= t0 and not is_query_only(data):
                    return t - t0
        time.sleep(0.002)
    return None


def measure(journal: Path | None, workdir: str, starts: int, sales: int, extra: str) -> dict:
    from kioskd.counter.scan import barcode_data
    from kioskd.proving.harness import keypad_events, scanner_events
    from kioskd.proving.sim import games as catalog

    probe = Probe()
    probe.install_app()
    k = BenchKiosk(workdir, log_level="warning", env={"WATCHDOG_USEC": "30000000"})
    k.start()
    dropins = k.config_path.with_name(k.config_path.name + ".d")  # kioskd.toml.d/
    dropins.mkdir(exist_ok=True)
    (dropins / "50-history.toml").write_text(extra)
    probe.install_sim(k.sim)
    probe.install_printer(k.printer.core)
    out: dict[str, Any] = {}
    try:
        k.start_daemon()  # identity and a cached catalog, on an empty journal
        k.wait_catalog()
        k.stop_daemon()
        if journal is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{k.journal_path}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(journal, k.journal_path)
            Path(f"{k.journal_path}.identity").unlink(missing_ok=True)  # adopted once
            k.start_daemon(timeout_s=300)
            k.stop_daemon()
        ready, cpu = [], []
        for _ in range(starts):
            k.start_daemon(timeout_s=300)
            ready.append(time.monotonic() - k.spawned_at)
            cpu.append(proc_cpu_s(k.daemon_pid()))
            if len(ready) < starts:
                k.stop_daemon()
        pid = k.daemon_pid()
        k.wait_catalog()
        time.sleep(1.0)
        out["ready_s"] = round(statistics.median(ready), 3)
        out["ready_runs_s"] = [round(x, 3) for x in ready]
        out["cpu_to_ready_s"] = round(statistics.median(cpu), 3)
        out["rss_after_start_mb"] = round(proc_rss_mb(pid), 1)
        sale_s, cancel_s, pay_s = [], [], []
        cpu0 = proc_cpu_s(pid)
        def sell(i: int) -> str:
            """A sale; the barcode of its ticket."""
            probe.clear()
            t0 = time.monotonic()
            k.keypad.write(keypad_events(f"+1.{(i * 7) % 1000:03d}.1\n\n", time.time()))
            t = _first_print(probe, t0)
            if t is not None:
                sale_s.append(t)
            time.sleep(0.3)
            op = k.ctl("queue", {"limit": 1, "state": "done"})[0]
            when = dt.datetime.fromtimestamp(op["created_at"], catalog.ZONE).date()
            row = sqlite3.connect(f"file:{k.journal_path}?mode=ro", uri=True).execute(
                "SELECT pin_number FROM operations WHERE id=?", (op["id"],)
            ).fetchone()
            return barcode_data(op["ticket_number"], row[0], when)

        def timed(keys: str, code: str, into: list[float]) -> None:
            if keys:
                k.keypad.write(keypad_events(keys, time.time()))
                time.sleep(0.1)
            probe.clear()
            t0 = time.monotonic()
            k.scanner.write(scanner_events(code, time.time()))
            t = _first_print(probe, t0)
            if t is not None:
                into.append(t)
            time.sleep(0.5)
            k.ctl("inject-keys", {"text": "\x1b"})
            time.sleep(0.1)

        for i in range(sales):
            # A payout scan (journaled; refused: not a winner), then a cancel of another sale
            # (`-` then its barcode: the slip shows the sale's amount, looked up by ticket).
            timed("", sell(2 * i), pay_s)
            timed("-", sell(2 * i + 1), cancel_s)
        out["cpu_per_operation_ms"] = round(
            (proc_cpu_s(pid) - cpu0) / max(1, 4 * sales) * 1000, 1
        )
        out["sale_to_print_ms"] = _ms(sale_s)
        out["payout_to_print_ms"] = _ms(pay_s)
        out["cancel_to_print_ms"] = _ms(cancel_s)
        t0 = time.monotonic()
        for _ in range(5):
            k.ctl("status")
        out["status_ms"] = round((time.monotonic() - t0) / 5 * 1000, 1)
        hwm0 = _hwm_mb(pid)
        t0 = time.monotonic()
        answer = k.ctl("queue", timeout=60)
        out["queue_s"] = round(time.monotonic() - t0, 3)
        out["queue_ops"] = len(answer)
        out["queue_peak_rss_growth_mb"] = round(_hwm_mb(pid) - hwm0, 1)
        t0 = time.monotonic()
        k.ctl("queue", {"limit": 200}, timeout=60)
        out["queue_200_s"] = round(time.monotonic() - t0, 3)
        st = k.status()
        out["loop_longest_ms"] = st.get("loop_longest_ms")
        out["loop_longest_in"] = st.get("loop_longest_in")
        out["loop_longest_cpu_ms"] = st.get("loop_longest_cpu_ms")
        out["loop_stalls"] = st.get("loop_stalls")
        out["loop_slow"] = st.get("loop_slow")
        # systemd kills a daemon whose loop misses WatchdogSec (30 s); the loop pings every 15 s,
        # so the watchdog fires only if one callback holds the loop over 15 s, or start-up
        # exceeds TimeoutStartSec (90 s).
        out["watchdog_would_fire"] = (st.get("loop_longest_ms") or 0) > 15000 or max(ready) > 90
        out["journal_mb"] = round(Path(k.journal_path).stat().st_size / 1e6, 1)
    finally:
        k.stop_daemon()
        k.close()
    return out


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values) * 1000, 1),
        "max": round(max(values) * 1000, 1),
    }


def _purge_seconds(text: str) -> float | None:
    """The purge's own duration, as the daemon logs it ("... deleted in X s")."""
    found = re.search(r"past retention deleted in ([0-9.]+) s", text)
    return float(found.group(1)) if found else None


def purge_run(days_past: int, cache: Path, workdir: str) -> dict[str, Any]:
    """A journal `days_past` days past the shipped retention (and 90 days inside it)."""
    from kioskd.journal.store import Journal
    from kioskd.proving.harness import keypad_events
    from kioskd.proving.history import fill

    path = cache / f"past-{days_past}.sqlite3"
    if not path.exists():
        j = Journal(path.with_suffix(".part"), retention_days=3650)
        now = time.time()
        fill(j, days=days_past, end=now - 90 * DAY - 3600)
        fill(j, days=90, end=now - 60, seed=2)
        j.checkpoint()
        j.close()
        path.with_suffix(".part").rename(path)
    k = BenchKiosk(workdir, log_level="info", env={"WATCHDOG_USEC": "30000000"})
    k.start()
    out: dict[str, Any] = {}
    try:
        k.start_daemon()
        k.wait_catalog()
        k.stop_daemon()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{k.journal_path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(path, k.journal_path)
        Path(f"{k.journal_path}.identity").unlink(missing_ok=True)
        out["file_mb_before"] = round(k.journal_path.stat().st_size / 1e6, 1)
        conn = sqlite3.connect(f"file:{k.journal_path}?mode=ro", uri=True)
        before = conn.execute("SELECT COUNT(*) FROM operations").fetchone()[0]
        last_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM operations").fetchone()[0]
        conn.close()
        k.start_daemon(timeout_s=300)
        out["ready_s"] = round(time.monotonic() - k.spawned_at, 3)
        t_ready = time.monotonic()
        k.wait_catalog()  # the copied journal holds no catalog cache: the first refresh
        k.keypad.write(keypad_events("+1.123.1\n\n", time.time()))
        log = Path(k.log_path)
        k.wait_for(lambda: "settled operations past retention deleted" in log.read_text(), 600)
        out["purge_s"] = round(time.monotonic() - t_ready, 1)
        # A journal over store.QUICK_CHECK_PAGES gets its whole quick_check first, in the
        # same worker, DEFERRED_CHECK_AFTER_S after READY=1: the purge starts after it.
        out["purge_after_check_s"] = _purge_seconds(log.read_text())
        conn = sqlite3.connect(f"file:{k.journal_path}?mode=ro", uri=True)
        after = conn.execute("SELECT COUNT(*) FROM operations").fetchone()[0]
        conn.close()
        out["operations_before"], out["operations_after"] = before, after
        # The file shrinks as the purge's incremental vacuum gives pages back (the WAL
        # folded in at the next checkpoint: the size is read after one).
        given = "given back to the file system"
        with contextlib.suppress(TimeoutError):
            k.wait_for(lambda: given in log.read_text(), 300)
        out["vacuum_s"] = _vacuum_seconds(log.read_text())
        out["file_mb_after"] = _size_after_checkpoint(k.journal_path)
        st = k.status()
        conn = sqlite3.connect(f"file:{k.journal_path}?mode=ro", uri=True)
        # The sale typed at READY=1: the only operation after the copied history (whose
        # generated rows may carry times later today, so not a test on created_at).
        sold = conn.execute(
            "SELECT COUNT(*) FROM operations WHERE kind='create' AND state='done' AND id > ?",
            (last_id,),
        ).fetchone()[0]
        conn.close()
        out["sale_done_during_purge"] = sold == 1
        out["loop_longest_ms"] = st.get("loop_longest_ms")
        out["loop_longest_in"] = st.get("loop_longest_in")
        out["loop_longest_cpu_ms"] = st.get("loop_longest_cpu_ms")
        out["loop_stalls"] = st.get("loop_stalls")
        out["loop_slow"] = st.get("loop_slow")
        out["watchdog_would_fire"] = (st.get("loop_longest_ms") or 0) > 15000
    finally:
        k.stop_daemon()
        k.close()
    return out


def _vacuum_seconds(text: str) -> float | None:
    """The incremental vacuum's time after the purge, from its log line (None: not seen)."""
    found = re.findall(r"freed pages given back to the file system in ([\d.]+) s", text)
    return float(found[-1]) if found else None


def _size_after_checkpoint(path: Path) -> float:
    """The journal file's size (MB) once the daemon's pages are in it: a passive checkpoint
    from a reader's connection (it waits for no one, takes no lock the daemon needs)."""
    conn = sqlite3.connect(str(path), timeout=5.0)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()
    return round(path.stat().st_size / 1e6, 1)


def io_run(
    idle_s: float, sales: int, workdir: str, textfile_on_disk: bool = False
) -> dict[str, Any]:
    """Bytes the daemon writes (/proc/PID/io write_bytes: what it sent to the disk, the file
    system's metadata aside; tmpfs writes are not counted) and its fdatasync/fsync calls
    (strace), idle and per sale, shipped config: the textfile in a tmpfs folder as the shipped
    `/run/kioskd-metrics` (the harness's own folder, on the journal's disk, with
    `textfile_on_disk`: the default before issue 19's fix)."""

    from kioskd.counter.scan import barcode_data
    from kioskd.proving.harness import keypad_events, scanner_events
    from kioskd.proving.sim import games as catalog

    trace = os.path.join(workdir, "strace.txt")
    os.makedirs(workdir, exist_ok=True)
    k = BenchKiosk(os.path.join(workdir, "k"), log_level="warning",
                   env={"WATCHDOG_USEC": "30000000"},
                   wrap=["strace", "-f", "-e", "trace=fdatasync,fsync,rename,renameat,renameat2",
                         "-o", trace])  # fmt: skip
    k.start()
    cleanup = contextlib.ExitStack()
    folder = cleanup.enter_context(textfile_on_tmpfs(k, textfile_on_disk))
    out: dict[str, Any] = {"textfile_dir": "disk" if textfile_on_disk else "tmpfs"}

    def wrote(pid: int) -> int:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes"):
                return int(line.split()[1])
        return 0

    def calls() -> dict[str, int]:
        text = Path(trace).read_text()
        return {
            "fdatasync": len(re.findall(r"fdatasync\(", text)),
            "fsync": len(re.findall(r"\bfsync\(", text)),
            "rename": len(re.findall(r"rename(at2?)?\(", text)),
        }

    try:
        k.start_daemon()
        k.wait_catalog()
        pid = k.daemon_pid()
        time.sleep(10)
        b0, c0 = wrote(pid), calls()
        time.sleep(idle_s)
        b1, c1 = wrote(pid), calls()
        hours = idle_s / 3600
        out["idle_seconds"] = idle_s
        out["idle_bytes_per_hour"] = round((b1 - b0) / hours)
        out["idle_bytes_per_day_mb"] = round((b1 - b0) / hours * 24 / 1e6, 2)
        out["idle_calls_per_hour"] = {n: round((c1[n] - c0[n]) / hours) for n in c1}
        done0 = int(k.status()["queue"].get("done", 0))
        b0, c0 = wrote(pid), calls()
        for i in range(sales):
            k.keypad.write(keypad_events(f"+1.{i:03d}.1\n\n", time.time()))
            k.wait_for(lambda i=i: int(k.status()["queue"].get("done", 0)) >= done0 + i + 1, 20)
            time.sleep(0.3)
        time.sleep(1.0)
        b1, c1 = wrote(pid), calls()
        out["sales"] = sales
        out["bytes_per_sale"] = round((b1 - b0) / sales)
        out["calls_per_sale"] = {n: round((c1[n] - c0[n]) / sales, 2) for n in c1}
        # Payouts: each sold ticket scanned to be paid (journaled before it is sent, refused
        # by the server: not a winner, its slip printed), as the shift in `measure` does.
        codes = []
        with contextlib.closing(
            sqlite3.connect(f"file:{k.journal_path}?mode=ro", uri=True)
        ) as conn:  # read before the window: the bench's reads are not the daemon's writes
            for op in k.ctl("queue", {"limit": sales, "state": "done"}):
                (pin,) = conn.execute(
                    "SELECT pin_number FROM operations WHERE id=?", (op["id"],)
                ).fetchone()
                when = dt.datetime.fromtimestamp(op["created_at"], catalog.ZONE).date()
                codes.append(barcode_data(op["ticket_number"], pin, when))
        queue = k.status()["queue"]
        settled0 = sum(int(queue.get(state, 0)) for state in ("done", "rejected"))
        cuts0 = k.printer.core.cuts
        b0, c0 = wrote(pid), calls()
        for i, code in enumerate(codes):
            k.scanner.write(scanner_events(code, time.time()))
            k.wait_for(lambda i=i: sum(int(k.status()["queue"].get(state, 0))
                                       for state in ("done", "rejected")) >= settled0 + i + 1,
                       20)  # fmt: skip
            k.wait_for(lambda i=i: k.printer.core.cuts >= cuts0 + i + 1, 20)
            time.sleep(0.3)
            k.ctl("inject-keys", {"text": "\x1b"})
            time.sleep(0.1)
        time.sleep(1.0)
        b1, c1 = wrote(pid), calls()
        out["payouts"] = len(codes)
        out["bytes_per_payout"] = round((b1 - b0) / max(1, len(codes)))
        out["calls_per_payout"] = {n: round((c1[n] - c0[n]) / max(1, len(codes)), 2) for n in c1}
        out["textfile_written"] = (folder / "kioskd.prom").exists()
    finally:
        k.stop_wrapped()
        k.close()
        cleanup.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,90,365,1825", help="days of history, comma list")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--sales", type=int, default=5)
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "kioskd-history"))
    parser.add_argument("--purge", action="store_true")
    parser.add_argument("--purge-days", type=int, default=7)
    parser.add_argument("--idle-io", type=float, default=0.0, metavar="SECONDS",
                        help="measure bytes and fdatasyncs: idle SECONDS, then --sales sales")
    parser.add_argument("--textfile-on-disk", action="store_true",
                        help="with --idle-io: the metrics textfile on the journal's disk (the "
                        "default before issue 19) instead of tmpfs as shipped")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kioskd-bench-") as tmp:
        if args.idle_io:
            results["io"] = io_run(
                args.idle_io, args.sales, os.path.join(tmp, "io"), args.textfile_on_disk
            )
            print(f"writes: {results['io']}")
        elif args.purge:
            results["purge"] = purge_run(args.purge_days, cache, os.path.join(tmp, "p"))
            print(f"{args.purge_days} days past retention: {results['purge']}")
        else:
            for days in [int(x) for x in args.sizes.split(",")]:
                path = None
                if days:
                    path = cache / f"history-{days}d.sqlite3"
                    print(f"journal of {days} days: {prepare(days, path)}")
                r = measure(path, os.path.join(tmp, f"k{days}"), args.starts, args.sales, KEEP)
                results[f"{days}d"] = r
                print(f"{days} days: {r}", flush=True)
    emit("history", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
