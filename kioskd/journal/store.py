"""The journal: one SQLite file that remembers every money-moving operation.

Rules:
- One file, WAL, `synchronous=FULL`, one writer connection (this object). Every change is one
  explicit transaction; `commits` counts them (a happy-path sale costs three: intent, outcome
  with its print job, printed).
- State changes go through `kioskd.journal.states.next_state`; every change appends a history
  row in the same transaction. History is append-only.
- The ticket PIN lives only in the operation row (the slip is printed and reprinted from it).
  History, digests, reprs and error texts never hold a PIN: details are masked before writing.
- A print job is created in the same transaction as the outcome that needs it. Jobs found
  unprinted when the journal opens are marked as reprints.
- Any SQLite failure (full disk, read-only file system, locked or corrupt file) raises
  `JournalError` and puts the journal in *attention*: the outbox then refuses new money
  operations. Nothing is silently dropped: the caller always sees the error.
- `crash_hook(point)` is called before and after every commit. Production passes nothing; the
  chaos campaign raises a simulated crash there (before commit: the transaction is rolled back).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kioskd.journal import reads, schema, states
from kioskd.journal.json_columns import Payload, PrintJobPayload, Result, Watermark

CREATE = "create"
PAY = "pay"
CANCEL = "cancel"
KINDS = (CREATE, PAY, CANCEL)

T = TypeVar("T")

PIN_KEYS = frozenset({"pin", "pin_number", "password", "token", "x_auth_token"})

# SQL for each way `states.EVENT_COLUMNS` changes a column (NOW binds the transition's time).
_COLUMN_SQL: dict[states.Column, str] = {
    states.Column.NOW: "{column}=?",
    states.Column.PLUS_ONE: "{column}={column}+1",
    states.Column.ZERO: "{column}=0",
    states.Column.CLEAR: "{column}=NULL",
}


class JournalError(Exception):
    """The journal cannot be used safely. `kind`: full, readonly, locked, corrupt, io, schema."""

    def __init__(self, message: str, *, kind: str = "io") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Operation:
    """One row of `operations`. The PIN is kept out of repr."""

    id: int
    kind: str
    payload: Payload = field(repr=False)
    amount: int
    deadline: float
    state: str
    ticket_number: int | None
    pin_number: int | None = field(repr=False)
    result: Result | None = field(repr=False)
    reason: str | None
    watermark: Watermark | None
    sent_at: float | None
    attempts: int
    probes: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    # The send's bracket upper bound in server time (None until the request ended, or after a
    # crash in the middle) and its monotonic instant on boot `sent_boot` (schema version 4).
    sent_hi: float | None = None
    sent_mono: float | None = None
    sent_boot: str | None = None


@dataclass(frozen=True)
class PrintJob:
    """A slip the journal holds for the printer."""

    id: int
    op_id: int | None
    kind: str
    payload: PrintJobPayload
    created_at: float
    printed_at: float | None
    reprint: bool
    attempts: int


@dataclass(frozen=True)
class HistoryEntry:
    """One row of an operation's history."""

    id: int
    op_id: int | None
    at: float
    kind: str  # transition, attempt, probe, decision, operator, alarm, note
    event: str | None
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]
    request_digest: str | None
    response_digest: str | None


