"""Cancel inside the window, cancel refused when the window passed, repeat (copy -> create)."""

from __future__ import annotations

from tests.flows.conftest import texts


async def scan_to_cancel(kiosk, ticket, kind: str):
    """`-` then the ticket's barcode: the slip of kind `kind` it prints, the kiosk idle again."""
    kiosk.type("-")
    kiosk.scan(kiosk.barcode_of(ticket))
    slip = await kiosk.slip(kind)
    await kiosk.idle()
    return slip


async def test_cancel_by_scan_inside_the_window(kiosk):
    ticket = await kiosk.sell("+1.341.20\n6.12.10\n\n")
    kiosk.clock.advance(60)

    slip = await scan_to_cancel(kiosk, ticket, "cancel")

    ledger = kiosk.ledger()
    assert ledger["tickets"][0]["status"] == "canceled"
    assert [c["ticket_number"] for c in ledger["cancellations"]] == [ticket["ticket_number"]]
    lines = texts(slip)
    assert "ANULACIÓN" in lines and "Ticket anulado" in lines
    assert f"Ticket | {ticket['ticket_number']:08d}" in lines
    assert "Monto devuelto | Bs. 30,00" in lines
    ops = [(op.kind, op.state) for op in kiosk.daemon.journal.operations()]
    assert ops == [("create", "done"), ("cancel", "done")]
    assert kiosk.signals[-1] == "beep" and "reject" not in kiosk.signals
    assert kiosk.lights()["state"] == "ready"


async def test_cancel_by_typed_ticket_inside_the_window(kiosk):
    ticket = await kiosk.sell("+6.12.10\n\n")

    kiosk.type(f"-{ticket['ticket_number']:08d}\n")
    await kiosk.slip("cancel")
    await kiosk.idle()

    assert kiosk.tickets()[0]["status"] == "canceled"


async def test_cancel_refused_locally_when_the_window_passed(kiosk):
    ticket = await kiosk.sell("+1.341.20\n\n")
    kiosk.clock.advance(200)  # seconds_to_cancel is 180
    calls = kiosk.daemon.transport.calls

    slip = await scan_to_cancel(kiosk, ticket, "rejected")

    ledger = kiosk.ledger()
    assert ledger["tickets"][0]["status"] == "sold"
    assert ledger["cancellations"] == []
    assert "Tiempo de anulación vencido" in texts(slip)
    # no cancel was ever sent: only the lookup reached the server, nothing was journaled
    assert [op.kind for op in kiosk.daemon.journal.operations()] == ["create"]
    assert kiosk.daemon.transport.calls - calls == 1
    assert kiosk.signals[-1] == "reject"
    assert kiosk.lights()["state"] == "ready"


async def test_repeat_sells_the_same_wagers_as_a_new_ticket(kiosk):
    old = await kiosk.sell("+1.341.20\n6.12.10\n\n")

    kiosk.type("/")
    kiosk.scan(kiosk.barcode_of(old))
    await kiosk.slip("ticket", nth=2)
    await kiosk.idle()

    tickets = kiosk.tickets()
    assert len(tickets) == 2
    new = tickets[1]
    assert new["ticket_number"] != old["ticket_number"]
    assert sorted((w["wager"], w["amount"]) for w in new["wagers"]) == [("12", 10), ("341", 20)]
    slip = kiosk.receipts[-1]
    assert f"Ticket | {new['ticket_number']:08d}" in texts(slip)
    assert not slip.copy
    assert kiosk.lights()["state"] == "ready"


async def test_repeat_by_typed_ticket_after_the_draw_targets_the_next_draws(kiosk):
    old = await kiosk.sell("+6.12.10\n\n")
    first_event = old["wagers"][0]["event_id"]
    kiosk.clock.advance(3600)  # the 11:00 JUNGLA draw closed; 12:00 is open now
    assert await kiosk.daemon.refresh_catalog()

    kiosk.type(f"/{old['ticket_number']:08d}\n")
    await kiosk.slip("ticket", nth=2)
    await kiosk.idle()

    new = kiosk.tickets()[1]
    assert new["wagers"][0]["event_id"] == kiosk.open_event(6) != first_event
