"""Full disk, read-only, locked and corrupt journals: a clear error and attention, no loss."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from kioskd.journal import CREATE, Journal, JournalError, states

WAGERS = {"wagers": [{"amount": 5, "event_id": 1, "game_id": 1, "wager": "341"}]}


def test_full_disk_gives_attention_and_keeps_what_was_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.add(CREATE, WAGERS, amount=5, deadline=1e10, now=1.0)
        pages = j.conn.execute("PRAGMA page_count").fetchone()[0]
    # max_page_count is how SQLite lets us make "the disk" full at a chosen size.
    with Journal(path, max_page_count=pages) as j:
        big = {"wagers": WAGERS["wagers"] * 2000}
        with pytest.raises(JournalError) as info:
            for _ in range(50):
                j.add(CREATE, big, amount=5, deadline=1e10, now=2.0)
        assert info.value.kind == "full"
        assert j.attention is info.value
        with pytest.raises(JournalError):  # new money operations refused from now on
            j.add(CREATE, WAGERS, amount=5, deadline=1e10, now=3.0)
    with Journal(path) as j:
        assert j.operations()[0].state == states.QUEUED


def test_read_only_journal_is_attention(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.add(CREATE, WAGERS, amount=5, deadline=1e10, now=1.0)
        j.checkpoint()
    # Root ignores file modes, so the read-only file system is SQLite's read-only open, which
    # fails the same way (SQLITE_READONLY) as a file system remounted read-only.
    with pytest.raises(JournalError) as info:
        Journal(path, open_mode="ro")
    assert info.value.kind == "readonly"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory_is_attention(tmp_path: Path) -> None:
    path = tmp_path / "ro" / "j.sqlite"
    path.parent.mkdir()
    Journal(path).close()
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)
    try:
        with pytest.raises(JournalError):
            Journal(path)
    finally:
        os.chmod(path.parent, 0o755)


def test_locked_journal_is_attention(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(JournalError) as info:
            Journal(path, busy_timeout_s=0.05)
        assert info.value.kind == "locked"
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_lock_taken_while_running_gives_attention(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path, busy_timeout_s=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(JournalError) as info:
            j.add(CREATE, WAGERS, amount=5, deadline=1e10, now=1.0)
        assert info.value.kind == "locked" and j.attention is not None
    finally:
        other.execute("ROLLBACK")
        other.close()
        j.close()


def test_garbage_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database at all " * 200)
    with pytest.raises(JournalError) as info:
        Journal(path)
    assert info.value.kind == "corrupt"


def test_a_failed_write_of_a_payment_never_shows_its_pin(tmp_path: Path) -> None:
    """The write that fails carries a PIN (a payment): the error, its repr, the attention the
    journal keeps and what the daemon would log never show it."""
    from kioskd.journal.store import PAY

    path = tmp_path / "j.sqlite"
    j = Journal(path, busy_timeout_s=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    pin = 76479163
    try:
        with pytest.raises(JournalError) as info:
            j.add(PAY, {"ticket_number": 32426439, "date": "2024-10-23"}, amount=0,
                  deadline=1e10, now=1.0, pin_number=pin, ticket_number=32426439)  # fmt: skip
    finally:
        other.execute("ROLLBACK")
        other.close()
    texts = [str(info.value), repr(info.value), str(j.attention), repr(info.value.__cause__)]
    assert info.value.kind == "locked"
    assert not any(str(pin) in text for text in texts), texts
    j.close()


def _journal_of_300(tmp_path: Path) -> Path:
    """A checkpointed journal of 300 operations (a few pages to damage)."""
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        for i in range(300):
            j.add(CREATE, WAGERS, amount=5, deadline=1e10, now=float(i))
        j.checkpoint()
    return path


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = _journal_of_300(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(JournalError) as info:
        Journal(cut)
    assert info.value.kind in ("corrupt", "io")


def test_damaged_page_fails_quick_check(tmp_path: Path) -> None:
    path = _journal_of_300(tmp_path)
    damaged = tmp_path / "damaged.sqlite"
    shutil.copy(path, damaged)
    data = bytearray(damaged.read_bytes())
    page = 4096
    for offset in range(2 * page, 2 * page + 200):
        data[offset] = 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(JournalError) as info:
        Journal(damaged)
    assert info.value.kind == "corrupt"