def mask(value: object) -> object:
    """A copy of `value` with PIN-like fields replaced by a mask (for history and logs)."""
    if isinstance(value, dict):
        return {k: ("****" if k in PIN_KEYS else mask(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value


def digest(value: object) -> str:
    """A short SHA-256 of the masked canonical JSON of a request or response."""
    return hashlib.sha256(masked_json(value).encode()).hexdigest()[:16]


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# How each PIN-like key is written as a key by `_dumps` (a string value that holds this text
# is written with its quotes escaped, so it never looks like one).
_PIN_KEY_TEXTS = tuple(f'"{key}":' for key in sorted(PIN_KEYS))


def masked_json(value: object) -> str:
    """`_dumps(mask(value))`, the text a digest and a history row are made of. Dumped as it
    is first, and masked only when a PIN-like key is in the text: the payloads and details of
    a sale hold none, and walking them in Python cost about 40 calls a sale (issue 19)."""
    text = _dumps(value)
    for key_text in _PIN_KEY_TEXTS:
        if key_text in text:
            return _dumps(mask(value))
    return text


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def classify(exc: BaseException) -> str:
    """The JournalError kind for an SQLite (or OS) failure."""
    text = str(exc).lower()
    if "full" in text or "no space" in text:
        return "full"
    if "readonly" in text or "read-only" in text or "read only" in text:
        return "readonly"
    if "locked" in text or "busy" in text:
        return "locked"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "corrupt"
    return "io"


_OP_COLUMNS = reads.OP_COLUMNS


# op id -> (row, decoded Operation), for unfinished operations only.
_OP_CACHE: dict[int, tuple[tuple[Any, ...], Operation]] = {}


def _op(row: tuple[Any, ...]) -> Operation:
    """The Operation of a row. Unfinished operations are cached by id with the row they were
    decoded from: the outbox reads the queue at every step, and decoding JSON again for
    unchanged rows made draining a backlog quadratic (bench/bench_drain.py). A changed row is
    decoded again; a finished operation leaves the cache, so it holds no more entries than
    there are unfinished operations (bench/bench_memory.py). Operations are frozen and treated
    as read-only by every caller."""
    hit = _OP_CACHE.get(row[0])
    if hit is not None and hit[0] == row:
        return hit[1]
    op = decode_operation(row)
    if op.state in states.TERMINAL:
        _OP_CACHE.pop(op.id, None)
    else:
        _OP_CACHE[op.id] = (row, op)
    return op


def decode_operation(row: tuple[Any, ...]) -> Operation:
    return Operation(
        id=row[0],
        kind=row[1],
        payload=json.loads(row[2]),
        amount=row[3],
        deadline=row[4],
        state=row[5],
        ticket_number=row[6],
        pin_number=row[7],
        result=_loads(row[8]),
        reason=row[9],
        watermark=_loads(row[10]),
        sent_at=row[11],
        attempts=row[12],
        probes=row[13],
        next_attempt_at=row[14],
        created_at=row[15],
        updated_at=row[16],
        sent_hi=row[17],
        sent_mono=row[18],
        sent_boot=row[19],
    )


# The hourly housekeeping checkpoint leaves a WAL file under this size as it is. On an idle
# kiosk the WAL gains two or three pages an hour (the server-time record, a draw's catalog
# row); checkpointing them hourly wrote them a second time into the database and made the
# next commit restart the WAL (header, new salt): about 1.1 MB a day of the 2 MB budget
# (issue 19, SD-card writes; measured with the journal on a disk: 2.6 -> 1.5 MB a day). The
# WAL stays bounded: SQLite's own checkpoint at `wal_autocheckpoint` pages (a busy counter
# reaches it in about 40 sales) and `journal_size_limit` still apply, and a WAL of this size
# replays in milliseconds after a power cut.
HOUSEKEEPING_CHECKPOINT_BYTES = 1024 * 1024

# `save_catalog`: the row (key + this) holding when unchanged content was fetched again.
FETCHED_AGAIN = "#fetched-again"
_CATALOG_UPSERT = (
    "INSERT INTO catalog (key, data, fetched_at) VALUES (?,?,?) "
    "ON CONFLICT(key) DO UPDATE SET data=excluded.data, fetched_at=excluded.fetched_at"
)


def catalog_text(data: object) -> tuple[str, str]:
    """(the JSON the catalog cache keeps, a digest of its content without `fetched_at`)."""
    body = dict(data) if isinstance(data, dict) else data
    if isinstance(body, dict):
        body.pop("fetched_at", None)
    return _dumps(data), hashlib.sha256(_dumps(body).encode()).hexdigest()


def history_entry(r: tuple[Any, ...]) -> HistoryEntry:
    return HistoryEntry(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7] or "{}"), r[8], r[9]
    )


class OwnedTickets(AbstractSet[int]):
    """Ticket numbers owned by the journal's operations of one kind, read by index: `in` is one
    lookup (the reconciliation asks it of the few tickets a probe saw). Iterating reads them
    all: nothing on a hot path does. `a | b` of two such sets of one kind is the wider one."""

    def __init__(self, journal: Journal, kind: str, exclude: int | None) -> None:
        self.journal, self.kind, self.exclude = journal, kind, exclude

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        return self.journal.owns_ticket(self.kind, number, exclude=self.exclude)

    def __iter__(self) -> Iterator[int]:
        return iter(self.journal.ticket_numbers(self.kind, exclude=self.exclude))

    def __len__(self) -> int:
        return len(self.journal.ticket_numbers(self.kind, exclude=self.exclude))

    def __or__(self, other: AbstractSet[Any]) -> AbstractSet[Any]:
        mine = isinstance(other, OwnedTickets) and other.journal is self.journal
        if mine and isinstance(other, OwnedTickets) and other.kind == self.kind:
            same = self.exclude == other.exclude
            return OwnedTickets(self.journal, self.kind, self.exclude if same else None)
        return frozenset(self) | other


class Journal:
    """The SQLite journal. Open with `Journal(path)`; close with `close()` (or `with`)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention_days: float = 90.0,
        crash_hook: Callable[[str], None] | None = None,
        busy_timeout_s: float = 2.0,
        journal_size_limit: int = 4 * 1024 * 1024,
        wal_autocheckpoint: int = 1000,
        max_page_count: int | None = None,
        open_mode: str = "rwc",
        recheck_s: float = 0.0,
    ) -> None:
        self.path = os.fspath(path)
        self.retention_days = retention_days
        self.crash_hook = crash_hook
        self.commits = 0
        self.attention: JournalError | None = None
        self.fault_point: str | None = None  # what failed: a write's name, "read", "checkpoint"
        self.migrated: list[int] = []
        self.quick_check = "not run"
        self._conn: sqlite3.Connection | None = None
        # Operations per state, kept as the journal changes (status and metrics read them every
        # few seconds; a GROUP BY over a year of history cost a scan each time). `_deltas`
        # holds the changes of the transaction in progress, applied only once it commits.
        self._counts: dict[str, int] = {}
        self._deltas: list[tuple[str, int]] = []
        self._batching = False
        self._batch_deltas: list[tuple[str, int]] = []
        # The unfinished operations by id, in journal order, kept as this object writes them
        # (issue 19: CPU per sale; the outbox asks for queued, doubtful or in-flight ones
        # several times a step, each an SQL read). Loaded at first use; loaded again when
        # another connection committed (`PRAGMA data_version` moved: retention's worker,
        # tools). `_changed` holds what the transaction in progress wrote, applied only once
        # it commits.
        self._open: dict[int, Operation] | None = None
        self._open_version = -1
        # Whether another connection committed is asked (`PRAGMA data_version`, a read
        # transaction with its shared-memory locks) at most once per `recheck_s` (the daemon:
        # a second; 0, the default: at every look). A sale looks at the view a dozen times
        # within a few milliseconds, about 0.2 ms of CPU a sale in those reads (issue 19).
        # Nothing another process writes is missed for longer than that, and while the daemon
        # runs nothing else writes unfinished operations (repairs need it stopped, operators
        # go through its control socket); its retention worker's deletes are said at once
        # (`forget`). This object's own writes keep the view current in any case.
        self.recheck_s = recheck_s
        self._checked_at = -float("inf")
        # The last operations this object settled (done, rejected, expired), as its commit
        # left them: a sale's outcome is read back by the executor, the spooler and the
        # PENDING slip's timer right after it settles. A settled row changes no more; it is
        # dropped when rows may have been deleted (a purge, another connection's commit).
        self._settled: dict[int, Operation] = {}
        self._changed: list[Operation] = []
        self._batch_changed: list[Operation] = []
        self._catalog_saved: dict[str, tuple[str, float]] = {}  # key -> (content, saved at)
        # key -> when its unchanged content was last fetched again, not yet written: each
        # write to the catalog table carries these along (one commit instead of two an hour).
        self._fetched_again: dict[str, float] = {}
        # key -> (text, content, fetched at, kept since): a changed content `save_catalog`
        # was asked to defer, written with the next write to the catalog table.
        self._deferred: dict[str, tuple[str, str, float, float]] = {}
        try:
            # `open_mode` "ro" opens read-only (what a read-only file system gives us).
            uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + f"?mode={open_mode}"
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal: {exc}", kind=classify(exc)) from exc
        try:
            if (
                open_mode != "ro"
                and not conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
            ):
                # A new file: freed pages are given back by `Retention.vacuum_step()` after
                # retention (settable only before the first table and before WAL mode; older
                # journals keep reusing their freed pages).
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal cannot use WAL (mode {mode})", kind="readonly")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA journal_size_limit={int(journal_size_limit)}")
            conn.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
            # 512 KiB of page cache (SQLite's default is 2 MiB): the journal's reads are small
            # and indexed, and a Pi Zero 2 W has 512 MB for everything.
            conn.execute("PRAGMA cache_size=-512")
            if max_page_count is not None:
                conn.execute(f"PRAGMA max_page_count={int(max_page_count)}")
            # A whole quick_check reads every page: 0.7 s for 90 days of history here, minutes
            # for years on a Pi (past TimeoutStartSec). Up to QUICK_CHECK_PAGES it runs here;
            # beyond, the schema and the small tables are checked here and the whole file
            # after READY=1 by `Retention.quick_check` in a worker (a failure is attention).
            pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
            if pages <= QUICK_CHECK_PAGES:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                self.quick_check = str(check)
            else:
                check = conn.execute("PRAGMA quick_check(catalog)").fetchone()[0]
                self.quick_check = "deferred" if check == "ok" else str(check)
            if check != "ok":
                raise JournalError(f"journal failed quick_check: {check}", kind="corrupt")
            # Probe the write lock now, so "locked" and "read-only" show up at start.
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"PRAGMA user_version = {schema.version(conn)}")
            finally:
                conn.execute("ROLLBACK")
            self.migrated = schema.migrate(conn)
            self._count_states(conn)
        except schema.MigrationError as exc:
            conn.close()
            raise JournalError(str(exc), kind="schema") from exc
        except sqlite3.Error as exc:
            conn.close()
            raise JournalError(f"cannot use journal: {exc}", kind=classify(exc)) from exc
        except JournalError:
            conn.close()
            raise
        self._conn = conn

    # ----------------------------------------------------------------- plumbing

    def _count_states(self, conn: sqlite3.Connection) -> None:
        """Operations per state at open: the schema's triggers keep them (`state_counts`), so
        this reads a few rows whatever the history (schema version 5)."""
        self._counts = {s: 0 for s in states.STATES}
        for state, n in conn.execute("SELECT state, n FROM state_counts"):
            self._counts[state] = int(n)

    def reopen_counts(self) -> None:
        """Count again after rows were written behind this object's back (tools, tests)."""
        self._count_states(self.conn)
        self._open = None
        self._settled.clear()

    def _open_view(self) -> dict[int, Operation]:
        """The unfinished operations by id (journal order), read again only when another
        connection committed since the last look (asked at most once per `recheck_s`)."""
        if self.recheck_s > 0.0:
            now = time.monotonic()
            if self._open is not None and now - self._checked_at < self.recheck_s:
                return self._open
            self._checked_at = now
        version = self._read("PRAGMA data_version")[0][0]
        if self._open is None or version != self._open_version:
            wanted = tuple(states.UNFINISHED)
            marks = ",".join("?" * len(wanted))
            rows = self._read(
                f"SELECT {_OP_COLUMNS} FROM operations WHERE state IN ({marks}) ORDER BY id",
                wanted,
            )
            self._open, self._open_version = {r[0]: _op(r) for r in rows}, version
            self._settled.clear()
        return self._open

    def _keep(self, changed: list[Operation]) -> None:
        """Committed: the operations this object wrote enter, change in or leave the view
        (those that settled are kept among the last settled, while the view is loaded)."""
        view = self._open
        if view is None:
            return
        for op in changed:
            if op.state in states.TERMINAL:
                view.pop(op.id, None)
                self._settled[op.id] = op
                if len(self._settled) > SETTLED_KEPT:
                    self._settled.pop(next(iter(self._settled)))
            elif op.id in view or not view or op.id > next(reversed(view)):
                view[op.id] = op
            else:  # back among the unfinished, below a newer one: keep journal order
                view[op.id] = op
                self._open = dict(sorted(view.items()))
                view = self._open

    def close(self) -> None:
        self._open = None
        self._settled.clear()
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError("journal is closed", kind="io")
        return self._conn

    def _hook(self, point: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(point)

    def _side_files(self) -> None:
        """JournalError when the -wal or -shm file beside the journal vanished or cannot be
        written. Checked before SQLite touches them: SQLite would write commits into a deleted
        WAL (lost at the next open), and an -shm file that cannot grow kills the process with
        SIGBUS inside a checkpoint, where nothing can be caught or logged."""
        for suffix in ("-wal", "-shm"):
            side = self.path + suffix
            if os.access(side, os.W_OK):
                continue  # there and writable: one system call, the case of every commit
            if not os.path.exists(side):
                raise JournalError(
                    f"the journal's {suffix} file vanished: stop kioskd cleanly (the WAL still "
                    "open is folded back at close), then run `kioskd journal check`",
                    kind="io",
                )
            raise JournalError(
                f"the journal's {suffix} file cannot be written (permissions or an "
                "immutable flag)",
                kind="readonly",
            )

    def _guard(self, point: str) -> None:
        try:
            self._side_files()
        except JournalError as exc:
            self.attention, self.fault_point = exc, point
            raise

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Every write inside is one transaction, committed at the end (tools that fill a
        journal through this API, e.g. the history generator of the benchmarks; never the
        daemon, whose every change is durable on its own)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        self._batching, self._batch_deltas, self._batch_changed = True, [], []
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
            self.commits += 1
            for state, n in self._batch_deltas:
                self._counts[state] = self._counts.get(state, 0) + n
            self._keep(self._batch_changed)
        finally:
            self._batching, self._batch_deltas, self._batch_changed = False, [], []

    def _write(self, point: str, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run `body` in one IMMEDIATE transaction and commit it durably."""
        conn = self.conn
        if self._batching:
            self._deltas, self._changed = [], []
            result = body(conn)
            self._batch_deltas += self._deltas
            self._batch_changed += self._changed
            return result
        self._guard(point)
        self._deltas, self._changed = [], []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                self._hook(f"{point}:before_commit")
                conn.execute("COMMIT")
            except BaseException:
                self._deltas, self._changed = [], []
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self.attention = JournalError(
                f"journal write failed ({point}): {exc}", kind=classify(exc)
            )
            self.fault_point = point
            raise self.attention from exc
        self.commits += 1
        for state, n in self._deltas:
            self._counts[state] = self._counts.get(state, 0) + n
        self._keep(self._changed)
        self._deltas, self._changed = [], []
        self._hook(f"{point}:after_commit")
        return result

    def _read(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            self.attention = JournalError(f"journal read failed: {exc}", kind=classify(exc))
            self.fault_point = "read"
            raise self.attention from exc

    @staticmethod
    def _history(
        conn: sqlite3.Connection,
        op_id: int | None,
        now: float,
        kind: str,
        *,
        event: str | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        detail: Mapping[str, object] | None = None,
        request_digest: str | None = None,
        response_digest: str | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO history (op_id, at, kind, event, from_state, to_state, detail, "
            "request_digest, response_digest) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                op_id,
                now,
                kind,
                event,
                from_state,
                to_state,
                masked_json(detail or {}),
                request_digest,
                response_digest,
            ),
        )

    # ----------------------------------------------------------------- operations

    def add(
        self,
        kind: str,
        payload: Payload,
        *,
        amount: int,
        deadline: float,
        now: float,
        state: str = states.QUEUED,
        watermark: Watermark | None = None,
        pin_number: int | None = None,
        ticket_number: int | None = None,
        detail: Mapping[str, object] | None = None,
        sent_mono: float | None = None,
        sent_boot: str | None = None,
    ) -> int:
        """Journal a new operation (the intent commit). Born `queued`, or `sending` when the
        outbox sends it at once (then `watermark` is the one recorded before the send)."""
        if kind not in KINDS:
            raise ValueError(f"unknown operation kind {kind!r}")
        if state not in states.INITIAL_STATES:
            raise states.IllegalTransition(None, "add", state)
        if self.attention is not None:
            raise self.attention
        if any(k in PIN_KEYS for k in payload):
            raise ValueError("PINs go in pin_number, never in the payload")

        def body(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO operations (kind, payload, amount, deadline, state, ticket_number, "
                "pin_number, watermark, sent_at, attempts, created_at, updated_at, sent_mono, "
                "sent_boot) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    kind,
                    _dumps(payload),
                    int(amount),
                    float(deadline),
                    state,
                    ticket_number,
                    pin_number,
                    _dumps(watermark) if watermark is not None else None,
                    now if state == states.SENDING else None,
                    1 if state == states.SENDING else 0,
                    now,
                    now,
                    sent_mono if state == states.SENDING else None,
                    sent_boot if state == states.SENDING else None,
                ),
            )
            op_id = int(cur.lastrowid or 0)
            self._deltas.append((state, 1))
            self._changed.append(self._get(conn, op_id))
            self._history(
                conn,
                op_id,
                now,
                "transition",
                event="add",
                to_state=state,
                detail={"kind": kind, "amount": amount, "deadline": deadline, **(detail or {})},
                request_digest=digest(payload),
            )
            return op_id

        return int(self._write(f"add:{state}", body))

    def transition(
        self,
        op_id: int,
        event: str,
        *,
        now: float,
        detail: Mapping[str, object] | None = None,
        history_kind: str = "transition",
        ticket_number: int | None = None,
        pin_number: int | None = None,
        result: Result | None = None,
        reason: str | None = None,
        watermark: Watermark | None = None,
        next_attempt_at: float | None = None,
        print_job: tuple[str, PrintJobPayload] | None = None,
        request_digest: str | None = None,
        response_digest: str | None = None,
        sent_hi: float | None = None,
        sent_mono: float | None = None,
        sent_boot: str | None = None,
    ) -> Operation:
        """Apply `event` to the operation (checked against the state table), in one commit
        together with its history row and, if given, the print job its outcome needs."""

        def body(conn: sqlite3.Connection) -> Operation:
            row = conn.execute("SELECT state FROM operations WHERE id=?", (op_id,)).fetchone()
            if row is None:
                raise KeyError(f"no operation {op_id}")
            old = row[0]
            new = states.next_state(old, event, op_id)
            sets = ["state=?", "updated_at=?"]
            params: list[object] = [new, now]
            given = {
                "ticket_number": ticket_number,
                "pin_number": pin_number,
                "result": None if result is None else _dumps(result),
                "reason": reason,
                "watermark": None if watermark is None else _dumps(watermark),
                "next_attempt_at": next_attempt_at,
                "sent_hi": sent_hi,
                "sent_mono": sent_mono,
                "sent_boot": sent_boot,
            }
            for column, value in given.items():  # only what this transition sets
                if value is not None:
                    sets.append(f"{column}=?")
                    params.append(value)
            for column, how in states.columns_for(event).items():  # the table's bookkeeping
                sets.append(_COLUMN_SQL[how].format(column=column))
                if how == states.Column.NOW:
                    params.append(now)
            conn.execute(f"UPDATE operations SET {', '.join(sets)} WHERE id=?", (*params, op_id))
            if new != old:
                self._deltas += [(old, -1), (new, 1)]
            info = dict(detail or {})
            if reason is not None:
                info.setdefault("reason", reason)
            if ticket_number is not None:
                info.setdefault("ticket_number", ticket_number)
            self._history(
                conn,
                op_id,
                now,
                history_kind,
                event=event,
                from_state=old,
                to_state=new,
                detail=info,
                request_digest=request_digest,
                response_digest=response_digest,
            )
            if print_job is not None:
                self._insert_print_job(conn, op_id, print_job[0], print_job[1], now)
            op = self._get(conn, op_id)
            self._changed.append(op)
            return op

        return self._write(f"{event}", body)

    def note(
        self,
        op_id: int | None,
        kind: str,
        *,
        now: float,
        detail: Mapping[str, object] | None = None,
        request_digest: str | None = None,
        response_digest: str | None = None,
        next_attempt_at: float | None = None,
    ) -> None:
        """Append a history row that changes no state (attempt, probe, decision, alarm)."""

        def body(conn: sqlite3.Connection) -> None:
            self._history(
                conn,
                op_id,
                now,
                kind,
                detail=detail,
                request_digest=request_digest,
                response_digest=response_digest,
            )
            if next_attempt_at is not None and op_id is not None:
                conn.execute(
                    "UPDATE operations SET next_attempt_at=? WHERE id=?", (next_attempt_at, op_id)
                )
                self._changed.append(self._get(conn, op_id))

        self._write(f"note:{kind}", body)

    def alarm(self, now: float, detail: Mapping[str, object]) -> None:
        """An audited alarm that belongs to no operation (e.g. a foreign ticket in /last)."""
        self.note(None, "alarm", now=now, detail=detail)

    @staticmethod
    def _get(conn: sqlite3.Connection, op_id: int) -> Operation:
        row = conn.execute(f"SELECT {_OP_COLUMNS} FROM operations WHERE id=?", (op_id,)).fetchone()
        if row is None:
            raise KeyError(f"no operation {op_id}")
        return _op(row)

    def get(self, op_id: int) -> Operation:
        """One operation: an unfinished or just settled one from memory, else by its key."""
        if not self._batching:
            op = self._open_view().get(op_id) or self._settled.get(op_id)
            if op is not None:
                return op
        return reads.operation(self._read, _op, op_id)

    def operations(self, states_in: Iterable[str] | None = None) -> list[Operation]:
        """Operations in journal order, optionally only those in the given states. Unfinished
        ones are answered from the view kept in memory (no SQL while nobody else wrote)."""
        if states_in is not None and not self._batching:
            wanted_set = frozenset(states_in)
            if wanted_set <= states.UNFINISHED:
                return [op for op in self._open_view().values() if op.state in wanted_set]
        if states_in is None:
            rows = self._read(f"SELECT {_OP_COLUMNS} FROM operations ORDER BY id")
        else:
            wanted = tuple(states_in)
            marks = ",".join("?" * len(wanted))
            rows = self._read(
                f"SELECT {_OP_COLUMNS} FROM operations WHERE state IN ({marks}) ORDER BY id",
                wanted,
            )
        return [_op(r) for r in rows]

    def ticket_numbers(self, kind: str, *, exclude: int | None = None) -> frozenset[int]:
        """Every ticket number owned by operations of `kind`. O(history): for tools and tests;
        a hot path asks `owned_tickets` (membership by index) instead."""
        rows = self._read(
            "SELECT ticket_number FROM operations WHERE kind=? AND ticket_number IS NOT NULL "
            "AND id IS NOT ?",
            (kind, exclude),
        )
        return frozenset(int(r[0]) for r in rows)

    def owned_tickets(self, kind: str, *, exclude: int | None = None) -> OwnedTickets:
        """The ticket numbers owned by operations of `kind` as a set read by index: `in`
        costs one lookup, whatever the journal's size."""
        return OwnedTickets(self, kind, exclude)

    def owns_ticket(self, kind: str, number: int, *, exclude: int | None = None) -> bool:
        rows = self._read(
            "SELECT 1 FROM operations WHERE ticket_number=? AND kind=? AND id IS NOT ? LIMIT 1",
            (number, kind, exclude),
        )
        return bool(rows)

    # A lookup by ticket writes its state test as `+state=?`: the unary plus keeps SQLite from
    # reading it through a state index. Without statistics (kioskd runs no ANALYZE), the
    # planner took `done_on_ticket` through `operations_settled (state=?)`, every done
    # operation of the history, instead of `operations_ticket`: 0.8 s of the event loop for a
    # cancel on a 5-year journal (issue 19; tests/journal/test_history_cost.py).

    def done_on_ticket(self, kind: str, number: int | None, *, exclude: int | None) -> bool:
        """Is another operation of `kind` on this ticket done? (by the ticket's index)"""
        rows = self._read(
            "SELECT 1 FROM operations WHERE ticket_number IS ? AND kind=? AND +state=? "
            "AND id IS NOT ? LIMIT 1",
            (number, kind, states.DONE, exclude),
        )
        return bool(rows)

    def sale_amount(self, ticket_number: int) -> int | None:
        """The amount of the sale of this ticket done here (None when not sold here)."""
        rows = self._read(
            "SELECT amount FROM operations WHERE ticket_number=? AND kind=? AND +state=? "
            "ORDER BY id DESC LIMIT 1",
            (ticket_number, CREATE, states.DONE),
        )
        return int(rows[0][0]) if rows else None

    def last_settled_at(self, kind: str, state: str) -> float | None:
        """When the newest operation of `kind` reached `state` (by index, newest first)."""
        for (at,) in self.conn.execute(
            "SELECT updated_at FROM operations WHERE state=? AND kind=? ORDER BY updated_at DESC",
            (state, kind),
        ):
            return float(at)
        return None

    def unfinished(self) -> list[Operation]:
        return self.operations(states.UNFINISHED)

    def open_operations(self, limit: int) -> tuple[list[Operation], int]:
        """Up to `limit` unfinished operations (oldest first) and how many there are."""
        total = sum(self._counts.get(s, 0) for s in states.UNFINISHED)
        return self.operations(states.UNFINISHED)[:limit], total

    def settled(
        self,
        *,
        limit: int,
        states_in: Iterable[str] | None = None,
        since: float | None = None,
        before: tuple[float, int] | None = None,
    ) -> list[Operation]:
        """The last `limit` settled operations, newest settled first: (state, updated_at)
        index ranges, one per state, merged; `before` = (updated_at, id) of the last one of
        the previous page. O(log n + limit) whatever the history."""
        return reads.settled(
            self._read, _op, limit=limit, states_in=states_in, since=since, before=before
        )

    def history_tail(self, op_id: int, limit: int) -> tuple[list[HistoryEntry], int]:
        """The last `limit` history rows of one operation (in order) and how many it has."""
        return reads.history_tail(self._read, history_entry, op_id, limit)

    def counts(self) -> dict[str, int]:
        """Operations per state, kept as the journal changes (no scan)."""
        out: dict[str, int] = {s: 0 for s in states.STATES}
        out.update(self._counts)
        return out

    def forget(self, deleted: Mapping[str, int]) -> None:
        """Retention (another connection, see `Retention`) deleted these settled operations:
        the next look at the view asks whether another connection committed."""
        self._checked_at = -float("inf")
        for state, n in deleted.items():
            self._counts[state] = self._counts.get(state, 0) - n

    def history(self, op_id: int | None = None, *, kind: str | None = None) -> list[HistoryEntry]:
        sql = (
            "SELECT id, op_id, at, kind, event, from_state, to_state, detail, request_digest, "
            "response_digest FROM history"
        )
        where: list[str] = []
        params: list[int | str] = []
        if op_id is not None:
            where.append("op_id=?")
            params.append(op_id)
        if kind is not None:
            where.append("kind=?")
            params.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._read(sql + " ORDER BY id", params)
        return [history_entry(r) for r in rows]

    # ----------------------------------------------------------------- print jobs

    @staticmethod
    def _insert_print_job(
        conn: sqlite3.Connection,
        op_id: int | None,
        kind: str,
        payload: PrintJobPayload,
        now: float,
        reprint: bool = False,
    ) -> int:
        if any(k in PIN_KEYS for k in payload):
            raise ValueError("print jobs reference the operation for the PIN; none in payload")
        cur = conn.execute(
            "INSERT INTO print_jobs (op_id, kind, payload, created_at, reprint) VALUES (?,?,?,?,?)",
            (op_id, kind, _dumps(payload), now, int(reprint)),
        )
        return int(cur.lastrowid or 0)

    def add_print_job(
        self,
        op_id: int | None,
        kind: str,
        payload: PrintJobPayload,
        *,
        now: float,
        reprint: bool = False,
    ) -> int:
        """A print job on its own (slips that need no outcome, e.g. an operator reprint)."""
        return int(
            self._write(
                f"print_job:{kind}",
                lambda conn: self._insert_print_job(conn, op_id, kind, payload, now, reprint),
            )
        )

    def last_ticket_job(self) -> PrintJob | None:
        """The newest ticket print job of a sale (what an operator reprint copies)."""
        rows = self._read(
            "SELECT id, op_id, kind, payload, created_at, printed_at, reprint, attempts "
            "FROM print_jobs WHERE kind='ticket' AND op_id IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        return self._job(rows[0]) if rows else None

    def pending_print_jobs(self) -> list[PrintJob]:
        rows = self._read(
            "SELECT id, op_id, kind, payload, created_at, printed_at, reprint, attempts "
            "FROM print_jobs WHERE printed_at IS NULL ORDER BY id"
        )
        return [self._job(r) for r in rows]

    def print_jobs(self, op_id: int | None = None) -> list[PrintJob]:
        sql = (
            "SELECT id, op_id, kind, payload, created_at, printed_at, reprint, attempts "
            "FROM print_jobs"
        )
        rows = (
            self._read(sql + " WHERE op_id=? ORDER BY id", (op_id,))
            if op_id is not None
            else self._read(sql + " ORDER BY id")
        )
        return [self._job(r) for r in rows]

    @staticmethod
    def _job(r: tuple[Any, ...]) -> PrintJob:
        return PrintJob(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], bool(r[6]), r[7])

    def mark_printed(self, job_id: int, *, now: float) -> None:
        def body(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE print_jobs SET printed_at=?, attempts=attempts+1 "
                "WHERE id=? AND printed_at IS NULL",
                (now, job_id),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no unprinted print job {job_id}")

        self._write("printed", body)

    def mark_unprinted_as_reprints(self, *, now: float) -> int:
        """At start-up: every unfinished job may have reached paper already -> a reprint."""

        def body(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE print_jobs SET reprint=1 WHERE printed_at IS NULL AND reprint=0"
            )
            return int(cur.rowcount)

        if not self._read("SELECT 1 FROM print_jobs WHERE printed_at IS NULL AND reprint=0"):
            return 0
        return int(self._write("reprints", body))

    # ----------------------------------------------------------------- catalog cache

    def save_catalog(
        self,
        key: str,
        data: object,
        *,
        fetched_at: float,
        keep_for_s: float = 0.0,
        text: tuple[str, str] | None = None,
        defer: bool = False,
    ) -> bool:
        """Cache the catalog; returns whether it was written. With `keep_for_s`, a catalog
        whose content (all but a top-level `fetched_at`) equals the one saved less than
        `keep_for_s` ago is not written again: a production catalog is megabytes, refreshed
        every few minutes, and rewriting it unchanged wore the SD card (issue 19). Its new
        fetch time is kept and written with the next write to this table (the daemon's
        hourly server-time record, its stop), or after `keep_for_s`. With `defer` too, a
        changed content is kept the same way, up to `keep_for_s` after the cache on disk
        stopped being the latest (the daemon's server-time record, which then rides with a
        draw's catalog row: one commit an hour instead of two); a key never saved or loaded
        in this run is written at once.
        `text`: `catalog_text(data)` computed beforehand (the daemon does it in a worker)."""
        dumped, content = text if text is not None else catalog_text(data)
        saved = self._catalog_saved.get(key)
        kept = self._deferred.get(key)
        if keep_for_s > 0 and saved is not None and saved[0] == content:  # the disk's content
            self._deferred.pop(key, None)
            self._fetched_again[key] = fetched_at
            if fetched_at - saved[1] < keep_for_s:
                return False
            self._write_catalog(None, "", "", 0.0)  # its fetch time, with all else kept
        elif keep_for_s > 0 and saved is not None and (defer or kept is not None):
            since = kept[3] if kept is not None else fetched_at
            self._deferred[key] = (dumped, content, fetched_at, since)
            self._fetched_again.pop(key, None)
            if fetched_at - since < keep_for_s:
                return False
            self._write_catalog(None, "", "", 0.0)  # kept long enough: with all else kept
        else:
            self._deferred.pop(key, None)
            self._fetched_again.pop(key, None)
            self._write_catalog(key, dumped, content, fetched_at)
        return True

    def save_kept(self) -> bool:
        """Write what `save_catalog` kept, fetch times and deferred contents (the daemon's
        stop); whether it wrote."""
        if not self._fetched_again and not self._deferred:
            return False
        self._write_catalog(None, "", "", 0.0)
        return True

    def _write_catalog(self, key: str | None, dumped: str, content: str, at: float) -> None:
        """One commit: `key`'s row (None: none), then every kept content and fetch time."""
        deferred = dict(self._deferred)
        again = dict(self._fetched_again)
        rows = [(k, d, t) for k, (d, _, t, _) in deferred.items()]
        if key is not None:
            rows.append((key, dumped, at))

        def write(conn: sqlite3.Connection) -> None:
            for k, d, t in rows:
                conn.execute(_CATALOG_UPSERT, (k, d, t))
                conn.execute("DELETE FROM catalog WHERE key=?", (k + FETCHED_AGAIN,))
            # An unchanged content's new fetch time goes in a row of its own: an UPDATE of
            # the cache's row would rewrite the whole record with its overflow pages (a
            # production catalog is megabytes, 28 KB of WAL with the simulator's).
            for k, t in again.items():
                conn.execute(_CATALOG_UPSERT, (k + FETCHED_AGAIN, "null", t))

        self._write("catalog", write)
        for k, t in again.items():
            self._fetched_again.pop(k, None)
            self._catalog_saved[k] = (self._catalog_saved[k][0], t)
        for k, (_, c, t, _) in deferred.items():
            self._deferred.pop(k, None)
            self._catalog_saved[k] = (c, t)
        if key is not None:
            self._catalog_saved[key] = (content, at)

    def load_catalog(self, key: str) -> tuple[Any, float] | None:
        """(the cached data, when it was last fetched): the later of its own time and the
        time `save_catalog` recorded when the same content was fetched again."""
        rows = dict(
            (k, (d, t))
            for k, d, t in self._read(
                "SELECT key, data, fetched_at FROM catalog WHERE key IN (?,?)",
                (key, key + FETCHED_AGAIN),
            )
        )
        if key not in rows:
            return None
        data, fetched_at = rows[key]
        again = rows.get(key + FETCHED_AGAIN)
        if again is not None and again[1] > fetched_at:
            fetched_at = again[1]
        value = json.loads(data)
        # What the cache holds is now known: a refresh that brings the same content does not
        # rewrite it (each start rewrote the 600 KB inventory: issue 19, SD-card writes).
        # Without a top-level `fetched_at` the stored text is its content (`catalog_text`),
        # so its digest needs no second dump of 600 KB.
        if key not in self._catalog_saved:
            plain = not (isinstance(value, dict) and "fetched_at" in value)
            content = hashlib.sha256(data.encode()).hexdigest() if plain else catalog_text(value)[1]
            self._catalog_saved[key] = (content, fetched_at)
        return value, fetched_at

    # ----------------------------------------------------------------- housekeeping

    def purge(self, *, now: float, batch: int = 0) -> int:
        """Delete finished operations older than `retention_days` (and their history and
        printed jobs), in transactions of at most `batch` operations (0: `PURGE_BATCH`).
        Unfinished operations and unprinted jobs are never deleted. The daemon does this in a
        worker through `Retention`; this form serves tools, tests and the in-process outbox."""
        total = 0
        self._settled.clear()
        while True:
            deleted = self._write(
                "purge", lambda conn: purge_step(conn, self.retention_days, now, batch)
            )
            for state, n in deleted.items():
                self._counts[state] = self._counts.get(state, 0) - n
            done = sum(deleted.values())
            total += done
            if done < (batch or PURGE_BATCH):
                return total

    def checkpoint(self, *, unless_under: int = 0) -> tuple[int, int, int]:
        """Fold the WAL back into the database and truncate it (bounded files). With
        `unless_under`, a WAL file smaller than that many bytes is left as it is: (0, 0, 0)
        (`HOUSEKEEPING_CHECKPOINT_BYTES`)."""
        if unless_under and self._wal_bytes() < unless_under:
            return 0, 0, 0
        self._guard("checkpoint")
        try:
            busy, log, done = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            # The main file refuses writes (full, read-only, immutable): the WAL keeps every
            # commit, but it can only grow from here. A fault like any other write's.
            self.attention = JournalError(f"journal checkpoint failed: {exc}", kind=classify(exc))
            self.fault_point = "checkpoint"
            raise self.attention from exc
        return int(busy), int(log), int(done)

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(f"{self.path}-wal")
        except OSError:
            return 0

    # ----------------------------------------------------------------- healing

    def heal(self, *, now: float) -> bool:
        """After a fault: try again what failed; True (attention cleared) once it works.

        A lock is first probed from a separate connection that does not wait (the daemon's
        event loop must not sit out a busy timeout per try). Then the kind of write that failed
        runs for real: a checkpoint for a checkpoint fault, otherwise an audited note that the
        journal is writable again (a real commit: a disk still full still fails)."""
        fault = self.attention
        if fault is None:
            return True
        point = self.fault_point
        if point == "quick_check":
            return False  # damaged pages do not heal: a technician runs `kioskd journal check`
        try:
            self._side_files()
        except JournalError:
            return False  # the first cause stands
        try:
            probe = sqlite3.connect(
                "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=rw",
                uri=True,
                timeout=0,
                isolation_level=None,
            )
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            finally:
                probe.close()
        except sqlite3.Error:
            return False  # still locked (or unopenable): the first cause stands
        try:
            if point == "checkpoint":
                self.checkpoint()
            self._write(
                "healed",
                lambda conn: self._history(
                    conn,
                    None,
                    now,
                    "note",
                    detail={"journal": "writable again", "fault": str(fault), "kind": fault.kind},
                ),
            )
        except JournalError:
            self.attention, self.fault_point = fault, point  # the first cause stands
            return False
        self.attention = None
        self.fault_point = None
        return True


# Settled operations `Journal.get` answers from memory: the last few this object settled.
SETTLED_KEPT = 16

# Journals up to this many pages (16 MiB) get the whole quick_check when they open; bigger
# ones after READY=1, in the retention worker (`Retention.quick_check`).
QUICK_CHECK_PAGES = 4096

# Operations deleted per retention transaction: each costs about 6 row deletes (the operation,
# its history, its print jobs) by index; 64 keep one transaction near 2 ms here
# (bench/bench_history.py), so a sale waiting for the write lock never waits long.
PURGE_BATCH = 64
# Free pages a vacuum step gives back: ~3 ms of the write lock here, as a purge step (32 pages
# took 2.8 ms, 64 took 7 ms, 256 took 25 ms on a year-old journal); the steps of a year-old
# journal's vacuum (~1,300) then take about half a minute with the pauses between them.
VACUUM_STEP_PAGES = 32


def purge_step(
    conn: sqlite3.Connection, retention_days: float, now: float, batch: int = 0
) -> dict[str, int]:
    """One retention transaction's work (the caller holds the transaction): up to `batch`
    settled operations older than the retention deleted with their history and printed jobs,
    by index; then the oldest loose history rows and printed slips. Returns deleted per state."""
    limit = batch or PURGE_BATCH
    cutoff = now - retention_days * 86400.0
    old: list[tuple[int, str]] = []
    for state in sorted(str(s) for s in states.TERMINAL):
        if len(old) >= limit:
            break
        old += conn.execute(
            "SELECT id, state FROM operations WHERE state=? AND updated_at<? "
            "AND NOT EXISTS (SELECT 1 FROM print_jobs p "
            "WHERE p.op_id = operations.id AND p.printed_at IS NULL) ORDER BY updated_at LIMIT ?",
            (state, cutoff, limit - len(old)),
        ).fetchall()
    deleted: dict[str, int] = {}
    for op_id, state in old:
        conn.execute("DELETE FROM history WHERE op_id=?", (op_id,))
        conn.execute("DELETE FROM print_jobs WHERE op_id=?", (op_id,))
        conn.execute("DELETE FROM operations WHERE id=?", (op_id,))
        deleted[state] = deleted.get(state, 0) + 1
    conn.execute(
        "DELETE FROM history WHERE id IN (SELECT id FROM history WHERE op_id IS NULL AND at<? "
        "ORDER BY op_id, id LIMIT ?)",
        (cutoff, limit),
    )
    conn.execute(
        "DELETE FROM print_jobs WHERE id IN (SELECT id FROM print_jobs WHERE op_id IS NULL "
        "AND printed_at IS NOT NULL AND printed_at<? LIMIT ?)",
        (cutoff, limit),
    )
    return deleted


class Retention:
    """Retention as background work: a connection of its own, used from one worker thread
    (`asyncio.to_thread`), so that deleting history never runs on the event loop. Each `step`
    is one short transaction (`PURGE_BATCH` operations: a few ms of write lock); the daemon
    sleeps between steps, so a sale never waits behind a long purge. Durability: the deletes
    commit with `synchronous=NORMAL` (no fsync of their own): a purge lost in a power cut is
    simply done again, and the next money commit's fsync carries it anyway.

    `vacuum_step` gives freed pages back to the file system a few at a time when the journal
    was created with `auto_vacuum=INCREMENTAL` (journals of this version); an older journal
    reuses its freed pages for new operations, so it stops growing at the retention's size."""

    def __init__(self, path: str, retention_days: float, busy_timeout_s: float = 0.05) -> None:
        self.path = path
        self.retention_days = retention_days
        self.busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        # The steps run in a worker thread; `close` runs on the loop, at stop, possibly while
        # a step is still in that thread (its task was cancelled, the thread goes on): closing
        # the connection under it crashed the process (SIGSEGV in `incremental_vacuum`, found
        # by the kill campaign). Every step holds this lock; `close` interrupts the running
        # statement and takes the lock before it closes.
        self._lock = threading.Lock()
        self._closed = False

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise JournalError("retention is closed", kind="io")
        if self._conn is None:
            uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=rw"
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-256")
            self._conn = conn
        return self._conn

    def step(self, now: float, batch: int = 0) -> dict[str, int]:
        """One short transaction of retention; deleted per state (JournalError on failure)."""
        with self._lock:
            return self._step(now, batch)

    def _step(self, now: float, batch: int) -> dict[str, int]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = purge_step(conn, self.retention_days, now, batch)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise JournalError(f"retention failed: {exc}", kind=classify(exc)) from exc
        return deleted

    def quick_check(self) -> str:
        """The whole file's quick_check, from this worker's connection (a read snapshot: the
        daemon keeps writing meanwhile). "ok" or SQLite's first findings."""
        with self._lock:
            try:
                rows = self._connection().execute("PRAGMA quick_check(5)").fetchall()
            except sqlite3.Error as exc:
                return f"quick_check failed: {exc}"
        return "; ".join(str(r[0]) for r in rows)

    def vacuum_step(self, pages: int = VACUUM_STEP_PAGES) -> int:
        """Give up to `pages` free pages back (incremental vacuum); how many are left free."""
        with self._lock:
            return self._vacuum_step(pages)

    def _vacuum_step(self, pages: int) -> int:
        conn = self._connection()
        try:
            if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) != 2:
                return 0
            # `executescript`, not `execute`: this pragma moves one page per step of its
            # statement and declares no result column, and `execute` steps such a statement
            # once. It gave back one page a call: a year-old journal's 43,000 free pages took
            # 43,000 transactions (~16 minutes, each rewriting the file's header and a
            # pointer-map page in the WAL). `executescript` runs it to its end, one
            # transaction (the connection is in autocommit: nothing is committed with it).
            conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
            return int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        except sqlite3.Error as exc:
            raise JournalError(f"incremental vacuum failed: {exc}", kind=classify(exc)) from exc

    def close(self) -> None:
        """Stop: a statement running in the worker is interrupted (a whole quick_check of a
        big journal would otherwise hold the stop), then the connection is closed once no
        step uses it; a step asked for after this raises JournalError."""
        self._closed = True
        conn = self._conn
        if conn is not None:
            conn.interrupt()  # thread-safe: the running statement fails with "interrupted"
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
