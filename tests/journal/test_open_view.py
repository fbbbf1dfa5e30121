"""Issue 19 (CPU per sale): the journal answers questions about unfinished operations from a
view kept in memory as it writes them, and that view always agrees with the file.

Checked on a real file against SQL read through a connection of its own: after adds,
transitions, notes that move `next_attempt_at`, writes rolled back before their commit,
batches that commit or fail, and another connection's commits (retention's worker, tools).
And the view is what answers: no SQL on `operations` while nobody else wrote.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from kioskd.journal import states
from kioskd.journal.store import _OP_COLUMNS, Journal, Operation, decode_operation

SUBSETS = (
    (states.QUEUED,),
    (states.QUEUED, states.SENDING),
    (states.QUEUED, states.IN_DOUBT),
    (states.IN_DOUBT, states.RECONCILING),
    (states.CONFLICT,),
    tuple(states.DOUBTFUL),
    tuple(states.MAYBE_APPLIED),
    tuple(states.UNFINISHED),
)


def from_file(path: Path, wanted: tuple[str, ...]) -> list[Operation]:
    """What the file holds, read apart from the journal object (no view, no cache)."""
    other = sqlite3.connect(path)
    try:
        marks = ",".join("?" * len(wanted))
        rows = other.execute(
            f"SELECT {_OP_COLUMNS} FROM operations WHERE state IN ({marks}) ORDER BY id", wanted
        ).fetchall()
    finally:
        other.close()
    return [decode_operation(r) for r in rows]


def agree(j: Journal, path: Path) -> None:
    for wanted in SUBSETS:
        assert j.operations(wanted) == from_file(path, wanted), wanted
    for op in from_file(path, tuple(states.UNFINISHED)):
        assert j.get(op.id) == op
    opened, _total = j.open_operations(3)
    assert opened == from_file(path, tuple(states.UNFINISHED))[:3]


def test_the_view_agrees_with_the_file_through_every_kind_of_write(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    crash = {"point": ""}

    def hook(point: str) -> None:
        if point == crash["point"]:
            raise RuntimeError("simulated crash")

    j = Journal(path, crash_hook=hook)
    rng = random.Random(19)
    ids: list[int] = []
    agree(j, path)  # the view is loaded empty, then kept
    for step in range(300):
        now = 1000.0 + step
        roll = rng.random()
        live = [i for i in ids if j.get(i).state not in states.TERMINAL]
        if roll < 0.25 or not live:
            state = rng.choice((states.QUEUED, states.SENDING))
            ids.append(
                j.add("create", {"wagers": [{"n": step}]}, amount=step, deadline=9e9, now=now,
                      state=state)
            )  # fmt: skip
        elif roll < 0.80:
            op = j.get(rng.choice(live))
            event = rng.choice(sorted(states.TRANSITIONS[states.State(op.state)]))
            if rng.random() < 0.15:  # rolled back before its commit: nothing changes
                crash["point"] = f"{event}:before_commit"
                with pytest.raises(RuntimeError):
                    j.transition(op.id, event, now=now, next_attempt_at=now + 5)
                crash["point"] = ""
            else:
                j.transition(op.id, event, now=now, next_attempt_at=now + rng.random() * 9)
        elif roll < 0.90:
            j.note(rng.choice(live), "probe", now=now, next_attempt_at=now + 3.5)
        elif roll < 0.95:
            queued = [op.id for op in j.operations((states.QUEUED,))]
            with pytest.raises(RuntimeError), j.batch():
                j.add("pay", {"ticket_number": step}, amount=0, deadline=9e9, now=now)
                for op_id in queued[:1]:
                    j.transition(op_id, states.SEND, now=now)
                raise RuntimeError("a batch that fails leaves nothing")
        else:
            with j.batch():
                ids.append(j.add("cancel", {"ticket_number": step}, amount=0, deadline=9e9,
                                 now=now))  # fmt: skip
                first = j.get(ids[-1])
                j.transition(first.id, states.SEND, now=now)
        agree(j, path)
        assert j.open_operations(1)[1] == len(from_file(path, tuple(states.UNFINISHED)))
    counts = j.counts()
    assert sum(counts[s] for s in states.UNFINISHED) == len(j.operations(states.UNFINISHED))
    j.close()


def test_another_connections_commits_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    a = j.add("create", {"wagers": []}, amount=5, deadline=9e9, now=1.0)
    b = j.add("pay", {"ticket_number": 3}, amount=0, deadline=9e9, now=2.0)
    agree(j, path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("UPDATE operations SET state='expired' WHERE id=?", (a,))
    agree(j, path)
    other.execute("UPDATE operations SET next_attempt_at=77 WHERE id=?", (b,))
    assert j.get(b).next_attempt_at == 77
    other.execute(
        "INSERT INTO operations (kind, payload, deadline, state, created_at, updated_at) "
        "VALUES ('create', '{\"wagers\": []}', 9e9, 'in_doubt', 3, 3)"
    )
    other.close()
    agree(j, path)
    assert [op.state for op in j.operations(states.UNFINISHED)] == ["queued", "in_doubt"]
    j.close()


def test_unfinished_operations_are_answered_without_sql(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    for n in range(3):
        j.add("create", {"wagers": [{"n": n}]}, amount=n, deadline=9e9, now=float(n))
    j.operations((states.QUEUED,))  # loads the view
    statements: list[str] = []
    j.conn.set_trace_callback(statements.append)
    try:
        for wanted in SUBSETS:
            j.operations(wanted)
        j.get(1)
    finally:
        j.conn.set_trace_callback(None)
    assert statements and all(s == "PRAGMA data_version" for s in statements), statements
    j.close()


def test_just_settled_operations_are_read_back_from_memory_until_rows_may_go(
    tmp_path: Path,
) -> None:
    """A sale's outcome is read back by the executor, the spooler and the PENDING slip's
    timer right after it settles: the journal keeps the last operations it settled as their
    commit left them, and forgets them when rows may have been deleted (a purge here,
    another connection's commit)."""
    path = tmp_path / "j.sqlite"
    j = Journal(path, retention_days=1)
    j.operations((states.QUEUED,))  # the view is loaded (the daemon's outbox does at start)
    ids = []
    for n in range(3):
        op_id = j.add("create", {"wagers": [{"n": n}]}, amount=n, deadline=9e9, now=10.0 + n)
        j.transition(op_id, states.SEND, now=10.0 + n)
        j.transition(op_id, states.ANSWERED_OK, now=10.0 + n, ticket_number=100 + n,
                     result={"ticket_number": 100 + n})  # fmt: skip
        ids.append(op_id)
    statements: list[str] = []
    j.conn.set_trace_callback(statements.append)
    try:
        got = [j.get(i) for i in ids]
    finally:
        j.conn.set_trace_callback(None)
    assert all(s == "PRAGMA data_version" for s in statements), statements
    assert got == [decode_operation(r) for r in sqlite3.connect(path).execute(
        f"SELECT {_OP_COLUMNS} FROM operations ORDER BY id")]  # fmt: skip
    assert j.purge(now=10.0 + 3 * 86400.0) == 3  # this connection deletes them
    with pytest.raises(KeyError):
        j.get(ids[0])
    other_id = j.add("pay", {"ticket_number": 1}, amount=0, deadline=9e9, now=5.0)
    j.transition(other_id, states.EXPIRE, now=5.0)
    assert j.get(other_id).state == states.EXPIRED
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("DELETE FROM history WHERE op_id=?", (other_id,))
    other.execute("DELETE FROM print_jobs WHERE op_id=?", (other_id,))
    other.execute("DELETE FROM operations WHERE id=?", (other_id,))  # as retention's worker
    other.close()
    with pytest.raises(KeyError):
        j.get(other_id)
    j.close()


def test_with_a_recheck_window_another_connection_is_asked_once_per_window(
    tmp_path: Path,
) -> None:
    """The daemon's journal (`recheck_s`) asks `PRAGMA data_version` at most once per window:
    a sale's dozen looks cost one read. A retention step said through `forget` is seen at
    the next look; another connection's commit once the window has passed."""
    path = tmp_path / "j.sqlite"
    j = Journal(path, recheck_s=0.3)
    a = j.add("create", {"wagers": []}, amount=5, deadline=9e9, now=1.0)
    b = j.add("pay", {"ticket_number": 3}, amount=0, deadline=9e9, now=2.0)
    j.operations((states.QUEUED,))  # loads the view (and asks once)
    statements: list[str] = []
    j.conn.set_trace_callback(statements.append)
    try:
        for _ in range(12):
            for wanted in SUBSETS:
                j.operations(wanted)
            j.get(a)
    finally:
        j.conn.set_trace_callback(None)
    assert statements == [], statements  # within the window: no SQL at all
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("UPDATE operations SET state='expired' WHERE id=?", (a,))
    j.forget({})  # as after a retention step: asked again at the next look
    agree(j, path)
    other.execute("UPDATE operations SET next_attempt_at=77 WHERE id=?", (b,))
    other.close()
    deadline = time.monotonic() + 5.0
    while j.get(b).next_attempt_at != 77:  # seen once the window has passed
        assert time.monotonic() < deadline, "another connection's commit never seen"
        time.sleep(0.05)
    agree(j, path)
    j.close()
