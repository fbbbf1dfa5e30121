"""A journal with a long history, filled through the journal's own API (benchmarks, tests).

A busy counter: `per_day` operations a day (550 by default: about 200,000 a year, the figure
issue 19 measured with), 12 opening hours a day, of which about 86 % sales of 1-5 wagers, 8 %
payouts, 3 % cancels, 2 % sales that were in doubt first (probe, then proved applied) and 1 %
refused. Each operation is written the way the outbox writes it: `add` (born `sending`), the
outcome with its print job (`transition`), the print job marked printed; the in-doubt ones add
their `ambiguous`, `probe` and `proved_applied` transitions. Rows carry what a real sale
carries (the ticket as the journal keeps it, wagers with event names), so the file's size per
operation is a real one.

Speed: one transaction per `batch` operations (`Journal.batch()`), so a year fills in about a
minute; seeded, so a run is repeatable. The last day ends at `end` (default: now).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from kioskd.banklot.models import WagerJson
from kioskd.journal import states
from kioskd.journal.store import CANCEL, CREATE, PAY, Journal

DAY = 86400.0
OPEN_HOURS = 12.0
GAMES = ((101, "TRIPLE A"), (102, "TRIPLE B"), (103, "TERMINAL A"), (201, "ANIMALITOS"))


@dataclass
class Filled:
    operations: int
    by_kind: dict[str, int]
    first_at: float
    last_at: float
    seconds: float


def fill(
    journal: Journal,
    *,
    days: float,
    per_day: int = 550,
    end: float | None = None,
    seed: int = 1,
    batch: int = 2000,
) -> Filled:
    """Add `days` of a busy counter's operations ending at `end`; see the module docstring."""
    rng = random.Random(seed)
    end = time.time() if end is None else end
    total = int(days * per_day)
    start = end - days * DAY
    step = days * DAY / max(total, 1)
    by_kind = {CREATE: 0, PAY: 0, CANCEL: 0}
    sold: list[tuple[int, float]] = []
    next_ticket = 10_000_000 + rng.randrange(1_000_000)
    began = time.monotonic()
    first_at = last_at = start
    i = 0
    while i < total:
        with journal.batch():
            for _ in range(min(batch, total - i)):
                # Spread over the opening hours of each day.
                at = start + i * step
                day = at - (at % DAY)
                at = day + 8 * 3600 + (at % DAY) / DAY * OPEN_HOURS * 3600
                i += 1
                last_at = at
                if i == 1:
                    first_at = at
                roll = rng.random()
                if roll < 0.08 and sold:
                    _payout(journal, rng, at, rng.choice(sold)[0])
                    by_kind[PAY] += 1
                elif roll < 0.11 and sold:
                    _cancel(journal, at, sold[-1])
                    by_kind[CANCEL] += 1
                else:
                    next_ticket += 1 + rng.randrange(40)  # other kiosks sell in between
                    _sale(journal, rng, at, next_ticket, roll)
                    sold.append((next_ticket, at))
                    del sold[:-500]
                    by_kind[CREATE] += 1
    return Filled(total, by_kind, first_at, last_at, time.monotonic() - began)


def _wagers(rng: random.Random) -> list[WagerJson]:
    out: list[WagerJson] = []
    for _ in range(1 + int(rng.random() ** 2 * 5)):
        game, _name = rng.choice(GAMES)
        out.append({
            "amount": rng.choice((100, 200, 500, 1000)),
            "event_id": 18000 + rng.randrange(900),
            "game_id": game,
            "wager": f"{rng.randrange(1000):03d}",
        })  # fmt: skip
    return out


def _sale(journal: Journal, rng: random.Random, at: float, number: int, roll: float) -> None:
    wagers = _wagers(rng)
    amount = sum(w["amount"] for w in wagers)
    op_id = journal.add(
        CREATE, {"wagers": wagers}, amount=amount, deadline=at + 180, now=at, state=states.SENDING
    )
    if roll > 0.99:
        journal.transition(
            op_id, states.ANSWERED_REJECTED, now=at + 0.2, reason="events are not open",
            history_kind="attempt", print_job=("not_done", {"kind": CREATE, "reason": "rejected"}),
        )  # fmt: skip
        _printed(journal, op_id, at + 1.5)
        return
    when = at + 0.2
    if roll > 0.97:
        journal.transition(op_id, states.AMBIGUOUS, now=at + 15, history_kind="attempt",
                           detail={"error": "InDoubt", "message": "read timeout"})  # fmt: skip
        journal.transition(op_id, states.PROBE, now=at + 75, history_kind="probe")
        when = at + 76
    result = {
        "ticket_number": number,
        "created_at": int(at),
        "amount": amount,
        "num_wagers": len(wagers),
        "status": "sold",
        "entity_name": "AGENCIA DEMO",
        "wagers": [
            {**w, "current_event_id": w["event_id"], "list_id": 1, "status": "sold",
             "event_name": dict(GAMES)[w["game_id"]] + " 4:00PM"}
            for w in wagers
        ],
    }  # fmt: skip
    event = states.PROVED_APPLIED if when > at + 1 else states.ANSWERED_OK
    journal.transition(
        op_id, event, now=when, history_kind="attempt", reason="answered",
        ticket_number=number, pin_number=rng.randrange(10_000_000, 99_999_999),
        result=result,  # type: ignore[arg-type]
        print_job=("ticket", {"kind": CREATE, "ticket_number": number, "how": "answered"}),
    )  # fmt: skip
    _printed(journal, op_id, when + 1.5)


