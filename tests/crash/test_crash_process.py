"""The real `kioskd run` process, killed with SIGKILL, against the simulator over loopback.

Slow by nature (real processes, real sockets): one campaign of 20 kills and a few targeted
kills. The 500-kill run is in bench/crash_campaign.md.
"""

from __future__ import annotations

import json
import time

import pytest

from kioskd.counter.scan import barcode_data
from kioskd.proving.campaigns.kill9 import Books, Campaign, check, paper_slips
from kioskd.proving.harness import VirtualKiosk
from kioskd.proving.sim import games as catalog

SHIPPED_SEED = 3  # ~5 s alone; ~65 s when a kill leaves a sale in doubt (60 s quiet)


def _books(k: VirtualKiosk) -> Books:
    with k.printer.core.lock:
        printed = bytes(k.printer.core.printed)
    return Books(k.sim.ledger(), k.journal_operations(), k.print_jobs(), printed)


def _history(k: VirtualKiosk, op_id: int) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{k.journal_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT event FROM history WHERE op_id=? ORDER BY id", (op_id,))
        return [r[0] for r in rows]
    finally:
        conn.close()


def _op_in(k: VirtualKiosk, kind: str, state: str) -> dict | None:
    return next(
        (o for o in k.journal_operations() if o["kind"] == kind and o["state"] == state), None
    )


def _settled(k: VirtualKiosk) -> bool:
    q = k.status()["queue"]
    busy = any(q.get(s, 0) for s in ("queued", "sending", "in_doubt", "reconciling"))
    return not busy and all(j["printed_at"] for j in k.print_jobs())


@pytest.mark.slow
def test_campaign_of_20_kills_loses_and_duplicates_nothing(tmp_path):
    # Short timers: 20 kills in about a minute (the shipped-timer run is in bench/RESULTS.md).
    report = Campaign(tmp_path / "kiosk", kills=20, seed=20240, policy="short").run()
    assert report.kills == 20
    assert report.tickets > 0 and report.operations >= report.tickets
    assert report.violations == [], report.line()


def test_campaign_with_the_shipped_timers_loses_and_duplicates_nothing(tmp_path):
    """A few kills with the timers a shop runs (60 s quiet period, 15 s read timeout)."""
    report = Campaign(tmp_path / "kiosk", kills=2, seed=SHIPPED_SEED).run()
    assert report.policy == "shipped"
    config = (tmp_path / "kiosk" / "kioskd.toml").read_text()
    assert "quiet_period_s" not in config and "read_timeout_s" not in config
    assert report.kills == 2
    assert report.tickets > 0 and report.operations >= report.tickets
    assert report.violations == [], report.line()


def test_kill_right_after_enter_with_the_create_in_flight_is_reconciled_and_printed_once(
    tmp_path,
):
    with VirtualKiosk(tmp_path, seed=7, preview=False) as k:
        k.start_daemon()
        k.wait_catalog()
        k.sim.arm_fault("/user/ticket/create", "delay", delay_s=1.0)
        k.type("+2.123.45\n\n")
        # Journaled in `sending` and taken by the server (sleeping on it): kill now.
        op = k.wait_for(lambda: _op_in(k, "create", "sending"), 10, poll_s=0.01)
        k.wait_for(lambda: not k.sim.faults.armed(), 10, poll_s=0.01)
        k.kill9()
        k.keypad.close()
        # The server commits after its delay although the daemon is gone.
        k.wait_for(lambda: k.sim.ledger()["tickets"], 10)
        k.start_daemon()
        k.wait_for(lambda: _op_in(k, "create", "done"), 20)
        k.wait_for(lambda: _settled(k), 20)
        assert k.stop_daemon() == 0
        books = _books(k)

    tickets = books.ledger["tickets"]
    assert len(tickets) == 1
    t = tickets[0]
    (done,) = [o for o in books.operations if o["kind"] == "create"]
    assert done["id"] == op["id"] and done["state"] == "done"
    assert done["ticket_number"] == t["ticket_number"]
    events = _history(k, op["id"])
    assert "recovered" in events and "proved_applied" in events
    assert events.index("recovered") < events.index("proved_applied")
    # Printed exactly once; a slip printed after recovery is marked as a copy iff its job is.
    (job,) = [j for j in books.print_jobs if j["op_id"] == op["id"]]
    assert job["kind"] == "ticket" and job["printed_at"] is not None
    data = barcode_data(t["ticket_number"], t["pin_number"], catalog.local_day(t["created_at"]))
    mine = [
        (copy, cut) for chunk, copy, cut in paper_slips(books.printed) if data.encode() in chunk
    ]
    assert len(mine) == 1 and mine[0][1]
    assert mine[0][0] == bool(job["reprint"])
    assert check(books) == []


def test_kill_during_a_slow_cancel_journals_the_cancel_the_server_applied(tmp_path):
    with VirtualKiosk(tmp_path, seed=8, preview=False) as k:
        k.start_daemon()
        k.wait_catalog()
        k.type("+2.321.12\n\n")
        k.wait_for(lambda: _op_in(k, "create", "done"), 10)
        (t,) = k.sim.ledger()["tickets"]
        # The first cancel and its resend are both slow answers (below the 2 s read timeout).
        k.sim.arm_fault("/user/ticket/cancel", "delay", count=2, delay_s=1.9)
        k.type("-")
        day = catalog.local_day(t["created_at"])
        k.scan(barcode_data(t["ticket_number"], t["pin_number"], day))
        k.wait_for(lambda: _op_in(k, "cancel", "sending"), 10, poll_s=0.01)
        k.wait_for(lambda: k.sim.faults.armed()[0].count == 1, 10, poll_s=0.01)
        k.kill9()
        k.keypad.close()
        k.scanner.close()
        k.start_daemon()
        time.sleep(2.0)  # let the first cancel commit on the server
        k.wait_for(lambda: _settled(k), 30)
        assert k.stop_daemon() == 0
        books = _books(k)
    assert [x["canceled_at"] is not None for x in books.ledger["tickets"]] == [True]
    assert check(books) == []


def test_check_finds_a_duplicate_and_a_lost_ticket():
    """The check itself: a second server ticket for one sale, unjournaled, is two violations."""
    event_id = 20000 + 5 * catalog.SLOTS_PER_DAY + catalog.SLOT_OF[(2, 0)]
    wager = {"event_id": event_id, "game_id": 1, "wager": "123", "amount": 45}
    ticket = {
        "ticket_number": 11111111, "pin_number": 22222222, "created_at": 1729605600,
        "wagers": [wager], "origin": "api", "paid_at": None, "canceled_at": None,
    }  # fmt: skip
    twin = {**ticket, "ticket_number": 33333333}
    op = {
        "id": 1, "kind": "create", "state": "done", "ticket_number": 11111111,
        "payload": json.dumps({"wagers": [wager]}), "reason": "answered",
    }  # fmt: skip
    job = {"id": 1, "op_id": 1, "kind": "ticket", "printed_at": 1.0, "reprint": 0}
    books = Books({"tickets": [ticket, twin]}, [op], [job], check_paper=False)
    found = check(books)
    assert any(v.startswith("sale-lost-or-duplicated: server ticket 33333333 ") for v in found)
    assert any("2 server tickets for one typed sale" in v for v in found)
    assert check(Books({"tickets": [ticket]}, [op], [job], check_paper=False)) == []
