"""The journal's read queries that two connections share: the writer's (`Journal`, on the
event loop) and the reader's (`JournalReader`, in a thread of its own, for `kioskctl queue`).

Rules:
- Each function takes `read(sql, params) -> rows` and `decode(row) -> Operation`: the writer
  passes its own (its faults put the journal in attention, its decoder keeps unfinished
  operations cached), the reader passes plain ones. No connection, thread or state here.
- Every query is answered by an index whatever the journal's size (issue 19): a lookup by key,
  a bounded range of `operations_settled (state, updated_at)` or `history_op (op_id, id)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kioskd.journal import states

if TYPE_CHECKING:
    from kioskd.journal.store import HistoryEntry, Operation

Row = tuple[Any, ...]
Read = Callable[[str, Sequence[object]], list[Row]]
Decode = Callable[[Row], "Operation"]

OP_COLUMNS = (
    "id, kind, payload, amount, deadline, state, ticket_number, pin_number, result, reason, "
    "watermark, sent_at, attempts, probes, next_attempt_at, created_at, updated_at, "
    "sent_hi, sent_mono, sent_boot"
)
HISTORY_COLUMNS = (
    "id, op_id, at, kind, event, from_state, to_state, detail, request_digest, response_digest"
)


def operation(read: Read, decode: Decode, op_id: int) -> Operation:
    """One operation by its key; KeyError when there is none."""
    rows = read(f"SELECT {OP_COLUMNS} FROM operations WHERE id=?", (op_id,))
    if not rows:
        raise KeyError(f"no operation {op_id}")
    return decode(rows[0])


def unfinished(read: Read, decode: Decode, limit: int) -> list[Operation]:
    """Up to `limit` unfinished operations, oldest first (`operations_state`)."""
    wanted = tuple(sorted(states.UNFINISHED))
    marks = ",".join("?" * len(wanted))
    rows = read(
        f"SELECT {OP_COLUMNS} FROM operations WHERE state IN ({marks}) ORDER BY id LIMIT ?",
        (*wanted, limit),
    )
    return [decode(r) for r in rows]


def unfinished_count(read: Read) -> int:
    """How many operations are unfinished (`operations_state`: few rows whatever the history)."""
    wanted = tuple(sorted(states.UNFINISHED))
    marks = ",".join("?" * len(wanted))
    return int(read(f"SELECT COUNT(*) FROM operations WHERE state IN ({marks})", wanted)[0][0])


def settled(
    read: Read,
    decode: Decode,
    *,
    limit: int,
    states_in: Iterable[str] | None = None,
    since: float | None = None,
    before: tuple[float, int] | None = None,
) -> list[Operation]:
    """The last `limit` settled operations, newest settled first; `before` = (updated_at, id)
    of the last one of the previous page. The keys come first from one `operations_settled`
    range per state (the index holds them: no row is read), merged; then only the rows shown
    are read, by key. O(log n + limit) whatever the history (reading whole rows for every
    state's range first cost 10 ms for a page of 200 on a 5-year journal here)."""
    wanted = [s for s in (states_in or states.TERMINAL) if s in states.TERMINAL]
    lo = -1.0 if since is None else float(since)
    hi_at, hi_id = (float("inf"), 2**62) if before is None else before
    keys: list[Row] = []
    for state in sorted(wanted):
        keys += read(
            "SELECT updated_at, id FROM operations WHERE state=? AND updated_at>=? "
            "AND (updated_at<? OR (updated_at=? AND id<?)) "
            "ORDER BY updated_at DESC, id DESC LIMIT ?",
            (state, lo, hi_at, hi_at, hi_id, limit),
        )
    keys.sort(reverse=True)
    shown = [int(k[1]) for k in keys[:limit]]
    if not shown:
        return []
    rows = {
        r[0]: r
        for r in read(
            f"SELECT {OP_COLUMNS} FROM operations WHERE id IN ({','.join('?' * len(shown))})",
            shown,
        )
    }
    return [decode(rows[i]) for i in shown if i in rows]


def history_tail(
    read: Read, entry: Callable[[Row], HistoryEntry], op_id: int, limit: int
) -> tuple[list[HistoryEntry], int]:
    """The last `limit` history rows of one operation (in order) and how many it has."""
    total = int(read("SELECT COUNT(*) FROM history WHERE op_id=?", (op_id,))[0][0])
    rows = read(
        f"SELECT {HISTORY_COLUMNS} FROM history WHERE op_id=? ORDER BY id DESC LIMIT ?",
        (op_id, limit),
    )
    return [entry(r) for r in reversed(rows)], total
