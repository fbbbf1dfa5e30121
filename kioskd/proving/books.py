"""The books: what the server holds (the simulator's ledger) against what the kiosk journaled.

Every campaign (seeded chaos, kill -9, power cut) and `kioskd demo` close with this one check,
so that "lost", "duplicated", "unprinted" and "unresolved" mean the same thing everywhere.

Rules:
- Pure: plain data in (the ledger as `Simulator.ledger()` returns it, the journal's
  `operations` and `print_jobs` rows as dicts), violations out. `read_journal` is the only I/O,
  and it only reads the SQLite file.
- One definition of unresolved: an operation in `UNRESOLVED` (in doubt, reconciling, conflict).
  It is *visibly* unresolved when it carries a reason a person can read; only then may it stay
  so, and only then may it account for a server row the journal does not hold as done.
- Each violation names its invariant (a stable kebab-case word tests and reports rely on) and
  its category (`CATEGORY`): lost, duplicated, unknown (journaled but not on the server),
  unprinted, unresolved, mismatch (the right row with the wrong content), foreign (a ticket
  another terminal or another of our requests made, journaled as this operation's),
  untruthful (a payout or cancel told as not done that its own request did, or told as done
  on the strength of another request's).
- `made_by` (optional, from campaigns that can see it) says which operation's request really
  made each server row: (kind, ticket number) -> operation id. Without it the attribution
  checks are skipped; the rest never needs it.

Theory of operation. Sales are matched by ticket number; a server ticket that no done sale
holds is looked for among the visibly unresolved sales with the same wagers (one cover each):
without one, the sale was lost, or the server sold it twice. Payments and cancellations are
matched by ticket number, both ways, and counted on both sides. Then every operation must be
terminal or visibly unresolved, every done operation's slip printed, and no print job left
pending.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kioskd.journal import states
from kioskd.journal.store import CANCEL, CREATE, PAY
from kioskd.outbox.outbox import PRINT_FOR_DONE
from kioskd.outbox.reconcile import wager_keys

UNRESOLVED: frozenset[str] = frozenset({states.IN_DOUBT, states.RECONCILING, states.CONFLICT})
# Journal operation kind -> the word the books use for it.
NOUN = {CREATE: "sale", PAY: "pay", CANCEL: "cancel"}
LEDGER_ROWS = {PAY: "payments", CANCEL: "cancellations"}

CATEGORY: dict[str, str] = {
    **{f"{noun}-lost-or-duplicated": "lost" for noun in NOUN.values()},
    "lost-operation": "lost",
    **{f"duplicate-{noun}": "duplicated" for noun in NOUN.values()},
    **{f"duplicate-{noun}-journal": "duplicated" for noun in NOUN.values()},
    **{f"{noun}-not-on-server": "unknown" for noun in NOUN.values()},
    "sale-nobody-typed": "unknown",
    "not-printed": "unprinted",
    "unprinted-job": "unprinted",
    "stuck-operation": "unresolved",
    "unresolved-without-reason": "unresolved",
    "done-without-ticket": "mismatch",
    "wrong-ticket": "mismatch",
    "wrong-pin": "mismatch",
    "foreign-ticket-printed": "foreign",
    "ticket-of-another-operation": "foreign",
    **{f"{noun}-of-another-operation": "untruthful" for noun in ("pay", "cancel")},
    **{f"{noun}-told-not-done": "untruthful" for noun in ("pay", "cancel")},
}
# Terminal states that tell the customer the operation did not happen.
NOT_DONE: frozenset[str] = frozenset(states.TERMINAL) - {states.DONE}


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str
    op_id: int | None = None  # the operation to show the history of, when there is one

    @property
    def category(self) -> str:
        return CATEGORY.get(self.invariant, "other")

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"

    def to_json(self) -> dict[str, str]:
        return {"invariant": self.invariant, "detail": self.detail}


def is_unresolved(op: Mapping[str, Any]) -> bool:
    return op["state"] in UNRESOLVED


def visibly_unresolved(op: Mapping[str, Any]) -> bool:
    return is_unresolved(op) and bool(op.get("reason"))


def read_journal(path: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(operations, print jobs, `PRAGMA integrity_check` answer) of a journal file, read-only."""
    if not Path(path).exists():
        return [], [], "ok"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        ops = [dict(r) for r in conn.execute("SELECT * FROM operations ORDER BY id")]
        jobs = [dict(r) for r in conn.execute("SELECT * FROM print_jobs ORDER BY id")]
    finally:
        conn.close()
    return ops, jobs, integrity