def _payout(journal: Journal, rng: random.Random, at: float, number: int) -> None:
    op_id = journal.add(
        PAY, {"ticket_number": number, "date": time.strftime("%Y-%m-%d", time.gmtime(at))},
        amount=0, deadline=at + 120, now=at, state=states.SENDING,
        pin_number=rng.randrange(10_000_000, 99_999_999), ticket_number=number,
    )  # fmt: skip
    journal.transition(
        op_id, states.ANSWERED_OK, now=at + 0.2, history_kind="attempt", reason="answered",
        result={"status": "paid", "prize": rng.choice((700, 1500, 6000)), "paid_at": int(at)},
        print_job=("payout", {"kind": PAY, "ticket_number": number, "how": "answered"}),
    )  # fmt: skip
    _printed(journal, op_id, at + 1.5)


def _cancel(journal: Journal, at: float, sale: tuple[int, float]) -> None:
    number, sold_at = sale
    op_id = journal.add(
        CANCEL, {"ticket_number": number, "created_at": sold_at}, amount=0,
        deadline=at + 300, now=at, state=states.SENDING, ticket_number=number,
    )  # fmt: skip
    journal.transition(
        op_id, states.ANSWERED_OK, now=at + 0.2, history_kind="attempt", reason="answered",
        result={"status": "canceled"},
        print_job=("cancel", {"kind": CANCEL, "ticket_number": number, "how": "answered"}),
    )  # fmt: skip
    _printed(journal, op_id, at + 1.5)


def _printed(journal: Journal, op_id: int, at: float) -> None:
    for job in journal.print_jobs(op_id):
        if job.printed_at is None:
            journal.mark_printed(job.id, now=at)


def copy_back(journal: Journal, years: int) -> int:
    """Add `years` older copies of what the journal holds (each shifted back one more year,
    ticket numbers shifted too), by SQL in one transaction each: a 5-year journal is one year
    filled through the API and four copies of it (the API pace would take a quarter of an hour
    on this machine). Returns the operations added. The copies get higher ids than the year
    they copy: nothing in the journal orders by id across years (retention and `kioskctl
    queue` order settled operations by `updated_at`)."""
    conn = journal.conn
    ops_cols = (
        "kind, payload, amount, deadline, state, ticket_number, pin_number, result, reason, "
        "watermark, sent_at, attempts, probes, next_attempt_at, created_at, updated_at"
    )
    added = 0
    base_op = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM operations").fetchone()[0])
    base_h = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM history").fetchone()[0])
    base_j = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM print_jobs").fetchone()[0])
    for k in range(1, years + 1):
        shift = k * 365 * DAY
        o, h, j = k * base_op, k * base_h, k * base_j
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            f"INSERT INTO operations (id, {ops_cols}) SELECT id+?, kind, payload, amount, "
            "deadline-?, state, ticket_number+?, pin_number, result, reason, watermark, "
            "sent_at-?, attempts, probes, next_attempt_at, created_at-?, updated_at-? "
            "FROM operations WHERE id<=?",
            (o, shift, k * 7_000_000, shift, shift, shift, base_op),
        )
        conn.execute(
            "INSERT INTO history (id, op_id, at, kind, event, from_state, to_state, detail, "
            "request_digest, response_digest) SELECT id+?, op_id+?, at-?, kind, event, "
            "from_state, to_state, detail, request_digest, response_digest FROM history "
            "WHERE id<=? AND op_id IS NOT NULL",
            (h, o, shift, base_h),
        )
        conn.execute(
            "INSERT INTO print_jobs (id, op_id, kind, payload, created_at, printed_at, reprint, "
            "attempts) SELECT id+?, op_id+?, kind, payload, created_at-?, printed_at-?, reprint, "
            "attempts FROM print_jobs WHERE id<=? AND op_id IS NOT NULL",
            (j, o, shift, shift, base_j),
        )
        conn.execute("COMMIT")
        added += base_op
    journal.reopen_counts()
    return added
