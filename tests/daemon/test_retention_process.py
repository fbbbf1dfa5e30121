"""Issue 19, on the real `kioskd run`: a journal holding a week of operations past
`retention_days` reaches READY=1 first, then is purged in the background while the counter
sells, and the loop-lag probe says how long the longest callback held the event loop."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from kioskd.journal.store import Journal
from kioskd.proving.harness import VirtualKiosk
from kioskd.proving.history import fill

DAY = 86400.0


def settled(path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM operations").fetchone()[0])
    finally:
        conn.close()


def test_retention_runs_after_ready_in_the_background_while_selling(tmp_path):
    with VirtualKiosk(tmp_path / "k", config_extra="") as k:
        k.start_daemon()
        k.wait_catalog()
        k.stop_daemon()
        now = time.time()
        j = Journal(k.journal_path)
        fill(j, days=7, per_day=600, end=now - 95 * DAY)  # past the 90 days shipped
        old = sum(j.counts().values())
        j.checkpoint()
        j.close()
        size_before = k.journal_path.stat().st_size
        k.start_daemon()
        at_ready = settled(k.journal_path)
        assert at_ready > old // 2  # not purged before READY=1
        k.type("+1.123.1\n\n")  # a sale while the purge runs
        k.wait_for(lambda: k.status()["queue"].get("done") == 1, 30)
        k.wait_for(lambda: settled(k.journal_path) == 1, 60)
        status = k.status()
        assert status["queue"]["done"] == 1  # the counts followed the background deletes
        assert isinstance(status["loop_longest_ms"], float) and status["loop_longest_in"]
        assert status["loop_stalls"] >= 0
        # Then the freed pages go back to the file system: the file shrinks (once the WAL
        # holding the vacuum's commits is folded in by a checkpoint).
        log = Path(k.log_path)
        k.wait_for(lambda: "given back to the file system" in log.read_text(), 60)
        assert size_after_checkpoint(k.journal_path) < size_before * 0.5


def size_after_checkpoint(path: Path) -> int:
    conn = sqlite3.connect(str(path), timeout=5)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()
    return path.stat().st_size