def _payload(op: Mapping[str, Any]) -> dict[str, Any]:
    value = op.get("payload")
    if value is None or isinstance(value, dict):
        return value or {}
    return dict(json.loads(value))


def check(
    ledger: Mapping[str, Any],
    operations: Iterable[Mapping[str, Any]],
    print_jobs: Iterable[Mapping[str, Any]],
    *,
    unresolved_covers: bool = True,
    accepted: Iterable[int] = (),
    on_paper: Collection[int] | None = None,
    intents: Collection[Any] | None = None,
    sale_key: Callable[[Any], Hashable] | None = None,
    made_by: Mapping[tuple[str, int], int] | None = None,
) -> list[Violation]:
    """Every way the journal and the server's ledger disagree.

    `unresolved_covers`: a visibly unresolved operation may account for a server row (False
    where the network was healthy long enough that nothing may stay in doubt).
    `accepted`: operation ids the kiosk said it journaled (each must be in the journal).
    `on_paper`: ids of the print jobs the printer really received (None: trust `printed_at`).
    `sale_key(wagers)`: where every typed sale is unique, the key that tells them apart (two
    server tickets with one key are a duplicate); `intents`: the keys of the sales typed (a
    server ticket must be one of them).
    """
    ops = list(operations)
    jobs = list(print_jobs)
    out: list[Violation] = []

    def bad(invariant: str, detail: str, op: Mapping[str, Any] | None = None) -> None:
        out.append(Violation(invariant, detail, op["id"] if op is not None else None))

    tickets = [t for t in ledger.get("tickets", ()) if t.get("origin", "api") == "api"]
    foreign = {
        int(t["ticket_number"]) for t in ledger.get("tickets", ()) if t.get("origin") == "foreign"
    }
    _sales(tickets, [o for o in ops if o["kind"] == CREATE], unresolved_covers, bad, foreign)
    if made_by is not None:
        _attribution(ops, made_by, bad)
    if sale_key is not None:
        per_sale = Counter(sale_key(t["wagers"]) for t in tickets)
        for key, n in per_sale.items():
            if n > 1:
                bad("duplicate-sale", f"sale {key}: {n} server tickets for one typed sale")
            if intents and key not in intents:
                bad("sale-nobody-typed", f"sale {key}: a server ticket nobody typed")
    for kind in (PAY, CANCEL):
        rows = ledger.get(LEDGER_ROWS[kind], ())
        _moves(kind, rows, [o for o in ops if o["kind"] == kind], unresolved_covers, bad)
    known = {o["id"] for o in ops}
    for op_id in accepted:
        if op_id not in known:
            bad("lost-operation", f"operation {op_id} was accepted but is not in the journal")
    for o in ops:
        if is_unresolved(o) and not o.get("reason"):
            bad("unresolved-without-reason", f"op {o['id']} {o['state']} without a reason", o)
        elif o["state"] not in states.TERMINAL and not is_unresolved(o):
            bad("stuck-operation", f"op {o['id']} ({o['kind']}) left in {o['state']}", o)
    _printing(ops, jobs, on_paper, bad)
    return out


def _sales(
    tickets: list[Mapping[str, Any]],
    creates: list[Mapping[str, Any]],
    covers: bool,
    bad: Any,
    foreign: Collection[int] = (),
) -> None:
    by_number = {int(t["ticket_number"]): t for t in tickets}
    done: Counter[int] = Counter()
    for o in creates:
        if o["state"] != states.DONE:
            continue
        number = o["ticket_number"]
        if number is None:
            bad("done-without-ticket", f"sale op {o['id']} done without a ticket number", o)
            continue
        done[number] += 1
        t = by_number.get(number)
        if number in foreign:
            bad("foreign-ticket-printed", f"sale op {o['id']} journaled ticket {number}, "
                "which another terminal sold", o)  # fmt: skip
        elif t is None:
            bad("sale-not-on-server", f"sale op {o['id']} done, ticket {number} not on server", o)
        elif wager_keys(t["wagers"]) != wager_keys(_payload(o).get("wagers", [])):
            bad("wrong-ticket", f"sale op {o['id']} journaled another sale's ticket {number}", o)
        elif o.get("pin_number") is not None and o["pin_number"] != t["pin_number"]:
            bad("wrong-pin", f"sale op {o['id']} journaled a PIN that is not the ticket's", o)
    for number, n in done.items():
        if n > 1:
            bad("duplicate-sale-journal", f"ticket {number} journaled done by {n} operations")
    cover = [o for o in creates if covers and visibly_unresolved(o)]
    for number, t in by_number.items():
        if number in done:
            continue
        keys = wager_keys(t["wagers"])
        match = next((o for o in cover if wager_keys(_payload(o)["wagers"]) == keys), None)
        if match is None:
            seen = sorted({o["state"] for o in creates if o["ticket_number"] == number})
            bad("sale-lost-or-duplicated", f"server ticket {number} has no done or visibly "
                f"unresolved sale in the journal (lost, or sold twice) {seen}")  # fmt: skip
        else:
            cover.remove(match)


