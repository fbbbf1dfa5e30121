"""What a technician does with a journal in attention: look, salvage, or start afresh.

Rules:
- Nothing is ever deleted: a journal that is recovered from or replaced is renamed beside the
  new one (`<journal>.broken-<when>` / `.replaced-<when>`, with its -wal and -shm files).
- `recover` copies every row SQLite can still read into a new journal, table by table, row by
  row around damaged pages; `init` starts an empty one. Both record a new identity that names
  the journal before it, and an audit note (who, when, what was kept) in the new journal.
- These run while kioskd does not hold the journal (stopped, or waiting in attention at start).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from kioskd.journal import identity

TABLES = ("operations", "history", "print_jobs", "catalog")
WALK_LIMIT = 200_000  # rowids tried one by one around damaged pages


@dataclass
class Check:
    """What `check` found (text lines for a person; `ok` for the exit code)."""

    ok: bool
    lines: list[str] = field(default_factory=list)


def _ro_uri(path: str, *, immutable: bool = False) -> str:
    extra = "&immutable=1" if immutable else ""
    return f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro{extra}"


def _size(path: str) -> str:
    try:
        return f"{os.path.getsize(path)} bytes"
    except OSError:
        return "absent"


def check(path: str) -> Check:
    """Look at the journal without changing it."""
    out = Check(True)
    say = out.lines.append
    try:
        ident = identity.read_identity(path)
    except ValueError as exc:
        ident = None
        say(f"identity: {exc}")
        out.ok = False
    if ident is not None:
        say(
            f"identity: journal {ident.id[:8]}, {ident.how} {identity._when(ident.created_at)}"
            + ("" if ident.confirmed else ", first /user/ticket/last not checked yet")
        )
    for suffix in ("", "-wal", "-shm"):
        say(f"file {path}{suffix}: {_size(path + suffix)}")
    found = identity.inspect(path)
    if found.problem:
        say(f"problem: {found.problem}")
        out.ok = False
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        if found.verdict == "new":
            say("no journal yet: kioskd creates one at its first start")
        return out
    sidecars = os.path.exists(path + "-wal") and os.path.exists(path + "-shm")
    try:
        conn = sqlite3.connect(_ro_uri(path, immutable=not sidecars), uri=True, timeout=2.0)
        try:
            verdict = str(conn.execute("PRAGMA integrity_check(20)").fetchone()[0])
            say(f"integrity_check: {verdict}")
            if verdict != "ok":
                out.ok = False
            rows = conn.execute("SELECT state, COUNT(*) FROM operations GROUP BY state")
            counts = ", ".join(f"{s} {n}" for s, n in rows) or "no operations"
            say(f"operations: {counts}")
            unprinted = conn.execute(
                "SELECT COUNT(*) FROM print_jobs WHERE printed_at IS NULL"
            ).fetchone()[0]
            say(f"print jobs not printed: {unprinted}")
            row = conn.execute(
                "SELECT data FROM catalog WHERE key=?", (identity.IDENTITY_KEY,)
            ).fetchone()
            inside = row[0] if row else None
            if ident is not None and (inside is None or ident.id not in inside):
                say("identity inside the journal does not match the recorded one")
                out.ok = False
        finally:
            conn.close()
    except sqlite3.Error as exc:
        say(f"SQLite cannot read it: {exc}")
        out.ok = False
    return out


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def _move_aside(path: str, label: str) -> str | None:
    """Rename the journal and its -wal/-shm to `<path>.<label>-<when>`; the new name or None."""
    if not any(os.path.exists(path + s) for s in ("", "-wal", "-shm")):
        return None
    kept = f"{path}.{label}-{_stamp()}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.rename(path + suffix, kept + suffix)
    return kept


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "?"
    return f"uid={os.getuid()} user={user}"


def _previous_id(path: str) -> str | None:
    try:
        ident = identity.read_identity(path)
    except ValueError:
        return None
    return ident.id if ident is not None else None


def _new_journal(path: str, how: str, previous: str | None, note: dict[str, Any]) -> Any:
    from kioskd.journal.store import Journal

    now = time.time()
    journal = Journal(path)
    ident = identity.new_identity(now, how, previous)
    identity.record(journal, path, ident, now)
    journal.note(None, "operator", now=now, detail={**note, "journal": ident.id, "by": _who()})
    return journal


def init(path: str, reason: str = "") -> str:
    """Start an empty journal; the old files are kept aside. Returns what was done."""
    previous = _previous_id(path)
    kept = _move_aside(path, "replaced")
    note = {"action": "journal init --force", "previous": previous, "kept_as": kept}
    if reason:
        note["reason"] = reason
    _new_journal(path, "initialised", previous, note).close()
    where = f"; the old files are kept as {kept}*" if kept else ""
    return f"new empty journal at {path} (audited){where}"


def _readable_source(path: str, work: str) -> str | None:
    """A path SQLite can open read-only holding what is left of the journal (a copy in `work`):
    the main file with a sound WAL; or, when the main file is gone, its WAL over an empty file."""
    src = os.path.join(work, "old.sqlite3")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        shutil.copy2(path, src)
        _pad_to_header_size(src)
        if os.path.exists(path + "-wal") and identity.wal_problem(path) is None:
            shutil.copy2(path + "-wal", src + "-wal")
        return src
    if os.path.exists(path + "-wal") and identity.wal_problem(path) is None:
        # SQLite deletes the WAL of an empty main file when it opens it: give the copy one
        # zeroed page, so the pages the WAL holds (page 1 and the tables) are read from it.
        with open(path + "-wal", "rb") as f:
            page_size = int.from_bytes(f.read(16)[8:12], "big") or 4096
        with open(src, "wb") as f:
            f.write(b"\0" * page_size)
        shutil.copy2(path + "-wal", src + "-wal")
        return src
    return None


def _pad_to_header_size(path: str) -> None:
    """A truncated copy grows back to the size its header states, with zeroed pages: SQLite then
    reads what is left instead of calling the whole file malformed."""
    with open(path, "r+b") as f:
        header = f.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            return
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        want = page_size * pages
        if want > os.path.getsize(path):
            f.truncate(want)


def _rows(
    conn: sqlite3.Connection, table: str, cols: list[str]
) -> tuple[list[tuple[Any, ...]], int]:
    """Every readable row of `table`, and how many rowids could not be read."""
    sel = f"SELECT {', '.join(cols)} FROM {table}"
    try:
        return conn.execute(sel + " ORDER BY rowid").fetchall(), 0
    except sqlite3.Error:
        pass
    rows, bad, rowid, tries = [], 0, 0, 0
    while tries < WALK_LIMIT:
        tries += 1
        try:
            row = conn.execute(
                f"SELECT rowid, {', '.join(cols)} FROM {table} WHERE rowid > ? "
                "ORDER BY rowid LIMIT 1",
                (rowid,),
            ).fetchone()
        except sqlite3.Error:
            bad += 1
            rowid += 1
            continue
        if row is None:
            break
        rowid = row[0]
        rows.append(tuple(row[1:]))
    return rows, bad


def recover(path: str) -> str:
    """Salvage what SQLite can read into a new journal; the old files are kept aside."""
    previous = _previous_id(path)
    salvaged: dict[str, int] = {}
    unreadable = 0
    with tempfile.TemporaryDirectory(prefix="kioskd-recover-") as work:
        src = _readable_source(path, work)
        fresh = os.path.join(work, "new.sqlite3")
        journal = _new_journal(fresh, "recovered", previous, {"action": "journal recover"})
        try:
            if src is not None:
                old = sqlite3.connect(src, timeout=2.0)
                try:
                    for table in TABLES:
                        cols = [r[1] for r in journal.conn.execute(f"PRAGMA table_info({table})")]
                        try:
                            have = {r[1] for r in old.execute(f"PRAGMA table_info({table})")}
                        except sqlite3.Error:
                            have = set()
                        cols = [c for c in cols if c in have]
                        if not cols:
                            continue
                        rows, bad = _rows(old, table, cols)
                        unreadable += bad
                        if table == "catalog":
                            key = cols.index("key")
                            rows = [r for r in rows if r[key] != identity.IDENTITY_KEY]
                        marks = ", ".join("?" * len(cols))
                        journal.conn.execute("BEGIN IMMEDIATE")
                        cur = journal.conn.executemany(
                            f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                            rows,
                        )
                        # Rows kept, not rows read: a damaged tree can hand the walk the same
                        # rows again and again (ignored as duplicates). `rowcount` leaves out
                        # what the schema's triggers did (`state_counts`).
                        salvaged[table] = max(0, cur.rowcount)
                        journal.conn.execute("COMMIT")
                finally:
                    old.close()
            journal.note(
                None,
                "operator",
                now=time.time(),
                detail={"salvaged": salvaged, "unreadable_rows": unreadable, "by": _who()},
            )
            journal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            journal.close()
        kept = _move_aside(path, "broken")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(fresh + suffix):
                shutil.move(fresh + suffix, path + suffix)
        with contextlib.suppress(FileNotFoundError):
            os.replace(identity.identity_path(fresh), identity.identity_path(path))
    what = ", ".join(f"{t} {n}" for t, n in salvaged.items()) or "nothing readable"
    where = f"; the old files are kept as {kept}*" if kept else ""
    return f"recovered into a new journal at {path}: {what}; {unreadable} unreadable{where}"
