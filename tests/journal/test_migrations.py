"""Forward-only migrations never drop unfinished operations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kioskd.journal import Journal, JournalError, schema, states


def build_v1(path: Path) -> None:
    """A journal as the first release wrote it, holding in-doubt and queued operations."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    schema.migrate(conn, target=1)
    rows = [
        ("create", '{"wagers":[{"amount":5,"event_id":1,"game_id":1,"wager":"341"}]}', 5,
         "in_doubt", None, None),
        ("pay", '{"ticket_number":12345678,"date":"2024-10-22"}', 0, "sending", 12345678,
         87654321),
        ("create", '{"wagers":[]}', 0, "queued", None, None),
        ("create", '{"wagers":[]}', 0, "done", 11112222, 33334444),
    ]  # fmt: skip
    for kind, payload, amount, state, number, pin in rows:
        conn.execute(
            "INSERT INTO operations (kind, payload, amount, deadline, state, ticket_number, "
            "pin_number, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (kind, payload, amount, 1e10, state, number, pin, 1.0, 1.0),
        )
    conn.execute(
        "INSERT INTO print_jobs (op_id, kind, payload, created_at) VALUES (4, 'ticket', '{}', 1)"
    )
    conn.close()


def test_v1_journal_with_in_doubt_rows_migrates_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    build_v1(path)
    with Journal(path) as j:
        assert j.migrated == list(range(2, schema.LATEST + 1))
        ops = j.operations()
        assert [op.state for op in ops] == ["in_doubt", "sending", "queued", "done"]
        assert ops[0].watermark is None and ops[0].probes == 0
        # Version 3: no bracket upper bound nor monotonic instant for old sends.
        assert ops[1].sent_hi is None and ops[1].sent_mono is None and ops[1].sent_boot is None
        assert ops[1].pin_number == 87654321
        (job,) = j.pending_print_jobs()
        assert not job.reprint
        # The migrated rows keep working with the state table.
        j.transition(ops[0].id, states.PROBE, now=2.0)
        j.save_catalog("k", {"a": 1}, fetched_at=3.0)
    with Journal(path) as j:
        assert j.migrated == []
        assert schema.version(j.conn) == schema.LATEST
        # Version 5: the per-state counts were seeded from the rows and kept since (the
        # transition above moved one in_doubt operation to reconciling).
        assert j.counts()["in_doubt"] == 0 and j.counts()["reconciling"] == 1
        assert j.counts()["sending"] == j.counts()["queued"] == j.counts()["done"] == 1


def test_a_migration_that_loses_unfinished_rows_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "old.sqlite"
    build_v1(path)

    def bad_v2(conn: sqlite3.Connection) -> None:
        schema.MIGRATIONS_ORIGINAL[1](conn)  # type: ignore[attr-defined]
        conn.execute("DELETE FROM operations WHERE state='in_doubt'")

    monkeypatch.setattr(schema, "MIGRATIONS_ORIGINAL", list(schema.MIGRATIONS), raising=False)
    monkeypatch.setattr(schema, "MIGRATIONS", [schema.MIGRATIONS[0], bad_v2])
    with pytest.raises(JournalError) as info:
        Journal(path)
    assert info.value.kind == "schema"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM operations").fetchone()[0] == 4
    conn.close()


def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="newer"):
        Journal(path)
