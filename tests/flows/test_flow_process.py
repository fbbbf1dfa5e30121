"""The same flows through the real `kioskd run` process: evtest text into replay FIFOs, the
simulator over loopback HTTP, the journal file, the loopback printer and PNG previews."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kioskd.counter.scan import barcode_data
from kioskd.proving.harness import VirtualKiosk
from kioskd.proving.sim import games as simcat


@pytest.fixture
def vk(tmp_path):
    with VirtualKiosk(tmp_path / "vk", seed=3, log_level="warning") as k:
        k.start_daemon()
        k.wait_catalog()
        yield k


def test_refuse_then_sell_on_the_keypad_then_pay_the_winner_with_the_scanner(vk):
    # A refused wager: red flash, a slip saying why, nothing journaled or sent.
    vk.type("+1.341.150\n")
    vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-rejected.png")])
    assert vk.status()["lights"]["last_signal"] == "reject"
    vk.type("\x1b")
    assert vk.sim.ledger()["tickets"] == [] and vk.journal_operations() == []

    ev = vk.sim.open_events()[1]
    vk.type("+1.341.20\n\n")
    tickets = vk.wait_for(lambda: vk.sim.ledger()["tickets"])
    vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-ticket.png")])
    ticket = tickets[0]
    assert [(w["wager"], w["amount"]) for w in ticket["wagers"]] == [("341", 20)]

    # The draw: the simulator alone moves on (nothing left to agree on but the payment).
    vk.sim.force_result(ev, "341")
    vk.sim.set_time(simcat.event(ev).result_ts + 60)
    day = dt.datetime.fromtimestamp(ticket["created_at"], ZoneInfo("America/Caracas")).date()
    vk.scan(barcode_data(ticket["ticket_number"], ticket["pin_number"], day))

    vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-payout.png")])
    ledger = vk.sim.ledger()
    assert [(p["ticket_number"], p["prize"]) for p in ledger["payments"]] == [
        (ticket["ticket_number"], 12000)
    ]
    ops = [(op["kind"], op["state"]) for op in vk.journal_operations()]
    assert ops == [("create", "done"), ("pay", "done")]
    assert all(job["printed_at"] for job in vk.print_jobs())
    assert vk.printer.core.cuts >= 2
    status = vk.status()
    assert status["lights"]["state"] == "ready"
    assert status["lights"]["last_signal"] == "beep"
