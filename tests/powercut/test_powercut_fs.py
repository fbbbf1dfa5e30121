"""The power-cut filesystem forgets exactly what was not synced (real FUSE mount, real SQLite)."""

from __future__ import annotations

import os
import sqlite3

from kioskd.proving.campaigns.powercut.mount import is_mounted


def _sync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path, data: bytes, sync: bool) -> None:
    with open(path, "wb") as f:
        f.write(data)
        if sync:
            f.flush()
            os.fsync(f.fileno())


def _durable(path, data: bytes) -> None:
    """A file whose data and name both survive a cut."""
    _write(path, data, sync=True)
    _sync_dir(path.parent)


def test_unsynced_write_is_lost_synced_write_kept(pcmount):
    mnt = pcmount.mountpoint
    _write(mnt / "kept", b"synced", sync=True)
    _write(mnt / "lost", b"never synced", sync=False)
    _sync_dir(mnt)  # both names durable; only one file's data
    with open(mnt / "kept", "ab") as f:
        f.write(b" and more, unsynced")
    assert (mnt / "kept").read_bytes() == b"synced and more, unsynced"
    pcmount.cut()
    assert is_mounted(mnt)
    assert (mnt / "kept").read_bytes() == b"synced"
    assert (mnt / "lost").read_bytes() == b""


def test_creation_without_directory_sync_is_lost(pcmount):
    mnt = pcmount.mountpoint
    _write(mnt / "new", b"data", sync=True)  # data synced, name not
    pcmount.cut()
    assert not (mnt / "new").exists()


def test_rename_needs_a_directory_sync(pcmount):
    mnt = pcmount.mountpoint
    _durable(mnt / "a", b"old")
    _write(mnt / "a.tmp", b"new", sync=True)
    os.rename(mnt / "a.tmp", mnt / "a")
    assert (mnt / "a").read_bytes() == b"new"
    pcmount.cut()
    assert (mnt / "a").read_bytes() == b"old"
    assert sorted(os.listdir(mnt)) == ["a"]
    _write(mnt / "a.tmp", b"new", sync=True)
    os.rename(mnt / "a.tmp", mnt / "a")
    _sync_dir(mnt)
    pcmount.cut()
    assert (mnt / "a").read_bytes() == b"new"
    assert sorted(os.listdir(mnt)) == ["a"]


def test_unlink_is_durable_only_after_directory_sync(pcmount):
    mnt = pcmount.mountpoint
    _durable(mnt / "f", b"x")
    os.unlink(mnt / "f")
    pcmount.cut()
    assert (mnt / "f").read_bytes() == b"x"
    os.unlink(mnt / "f")
    _sync_dir(mnt)
    pcmount.cut()
    assert not (mnt / "f").exists()


def test_truncate_and_open_unlinked_file(pcmount):
    mnt = pcmount.mountpoint
    _durable(mnt / "t", b"0123456789")
    with open(mnt / "t", "r+b") as f:
        f.truncate(4)
        os.unlink(mnt / "t")  # still open: readable through the handle
        f.seek(0)
        assert f.read() == b"0123"
        assert not (mnt / "t").exists()
        assert os.listdir(mnt) == []
    pcmount.cut()
    assert (mnt / "t").read_bytes() == b"0123456789"  # neither truncate nor unlink was synced


def _sqlite_commit_then_cut(pcmount, synchronous: str) -> list[tuple[int]]:
    db = pcmount.mountpoint / "j.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS t(x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")  # committed: SQLite returned
    pcmount.cut()  # power goes while the connection is still open
    conn.close()
    check = sqlite3.connect(db)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        try:
            return check.execute("SELECT x FROM t").fetchall()
        except sqlite3.OperationalError:  # the table itself was never durable
            return []
    finally:
        check.close()


def test_sqlite_wal_full_keeps_a_committed_row(pcmount):
    assert _sqlite_commit_then_cut(pcmount, "FULL") == [(1,)]


def test_teeth_sqlite_wal_synchronous_off_loses_a_committed_row(pcmount):
    """The filesystem has teeth: the same commit with synchronous=OFF is gone after a cut."""
    assert _sqlite_commit_then_cut(pcmount, "OFF") == []
