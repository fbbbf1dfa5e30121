"""Journal identity: the daemon knows a journal existed, so a lost one is never silently replaced.

Rules:
- When a journal is created, an identity (a random id, when, how) is recorded twice: in a small
  JSON file beside it in the state directory (`<journal>.identity`) and inside the journal (a
  row of its key/value table). Losing both at once means losing the state directory.
- At every start `inspect()` compares what is on disk with that record before SQLite opens
  anything: a missing, empty, garbled-WAL or different journal is a problem with a text that
  says what was found and what to do. The daemon then starts in attention (control socket open,
  money refused) until a technician acts with `kioskd journal check|recover|init --force`.
- A journal with no identity file (made before identities existed) is adopted once.
- A new journal stays `confirmed = False` until the first look at the account's newest ticket
  (`/user/ticket/last`) found nothing the journal does not know: a sale lost with an old journal
  is then raised as an alarm, not forgotten.

Theory of operation: SQLite answers "ok" for an empty file (it becomes a new database), for a
main file deleted under its WAL (ditto), and for a WAL whose header was overwritten (the WAL is
ignored, its commits are gone). None of these is an error to SQLite; each is a lost journal to
us. So the facts are taken from the files themselves, here, first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

IDENTITY_KEY = "journal_identity"  # the row inside the journal (catalog table)
WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_HEADER = 32


@dataclass(frozen=True)
class Identity:
    """The journal's identity: when and how it was made, and whether that was checked."""

    id: str
    created_at: float
    how: str = "created"  # created, adopted, recovered, initialised
    confirmed: bool = False  # the first /user/ticket/last after creation was checked
    previous: str | None = None  # the journal this one replaced (recover / init --force)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Identity:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError("not a journal identity")
        return cls(
            id=data["id"],
            created_at=float(data.get("created_at") or 0.0),
            how=str(data.get("how") or "created"),
            confirmed=bool(data.get("confirmed")),
            previous=data.get("previous"),
        )


def new_identity(now: float, how: str = "created", previous: str | None = None) -> Identity:
    import uuid  # a journal's identity is made once: not imported at every start

    return Identity(uuid.uuid4().hex, now, how, confirmed=False, previous=previous)


def identity_path(journal_path: str) -> str:
    return journal_path + ".identity"


def read_identity(journal_path: str) -> Identity | None:
    """The recorded identity; None when there is none. ValueError when it cannot be read."""
    path = identity_path(journal_path)
    try:
        with open(path, encoding="utf-8") as f:
            return Identity.from_json(json.load(f))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"the journal identity {path} cannot be read: {exc}") from exc


def write_identity(journal_path: str, ident: Identity) -> None:
    """Atomically (temp file, fsync, rename, fsync of the directory)."""
    path = identity_path(journal_path)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(ident.to_json(), f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def wal_checksum(data: bytes, big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum over `data` (a multiple of 8 bytes)."""
    fmt = (">" if big_endian else "<") + f"{len(data) // 4}I"
    words = struct.unpack(fmt, data)
    s0 = s1 = 0
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def wal_problem(journal_path: str) -> str | None:
    """Why the WAL beside the journal cannot be read by SQLite (None: absent, empty or sound)."""
    wal = journal_path + "-wal"
    try:
        with open(wal, "rb") as f:
            header = f.read(WAL_HEADER)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"its WAL file cannot be read ({exc.strerror})"
    if not header:
        return None
    if len(header) < WAL_HEADER:
        return "its WAL file is shorter than a WAL header (truncated)"
    magic = struct.unpack(">I", header[:4])[0]
    if magic not in WAL_MAGIC:
        return "its WAL file has a garbled header: SQLite would ignore the commits it holds"
    want = struct.unpack(">II", header[24:32])
    if wal_checksum(header[:24], big_endian=bool(magic & 1)) != want:
        return "its WAL header checksum is wrong: SQLite would ignore the commits it holds"
    return None


@dataclass(frozen=True)
class Inspection:
    """What `inspect` found. `verdict`: new (nothing yet), adopt (a journal without identity),
    known (identity and files agree so far), problem (see `problem`)."""

    verdict: str
    identity: Identity | None = None
    problem: str = ""


WHAT_TO_DO = (
    "money operations are refused until a technician acts: `kioskd journal check` shows what "
    "is there; `kioskd journal recover` salvages what SQLite can read into a new journal "
    "(the old file is kept); `kioskd journal init --force` starts afresh (audited)"
)


def inspect(journal_path: str) -> Inspection:
    """Compare the journal's files with its recorded identity (no SQLite involved)."""
    try:
        ident = read_identity(journal_path)
    except ValueError as exc:
        return Inspection("problem", None, str(exc))
    exists = os.path.exists(journal_path)
    size = os.path.getsize(journal_path) if exists else 0
    leftovers = [s for s in ("-wal", "-shm") if os.path.exists(journal_path + s)]
    if ident is None:
        if not exists or (size == 0 and not leftovers):
            return Inspection("new")
        problem = wal_problem(journal_path)
        if problem:
            return Inspection("problem", None, f"journal {journal_path}: {problem}")
        return Inspection("adopt")
    made = f"journal {ident.id[:8]} (created here {_when(ident.created_at)})"
    if not exists:
        left = f"; its {' and '.join(leftovers)} file(s) are still there" if leftovers else ""
        return Inspection("problem", ident, f"{made} is missing: {journal_path} is gone{left}")
    if size == 0:
        return Inspection("problem", ident, f"{made} is empty: {journal_path} has 0 bytes")
    problem = wal_problem(journal_path)
    if problem:
        return Inspection("problem", ident, f"{made}: {problem}")
    return Inspection("known", ident)


def inside(journal: Any) -> Identity | None:
    """The identity recorded inside an open journal (None when none is)."""
    row = journal.load_catalog(IDENTITY_KEY)
    if row is None:
        return None
    try:
        return Identity.from_json(row[0])
    except ValueError:
        return None


def record(journal: Any, journal_path: str, ident: Identity, now: float) -> None:
    """Write `ident` inside the journal, then beside it."""
    journal.save_catalog(IDENTITY_KEY, ident.to_json(), fetched_at=now)
    write_identity(journal_path, ident)


def settle(journal: Any, journal_path: str, found: Inspection, now: float) -> Identity:
    """After the journal opened: record a new or adopted identity, or check a known one.
    ValueError (with what was found) when the open journal is not the recorded one."""
    if found.verdict == "new":
        ident = new_identity(now)
        record(journal, journal_path, ident, now)
        return ident
    held = inside(journal)
    if found.verdict == "adopt":
        ident = held or dataclasses.replace(new_identity(now, "adopted"), confirmed=True)
        record(journal, journal_path, ident, now)
        return ident
    known = found.identity
    assert known is not None
    if held is None or held.id != known.id:
        what = "holds no identity" if held is None else f"is journal {held.id[:8]}"
        raise ValueError(
            f"journal {known.id[:8]} (created here {_when(known.created_at)}) was replaced: "
            f"{journal_path} {what} (truncated, restored from elsewhere or recreated)"
        )
    return held if held.confirmed >= known.confirmed else known


def confirm(journal: Any, journal_path: str, ident: Identity, now: float) -> Identity:
    """The first `/user/ticket/last` after creation was checked: remember it."""
    done = dataclasses.replace(ident, confirmed=True)
    record(journal, journal_path, done, now)
    return done


def _when(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