def _attribution(
    ops: list[Mapping[str, Any]], made_by: Mapping[tuple[str, int], int], bad: Any
) -> None:
    """Each done operation holds what its own request made; none that its request made is
    told as not done."""
    for o in ops:
        number = o["ticket_number"]
        if number is None:
            continue
        maker = made_by.get((o["kind"], int(number)))
        noun = NOUN[o["kind"]]
        if o["state"] == states.DONE and maker is not None and maker != o["id"]:
            if o["kind"] == CREATE:
                bad("ticket-of-another-operation", f"sale op {o['id']} journaled ticket "
                    f"{number}, which the request of op {maker} made", o)  # fmt: skip
            else:
                bad(f"{noun}-of-another-operation", f"{noun} op {o['id']} done on the strength "
                    f"of op {maker}'s {noun} of ticket {number}", o)  # fmt: skip
        elif o["kind"] != CREATE and o["state"] in NOT_DONE and maker == o["id"]:
            bad(f"{noun}-told-not-done", f"{noun} op {o['id']} ended {o['state']}, but its "
                f"request did the {noun} of ticket {number}", o)  # fmt: skip


def _moves(
    kind: str,
    rows: Iterable[Mapping[str, Any]],
    kind_ops: list[Mapping[str, Any]],
    covers: bool,
    bad: Any,
) -> None:
    """Payments or cancellations: each server row one done operation, both ways."""
    noun = NOUN[kind]
    server = Counter(int(r["ticket_number"]) for r in rows)
    done = Counter(o["ticket_number"] for o in kind_ops if o["state"] == states.DONE)
    for number, n in server.items():
        if n > 1:
            bad(f"duplicate-{noun}", f"ticket {number}: {n} server {noun}s")
        if done[number] > 1:
            bad(f"duplicate-{noun}-journal", f"ticket {number}: {noun} journaled done twice")
        elif done[number] == 0 and not (
            covers and any(o["ticket_number"] == number and visibly_unresolved(o) for o in kind_ops)
        ):
            bad(f"{noun}-lost-or-duplicated", f"server {noun} of ticket {number} not journaled")
    for o in kind_ops:
        if o["state"] == states.DONE and o["ticket_number"] not in server:
            bad(f"{noun}-not-on-server", f"{noun} op {o['id']} done, server has none", o)


def _printing(
    ops: list[Mapping[str, Any]],
    jobs: list[Mapping[str, Any]],
    on_paper: Collection[int] | None,
    bad: Any,
) -> None:
    by_op: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for j in jobs:
        if j["op_id"] is not None:
            by_op[j["op_id"]].append(j)
    for o in ops:
        if o["state"] != states.DONE:
            continue
        slip = PRINT_FOR_DONE[o["kind"]]
        if not any(
            j["kind"] == slip
            and j["printed_at"] is not None
            and (on_paper is None or j["id"] in on_paper)
            for j in by_op[o["id"]]
        ):
            bad("not-printed", f"done {o['kind']} op {o['id']} without a printed {slip} slip", o)
    for j in jobs:
        if j["printed_at"] is None:
            bad("unprinted-job", f"print job {j['id']} ({j['kind']}) still pending")


def summary(violations: Iterable[Violation]) -> dict[str, int]:
    """Violations per category (every category present, zero or not)."""
    counts = Counter(v.category for v in violations)
    return {c: counts[c] for c in dict.fromkeys([*CATEGORY.values(), "other"])}
