"""Selling: typed wagers and play-slip scans, through outbox and journal to a printed ticket."""

from __future__ import annotations

from tests.flows.conftest import body, texts


async def test_typed_sale_creates_one_ticket_and_prints_it(kiosk):
    ev1, ev6 = kiosk.open_event(1), kiosk.open_event(6)

    ticket = await kiosk.sell("+1.341.20\n6.12.10\n\n")

    ledger = kiosk.ledger()
    assert len(ledger["tickets"]) == 1
    assert ticket["status"] == "sold"
    assert ticket["amount"] == 30
    sold = sorted((w["event_id"], w["wager"], w["amount"]) for w in ticket["wagers"])
    assert sold == sorted([(ev1, "341", 20), (ev6, "12", 10)])
    slip = await kiosk.slip("ticket")
    lines = texts(slip)
    assert not slip.copy
    assert f"Ticket | {ticket['ticket_number']:08d}" in lines
    assert f"PIN | {ticket['pin_number']:08d}" in lines
    assert "341 | Bs. 20,00" in lines and "12 | Bs. 10,00" in lines
    assert "Total (2) | Bs. 30,00" in lines
    assert f"barcode {kiosk.barcode_of(ticket)}" in lines
    # the journal knows the sale as done, with its ticket number
    ops = kiosk.daemon.journal.operations()
    assert [(op.kind, op.state, op.ticket_number) for op in ops] == [
        ("create", "done", ticket["ticket_number"])
    ]
    assert "beep" in kiosk.signals and "reject" not in kiosk.signals
    assert kiosk.lights()["state"] == "ready"
    # the spooler's PNG preview and the bytes on the loopback printer
    assert sorted(p.name for p in (kiosk.tmp_path / "slips").glob("*.png")) == ["001-ticket.png"]
    assert f"{ticket['pin_number']:08d}".encode() in bytes(kiosk.printer.core.printed)


async def test_play_slip_scan_sells_the_same_wagers(kiosk):
    ev1, ev6 = kiosk.open_event(1), kiosk.open_event(6)
    kiosk.scan("K1:1.341.20;6.12.10")
    await kiosk.wait_for(lambda: kiosk.daemon.session.state.name == "SELL")
    assert kiosk.tickets() == []  # a slip only fills the draft; Enter sells
    ticket = await kiosk.sell("\n")

    sold = sorted((w["event_id"], w["wager"], w["amount"]) for w in ticket["wagers"])
    assert sold == sorted([(ev1, "341", 20), (ev6, "12", 10)])
    assert "Total (2) | Bs. 30,00" in body(await kiosk.slip("ticket"))
    assert kiosk.signals[:2] == ["beep", "beep"]  # scan accepted, sale done
    assert kiosk.lights()["state"] == "ready"
