"""The SQLite journal: durable rows, history, print jobs, catalog, retention, bounded files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kioskd.journal import CREATE, PAY, IllegalTransition, Journal, JournalError, states

WAGERS = {"wagers": [{"amount": 5, "event_id": 1, "game_id": 1, "wager": "341"}]}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def test_pragmas_wal_and_full_sync(journal: Journal) -> None:
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert journal.quick_check == "ok"


def test_rows_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        op_id = j.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0)
        j.transition(op_id, states.SEND, now=2.0, watermark={"ticket_number": 7})
    with Journal(path) as j:
        op = j.get(op_id)
        assert op.state == states.SENDING
        assert op.watermark == {"ticket_number": 7}
        assert op.attempts == 1 and op.sent_at == 2.0


def test_bookkeeping_columns_follow_the_event_table(journal: Journal) -> None:
    """send stamps and counts, probe counts, a requeue after doubt probes from zero again."""
    op_id = journal.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0)
    journal.transition(op_id, states.SEND, now=2.0)
    journal.transition(op_id, states.AMBIGUOUS, now=3.0)
    journal.transition(op_id, states.PROBE, now=4.0)
    journal.transition(op_id, states.UNDECIDED, now=5.0)
    op = journal.transition(op_id, states.PROBE, now=6.0)
    assert (op.attempts, op.sent_at, op.probes) == (1, 2.0, 2)
    op = journal.transition(op_id, states.PROVED_NOT_APPLIED, now=7.0)
    assert (op.state, op.probes) == (states.QUEUED, 0)
    op = journal.transition(op_id, states.SEND, now=8.0)
    assert (op.attempts, op.sent_at, op.probes) == (2, 8.0, 0)
    op = journal.transition(op_id, states.NOT_SENT, now=9.0)  # back to queued, nothing to reset
    assert (op.state, op.attempts, op.sent_at) == (states.QUEUED, 2, 8.0)


def test_purge_and_migrations_use_the_terminal_set() -> None:
    from kioskd.journal import schema

    assert f"NOT IN ({states.sql_list(states.TERMINAL)})" in schema.UNFINISHED_SQL
    assert states.sql_list(states.TERMINAL) == "'done', 'expired', 'rejected'"


def test_illegal_transition_is_refused_and_nothing_changes(journal: Journal) -> None:
    op_id = journal.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0)
    commits = journal.commits
    with pytest.raises(IllegalTransition):
        journal.transition(op_id, states.ANSWERED_OK, now=2.0)
    assert journal.get(op_id).state == states.QUEUED
    assert journal.commits == commits
    assert journal.attention is None


def test_history_is_complete_and_pin_free(journal: Journal) -> None:
    payload = {"ticket_number": 12345678, "date": "2024-10-22"}
    op_id = journal.add(
        PAY, payload, amount=0, deadline=100.0, now=1.0, pin_number=87654321, state=states.SENDING
    )
    journal.transition(op_id, states.AMBIGUOUS, now=2.0, detail={"pin_number": 87654321})
    journal.transition(op_id, states.PROBE, now=3.0)
    journal.transition(op_id, states.PROVED_APPLIED, now=4.0, result={"prize": 300})
    entries = journal.history(op_id)
    assert [(h.from_state, h.to_state) for h in entries] == [
        (None, "sending"), ("sending", "in_doubt"), ("in_doubt", "reconciling"),
        ("reconciling", "done"),
    ]  # fmt: skip
    raw = journal.conn.execute("SELECT * FROM history").fetchall()
    assert "87654321" not in json.dumps(raw)
    assert journal.get(op_id).pin_number == 87654321  # the row keeps it for the slip
    assert "87654321" not in repr(journal.get(op_id))


def test_pin_in_payload_is_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="pin_number"):
        journal.add(PAY, {"ticket_number": 1, "pin_number": 2}, amount=0, deadline=9, now=1)


def test_outcome_and_print_job_are_one_commit(journal: Journal) -> None:
    op_id = journal.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0, state=states.SENDING)
    before = journal.commits
    job = ("ticket", {"ticket_number": 11112222})
    journal.transition(
        op_id, states.ANSWERED_OK, now=2.0, ticket_number=11112222, pin_number=3, print_job=job
    )
    assert journal.commits == before + 1
    (job,) = journal.pending_print_jobs()
    assert job.op_id == op_id and not job.reprint
    journal.mark_printed(job.id, now=3.0)
    assert journal.pending_print_jobs() == []
    with pytest.raises(KeyError):
        journal.mark_printed(job.id, now=4.0)


def test_crash_before_commit_rolls_back_outcome_and_job(tmp_path: Path) -> None:
    class Crash(BaseException):
        pass

    def hook(point: str) -> None:
        if point == "answered_ok:before_commit":
            raise Crash

    path = tmp_path / "j.sqlite"
    j = Journal(path, crash_hook=hook)
    op_id = j.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0, state=states.SENDING)
    with pytest.raises(Crash):
        j.transition(op_id, states.ANSWERED_OK, now=2.0, ticket_number=1,
                     print_job=("ticket", {}))  # fmt: skip
    j.close()
    with Journal(path) as again:
        assert again.get(op_id).state == states.SENDING
        assert again.pending_print_jobs() == []


def test_unprinted_jobs_become_reprints_at_start(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.add_print_job(None, "ticket", {"n": 1}, now=1.0)
    with Journal(path) as j:
        assert j.mark_unprinted_as_reprints(now=2.0) == 1
        (job,) = j.pending_print_jobs()
        assert job.reprint


def test_catalog_round_trip(journal: Journal) -> None:
    assert journal.load_catalog("products") is None
    journal.save_catalog("products", [{"id": 1}], fetched_at=10.0)
    journal.save_catalog("products", [{"id": 2}], fetched_at=20.0)
    assert journal.load_catalog("products") == ([{"id": 2}], 20.0)


def test_an_unchanged_catalog_fetched_again_is_not_rewritten(journal: Journal) -> None:
    """Issue 19 (idle writes): the same content fetched again after `keep_for_s` records only
    its new fetch time, in a small row of its own; the cache's (big) row stays as it was; a
    change rewrites the cache and the small row goes."""
    big = {"fetched_at": 10.0, "codes": [f"{i:05d}" for i in range(20_000)]}

    def rows() -> dict[str, tuple[int, float]]:
        conn = sqlite3.connect(journal.path)
        try:
            return {
                k: (n, t)
                for k, n, t in conn.execute("SELECT key, length(data), fetched_at FROM catalog")
            }
        finally:
            conn.close()

    assert journal.save_catalog("catalog", big, fetched_at=10.0, keep_for_s=900.0)
    assert not journal.save_catalog(  # within keep_for_s: nothing at all
        "catalog", {**big, "fetched_at": 500.0}, fetched_at=500.0, keep_for_s=900.0
    )
    assert journal.save_catalog(
        "catalog", {**big, "fetched_at": 1000.0}, fetched_at=1000.0, keep_for_s=900.0
    )
    saved = rows()
    assert saved["catalog"][1] == 10.0  # the big row was not rewritten
    assert saved["catalog#fetched-again"] == (4, 1000.0)  # "null"
    data, fetched_at = journal.load_catalog("catalog")
    assert fetched_at == 1000.0 and data == big
    changed = {**big, "codes": ["1"], "fetched_at": 1300.0}
    assert journal.save_catalog("catalog", changed, fetched_at=1300.0, keep_for_s=900.0)
    assert set(rows()) == {"catalog"}
    assert journal.load_catalog("catalog") == (changed, 1300.0)


def test_a_kept_fetch_time_rides_with_the_next_catalog_write(journal: Journal) -> None:
    """Issue 19 (idle writes): an unchanged catalog's new fetch time is kept in memory and
    written in the same commit as the next write to the table (the daemon's hourly server-time
    record), or by `save_kept` at stop: one commit an hour, not two."""
    big = {"codes": [f"{i:05d}" for i in range(2_000)]}
    assert journal.save_catalog("catalog", big, fetched_at=10.0, keep_for_s=7200.0)
    commits = journal.commits
    assert not journal.save_catalog("catalog", big, fetched_at=310.0, keep_for_s=7200.0)
    assert journal.commits == commits  # kept, not written
    assert journal.load_catalog("catalog") == (big, 10.0)
    assert journal.save_catalog("server_time", {"t": 1}, fetched_at=400.0)
    assert journal.commits == commits + 1  # one commit carried both
    assert journal.load_catalog("catalog") == (big, 310.0)
    # The kept time counts as saved: the fallback's clock restarts from it.
    assert not journal.save_catalog("catalog", big, fetched_at=7400.0, keep_for_s=7200.0)
    assert journal.save_catalog("catalog", big, fetched_at=7600.0, keep_for_s=7200.0)
    assert journal.load_catalog("catalog") == (big, 7600.0)
    assert not journal.save_kept()  # nothing kept
    assert not journal.save_catalog("catalog", big, fetched_at=7900.0, keep_for_s=7200.0)
    assert journal.save_kept()
    assert journal.commits == commits + 3
    journal.close()
    reopened = Journal(journal.path)
    try:
        assert reopened.load_catalog("catalog") == (big, 7900.0)
    finally:
        reopened.close()


def test_a_deferred_record_rides_with_the_next_write_to_the_table(journal: Journal) -> None:
    """Issue 19 (idle writes): the daemon's hourly server-time record is kept in memory and
    committed with the next write to the catalog table (a draw's new catalog), with the next
    record once it waited `keep_for_s`, or at stop; a key not yet saved goes at once."""
    assert journal.save_catalog("server_time", {"t": 0}, fetched_at=0.0, defer=True,
                                keep_for_s=1800.0)  # fmt: skip
    assert journal.load_catalog("server_time") == ({"t": 0}, 0.0)  # never saved: at once
    commits = journal.commits
    assert not journal.save_catalog(
        "server_time", {"t": 1}, fetched_at=3600.0, defer=True, keep_for_s=1800.0
    )
    assert journal.commits == commits
    assert journal.load_catalog("server_time") == ({"t": 0}, 0.0)  # the disk: as it was
    assert journal.save_catalog("catalog", {"draw": 2}, fetched_at=3700.0)
    assert journal.commits == commits + 1  # one commit carried both
    assert journal.load_catalog("server_time") == ({"t": 1}, 3600.0)
    assert journal.load_catalog("catalog") == ({"draw": 2}, 3700.0)
    # No other write: the next record (waited since 7200 < keep_for_s) is kept, the one after
    # is committed, in one commit of its own.
    assert not journal.save_catalog(
        "server_time", {"t": 2}, fetched_at=7200.0, defer=True, keep_for_s=1800.0
    )
    assert journal.save_catalog(
        "server_time", {"t": 3}, fetched_at=10800.0, defer=True, keep_for_s=1800.0
    )
    assert journal.commits == commits + 2
    assert journal.load_catalog("server_time") == ({"t": 3}, 10800.0)
    # A kept record reaches the disk at stop.
    assert not journal.save_catalog(
        "server_time", {"t": 4}, fetched_at=14400.0, defer=True, keep_for_s=1800.0
    )
    assert journal.save_kept()
    assert not journal.save_kept()  # nothing left
    journal.close()
    reopened = Journal(journal.path)
    try:
        assert reopened.load_catalog("server_time") == ({"t": 4}, 14400.0)
    finally:
        reopened.close()


def test_a_deferred_record_back_to_what_the_disk_holds_is_not_written(journal: Journal) -> None:
    """A kept content that returns to the disk's is dropped (its fetch time kept as for any
    unchanged content): the next write to the table does not write the intermediate one."""
    assert journal.save_catalog("catalog", {"d": 1}, fetched_at=0.0)
    assert not journal.save_catalog(
        "catalog", {"d": 2}, fetched_at=300.0, defer=True, keep_for_s=7200.0
    )
    assert not journal.save_catalog(
        "catalog", {"d": 1}, fetched_at=600.0, defer=True, keep_for_s=7200.0
    )
    assert journal.save_catalog("server_time", {"t": 1}, fetched_at=700.0)
    assert journal.load_catalog("catalog") == ({"d": 1}, 600.0)


def test_a_restart_that_loads_the_cache_does_not_rewrite_it(tmp_path: Path) -> None:
    """Issue 19 (SD-card writes): after a restart, the first refresh bringing the content the
    cache already holds writes nothing (each start rewrote the 600 KB inventory); a changed
    content is still written. Both forms: a row with a top-level `fetched_at` and one without."""
    path = tmp_path / "j.sqlite"
    inventory = {"inventory": [f"{i:05d}" for i in range(5_000)]}
    rest = {"fetched_at": 10.0, "products": [{"id": 1}]}
    with Journal(path) as j:
        assert j.save_catalog("catalog.inventory", inventory, fetched_at=10.0, keep_for_s=7200.0)
        assert j.save_catalog("catalog", rest, fetched_at=10.0, keep_for_s=7200.0)
    with Journal(path) as j:
        assert j.load_catalog("catalog") == (rest, 10.0)
        assert j.load_catalog("catalog.inventory") == (inventory, 10.0)
        commits = j.commits
        assert not j.save_catalog(
            "catalog.inventory", inventory, fetched_at=300.0, keep_for_s=7200.0
        )
        assert not j.save_catalog(
            "catalog", {**rest, "fetched_at": 300.0}, fetched_at=300.0, keep_for_s=7200.0
        )
        assert j.commits == commits  # neither row written again
        assert j.save_kept()  # the new fetch time still reaches the disk at stop
        changed = {**rest, "products": [{"id": 2}], "fetched_at": 600.0}
        assert j.save_catalog("catalog", changed, fetched_at=600.0, keep_for_s=7200.0)
    with Journal(path) as j:
        assert j.load_catalog("catalog") == (changed, 600.0)
        assert j.load_catalog("catalog.inventory") == (inventory, 300.0)
        # Not loaded first (a tool's journal): no known content, so it is written as before.
        assert j.save_catalog("other", {"a": 1}, fetched_at=700.0, keep_for_s=7200.0)


def test_retention_keeps_unfinished_and_unprinted(journal: Journal) -> None:
    day = 86400.0
    journal.retention_days = 1
    old_done = journal.add(CREATE, WAGERS, amount=5, deadline=9e9, now=0.0, state=states.SENDING)
    journal.transition(old_done, states.ANSWERED_OK, now=1.0, ticket_number=1)
    old_unprinted = journal.add(CREATE, WAGERS, amount=5, deadline=9e9, now=0.0,
                                state=states.SENDING)  # fmt: skip
    journal.transition(old_unprinted, states.ANSWERED_OK, now=1.0, ticket_number=2,
                       print_job=("ticket", {}))  # fmt: skip
    old_doubt = journal.add(CREATE, WAGERS, amount=5, deadline=9e9, now=0.0, state=states.SENDING)
    journal.transition(old_doubt, states.AMBIGUOUS, now=1.0)
    assert journal.purge(now=3 * day) == 1
    assert {op.id for op in journal.operations()} == {old_unprinted, old_doubt}
    assert journal.history(old_done) == []


def test_wal_is_truncated_by_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, wal_autocheckpoint=0) as j:
        for i in range(200):
            j.add(CREATE, WAGERS, amount=5, deadline=100.0, now=float(i))
        wal = Path(str(path) + "-wal")
        assert wal.stat().st_size > 100_000
        busy, _, _ = j.checkpoint()
        assert busy == 0
        assert wal.stat().st_size == 0


def test_housekeeping_leaves_a_small_wal_as_it_is(tmp_path: Path) -> None:
    """Issue 19 (SD-card writes): the hourly checkpoint waits for the WAL to grow; a WAL of an
    idle hour's two pages is not folded (that wrote each page twice and restarted the WAL), a
    grown one is, and SQLite's own checkpoint still bounds the file."""
    path = tmp_path / "j.sqlite"
    wal = Path(str(path) + "-wal")
    with Journal(path, wal_autocheckpoint=0) as j:
        j.checkpoint()  # the new journal's schema
        j.save_catalog("server_time", {"t": 1}, fetched_at=1.0)
        small = wal.stat().st_size
        assert 0 < small < 64 * 1024
        assert j.checkpoint(unless_under=64 * 1024) == (0, 0, 0)
        assert wal.stat().st_size == small  # left as it is
        for i in range(200):
            j.add(CREATE, WAGERS, amount=5, deadline=100.0, now=float(i))
        assert wal.stat().st_size >= 64 * 1024
        busy, frames, _ = j.checkpoint(unless_under=64 * 1024)
        assert busy == 0 and frames == 0 and wal.stat().st_size == 0  # folded and truncated
    with Journal(path) as j:
        assert j.load_catalog("server_time") == ({"t": 1}, 1.0)
        assert j.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


def test_journal_size_limit_is_set(journal: Journal) -> None:
    assert journal.conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 4 * 1024 * 1024


def test_counts_per_state(journal: Journal) -> None:
    journal.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0)
    journal.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0, state=states.SENDING)
    counts = journal.counts()
    assert counts[states.QUEUED] == 1 and counts[states.SENDING] == 1 and counts[states.DONE] == 0


def test_commits_are_counted_per_transaction(journal: Journal) -> None:
    start = journal.commits
    op_id = journal.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0, state=states.SENDING)
    journal.transition(op_id, states.ANSWERED_OK, now=2.0, ticket_number=1,
                       print_job=("ticket", {}))  # fmt: skip
    (job,) = journal.pending_print_jobs()
    journal.mark_printed(job.id, now=3.0)
    assert journal.commits - start == 3


def test_closed_journal_raises_journal_error(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.close()
    with pytest.raises(JournalError):
        j.get(1)


def test_sqlite_file_is_plain_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.add(CREATE, WAGERS, amount=5, deadline=100.0, now=1.0)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM operations").fetchone()[0] == 1
    conn.close()
