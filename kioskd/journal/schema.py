"""Journal schema and its forward-only migrations.

Rules:
- The schema version is SQLite's `PRAGMA user_version`. Version N is reached by applying
  MIGRATIONS[0..N-1] in order, each inside the same transaction as the version bump.
- Migrations only add (tables, columns, indexes) or rewrite in place; they never drop a row of an
  unfinished operation. `migrate()` counts unfinished operations before and after and refuses to
  commit if the number changed.
- A journal newer than this code is refused (never "downgraded").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from kioskd.journal import states

# Version 1: the first release (kept verbatim so that old journals can be rebuilt in tests).
V1 = """
CREATE TABLE operations (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    amount INTEGER NOT NULL DEFAULT 0,
    deadline REAL NOT NULL,
    state TEXT NOT NULL,
    ticket_number INTEGER,
    pin_number INTEGER,
    result TEXT,
    reason TEXT,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX operations_state ON operations(state, id);
CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    op_id INTEGER,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    event TEXT,
    from_state TEXT,
    to_state TEXT,
    detail TEXT,
    request_digest TEXT,
    response_digest TEXT
);
CREATE INDEX history_op ON history(op_id, id);
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY,
    op_id INTEGER,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    printed_at REAL
);
"""

# Version 2: create watermarks, probe counters and backoff times; reprint marks; catalog cache.
V2 = """
ALTER TABLE operations ADD COLUMN watermark TEXT;
ALTER TABLE operations ADD COLUMN probes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN next_attempt_at REAL NOT NULL DEFAULT 0;
ALTER TABLE print_jobs ADD COLUMN reprint INTEGER NOT NULL DEFAULT 0;
ALTER TABLE print_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX print_jobs_pending ON print_jobs(printed_at, id);
CREATE TABLE catalog (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
"""


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return apply


# Version 3: an index for every query on a hot path, so that no path costs more as history
# grows (issue 19): a cancel slip finds its sale by ticket number, retention and the last-sale
# gauge read settled operations by (state, updated_at), retention deletes print jobs by op_id.
V3 = """
CREATE INDEX operations_ticket ON operations(ticket_number, kind);
CREATE INDEX operations_settled ON operations(state, updated_at);
CREATE INDEX print_jobs_op ON print_jobs(op_id, id);
"""

# Version 4: a send's bracket in server time (`sent_at` is its lower bound: the outbox stamps
# with the server-time estimate's lower bound; `sent_hi` the upper bound known once the
# request ended) and its monotonic instant with the boot it belongs to (the quiet period is a
# duration: measured on CLOCK_BOOTTIME while the boot is the same). See kioskd/servertime.py.
V4 = """
ALTER TABLE operations ADD COLUMN sent_hi REAL;
ALTER TABLE operations ADD COLUMN sent_mono REAL;
ALTER TABLE operations ADD COLUMN sent_boot TEXT;
"""

# Version 5: operations per state, kept by triggers in the same transaction as every insert,
# state change and delete (retention's too), so that opening a journal reads eight rows
# instead of counting a million (issue 19: start-up independent of history; the count cost
# 0.1 CPU-s here on five years, about 1.3 s on a Pi 3B). Each commit that changes a state
# writes that one small page more.
V5 = (
    "CREATE TABLE state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO state_counts (state, n) SELECT state, COUNT(*) FROM operations GROUP BY state",
    """CREATE TRIGGER state_counts_insert AFTER INSERT ON operations BEGIN
        INSERT INTO state_counts (state, n) VALUES (NEW.state, 1)
            ON CONFLICT(state) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER state_counts_update AFTER UPDATE OF state ON operations
    WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;
        INSERT INTO state_counts (state, n) VALUES (NEW.state, 1)
            ON CONFLICT(state) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER state_counts_delete AFTER DELETE ON operations BEGIN
        UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;
    END""",
)


def _statements(statements: tuple[str, ...]) -> Callable[[sqlite3.Connection], None]:
    """Each statement whole (a trigger's body holds semicolons `_script` would cut at)."""

    def apply(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _script(V1),
    _script(V2),
    _script(V3),
    _script(V4),
    _statements(V5),
]
LATEST = len(MIGRATIONS)

UNFINISHED_SQL = (
    f"SELECT COUNT(*) FROM operations WHERE state NOT IN ({states.sql_list(states.TERMINAL)})"
)


class MigrationError(Exception):
    """A journal that cannot be brought to this code's schema without losing work."""


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> list[int]:
    """Apply the missing migrations up to `target`; returns the versions applied.

    `conn` must be in autocommit mode (isolation_level=None): each step is its own transaction.
    """
    current = version(conn)
    if current > LATEST:
        raise MigrationError(
            f"journal schema version {current} is newer than this kioskd ({LATEST}); "
            "refusing to touch it"
        )
    applied: list[int] = []
    while current < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = _unfinished(conn) if current > 0 else 0
            MIGRATIONS[current](conn)
            after = _unfinished(conn)
            if after != before:
                raise MigrationError(
                    f"migration to version {current + 1} would change the unfinished "
                    f"operations from {before} to {after}"
                )
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current += 1
        applied.append(current)
    return applied


def _unfinished(conn: sqlite3.Connection) -> int:
    return int(conn.execute(UNFINISHED_SQL).fetchone()[0])
