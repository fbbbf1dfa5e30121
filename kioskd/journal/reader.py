"""Big reads off the event loop: a read connection of its own, in a thread of its own.

Why (issue 19): `kioskctl queue --limit 200` reads 200 operations with their history tails
and encodes them: 35-48 ms of the event loop on a 5-year journal here (about half a second on
a Pi 3B), and a sale typed meanwhile waited for it. The reads are by index (their cost does not
grow with history); this moves what is left of them, and the JSON, off the loop.

Rules:
- One thread, one connection (sqlite3 keeps a connection in the thread that made it), opened
  on first use with `query_only` (this connection never writes) and a short busy timeout.
- Each `run(fn)` is one read transaction: `fn` sees one consistent snapshot of the journal
  (WAL: the loop's writes go on meanwhile, neither side waits for the other).
- The queries are `kioskd.journal.reads`, the writer's own; operations are decoded without the
  writer's cache (that cache belongs to the loop's thread).
- `queue_listing` is the `kioskctl queue` answer from either connection: the writer
  (`Journal`: in-process tools and tests) or this reader (the daemon).

Theory of operation: the control handler calls `await reader.run(fn)`, `fn` listing with
`queue_listing` and encoding with `encode`; the worker thread opens a transaction, runs `fn`,
ends the transaction and hands the bytes back; the loop only splices them into its answer
line (`kioskd.daemon.control.Encoded`). `close()` at stop closes the connection in its
thread and lets the thread end.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kioskd.journal import reads, states
from kioskd.journal.store import (
    HistoryEntry,
    Journal,
    JournalError,
    Operation,
    classify,
    decode_operation,
    history_entry,
)

T = TypeVar("T")

# `kioskctl queue` bounds: settled operations shown by default, the most one answer holds (open
# or settled), history rows per operation (the newest; `history_total` says how many).
QUEUE_SETTLED = 20
QUEUE_MAX = 200
QUEUE_HISTORY = 30


def queue_listing(
    source: Journal | JournalReader,
    states_in: Sequence[str] | None = None,
    *,
    limit: int = QUEUE_SETTLED,
    since: float | None = None,
    before: int | None = None,
    history: int = QUEUE_HISTORY,
) -> list[dict[str, Any]]:
    """Operations with their history, PIN-free, for `kioskctl queue`, from the writer or the
    reader (the same queries: `reads`): the open ones first (oldest first, at most
    `QUEUE_MAX`), then the last `limit` settled (newest settled first; `since`: settled at or
    after; `before`: settled before operation `before`, the next page). Read by index: the
    cost does not grow with history."""
    limit = max(0, min(int(limit), QUEUE_MAX))
    wanted = set(states_in) if states_in is not None else None
    open_ops: list[Operation] = []
    if before is None and (wanted is None or wanted & set(states.UNFINISHED)):
        open_ops, _total = source.open_operations(QUEUE_MAX)
        if wanted is not None:
            open_ops = [op for op in open_ops if op.state in wanted]
    settled: list[Operation] = []
    terminal = [s for s in (wanted or states.TERMINAL) if s in states.TERMINAL]
    if limit and terminal:
        cursor = None
        if before is not None:
            try:
                anchor = source.get(before)
            except KeyError:
                anchor = None
            cursor = (anchor.updated_at, anchor.id) if anchor is not None else None
        settled = source.settled(limit=limit, states_in=terminal, since=since, before=cursor)
    out = []
    for op in (*open_ops, *settled):
        rows, total = source.history_tail(op.id, history)
        out.append({
            "id": op.id, "kind": op.kind, "state": op.state, "amount": op.amount,
            "deadline": op.deadline, "ticket_number": op.ticket_number, "reason": op.reason,
            "attempts": op.attempts, "probes": op.probes, "created_at": op.created_at,
            "updated_at": op.updated_at,
            "history": [
                {"at": h.at, "kind": h.kind, "event": h.event, "from": h.from_state,
                 "to": h.to_state, "detail": h.detail}
                for h in rows
            ],
            "history_total": total,
        })  # fmt: skip
    return out


def encode(result: object) -> bytes:
    """JSON as the control socket writes it (`kioskd.daemon.control`: UTF-8, `str` for what
    JSON has no type for)."""
    return json.dumps(result, ensure_ascii=False, default=str).encode("utf-8")


class JournalReader:
    """The journal's read side in a worker thread (see the module rules)."""

    def __init__(self, path: str, busy_timeout_s: float = 1.0) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-reader")

    async def run(self, fn: Callable[[JournalReader], T]) -> T:
        """`fn(self)` in the reader's thread, in one read transaction."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._snapshot, fn)

    def close(self) -> None:
        """Close the connection in its thread (after a read still running) and end the thread;
        returns at once."""
        self._pool.submit(self._close)
        self._pool.shutdown(wait=False)

    # ------------------------------------------------------------- in the reader's thread

    def _snapshot(self, fn: Callable[[JournalReader], T]) -> T:
        conn = self._connection()
        try:
            conn.execute("BEGIN")
            try:
                return fn(self)
            finally:
                conn.execute("COMMIT")  # a read transaction: nothing to commit but its end
        except sqlite3.Error as exc:
            raise JournalError(f"journal read failed: {exc}", kind=classify(exc)) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=rw"
            try:
                conn = sqlite3.connect(
                    uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None
                )
                conn.execute("PRAGMA query_only=ON")
            except sqlite3.Error as exc:
                raise JournalError(f"journal read failed: {exc}", kind=classify(exc)) from exc
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._connection().execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------- what `queue_listing` reads

    def open_operations(self, limit: int) -> tuple[list[Operation], int]:
        return reads.unfinished(self._read, decode_operation, limit), reads.unfinished_count(
            self._read
        )

    def get(self, op_id: int) -> Operation:
        return reads.operation(self._read, decode_operation, op_id)

    def settled(
        self,
        *,
        limit: int,
        states_in: Iterable[str] | None = None,
        since: float | None = None,
        before: tuple[float, int] | None = None,
    ) -> list[Operation]:
        return reads.settled(
            self._read,
            decode_operation,
            limit=limit,
            states_in=states_in,
            since=since,
            before=before,
        )

    def history_tail(self, op_id: int, limit: int) -> tuple[list[HistoryEntry], int]:
        return reads.history_tail(self._read, history_entry, op_id, limit)
