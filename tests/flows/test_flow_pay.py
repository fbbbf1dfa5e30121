"""Paying: a winner by scan or by typed ticket + PIN, not-a-winner feedback, wrong PIN, unknown
ticket. Winners are made by forcing the draw result and moving the shared clock past it."""

from __future__ import annotations

from tests.flows.conftest import body, running_kiosk, texts


async def _winner(kiosk, number: str = "341", amount: int = 20) -> dict:
    ev = kiosk.open_event(1)
    ticket = await kiosk.sell(f"+1.{number}.{amount}\n\n")
    kiosk.sim.force_result(ev, "341")
    kiosk.advance_to_results(ev)
    return ticket


async def test_scanned_winner_is_paid_and_the_payout_slip_shows_the_prize(kiosk):
    ticket = await _winner(kiosk)
    assert kiosk.tickets()[0]["status"] == "winner"

    kiosk.scan(kiosk.barcode_of(ticket))
    slip = await kiosk.slip("payout")
    await kiosk.idle()

    ledger = kiosk.ledger()
    assert [(p["ticket_number"], p["prize"]) for p in ledger["payments"]] == [
        (ticket["ticket_number"], 12000)
    ]
    assert ledger["tickets"][0]["status"] == "paid"
    lines = texts(slip)
    assert "PAGO DE PREMIO" in lines
    assert f"Ticket | {ticket['ticket_number']:08d}" in lines
    assert "Premio: Bs. 12.000,00" in lines
    assert str(ticket["pin_number"]) not in body(slip)  # only the ticket slip carries the PIN
    assert kiosk.signals[-2:] == ["beep", "beep"]  # scan read, payment confirmed
    assert kiosk.lights()["state"] == "ready"


async def test_typed_ticket_and_pin_without_date_is_found_and_paid(kiosk):
    ticket = await _winner(kiosk)
    # The next morning: the ticket's date is not today, the kiosk searches the recent days.
    kiosk.clock.advance(20 * 3600)

    kiosk.type(f"{ticket['ticket_number']:08d}\n{ticket['pin_number']:08d}\n")
    slip = await kiosk.slip("payout")
    await kiosk.idle()

    assert [p["ticket_number"] for p in kiosk.ledger()["payments"]] == [ticket["ticket_number"]]
    assert "Premio: Bs. 12.000,00" in texts(slip)
    assert kiosk.lights()["state"] == "ready"


async def test_not_a_winner_prints_a_short_slip_by_default(kiosk):
    ticket = await _winner(kiosk, number="123")
    assert kiosk.tickets()[0]["status"] == "sold"

    kiosk.scan(kiosk.barcode_of(ticket))
    slip = await kiosk.slip("not_winner")
    await kiosk.idle()

    assert kiosk.ledger()["payments"] == []
    assert kiosk.tickets()[0]["status"] == "sold"
    assert "TICKET NO PREMIADO" in texts(slip)
    assert f"Ticket | {ticket['ticket_number']:08d}" in texts(slip)
    assert kiosk.signals[-1] == "reject"
    assert kiosk.lights()["last_signal"] == "reject"
    assert kiosk.lights()["state"] == "ready"


async def test_not_a_winner_is_only_a_red_flash_when_configured(tmp_path):
    async with running_kiosk(tmp_path, extra={"pay": 'not_winner = "flash"'}) as kiosk:
        ticket = await _winner(kiosk, number="123")
        printed = len(kiosk.receipts)

        kiosk.scan(kiosk.barcode_of(ticket))
        await kiosk.wait_for(lambda: kiosk.signals[-1:] == ["reject"])
        await kiosk.idle()

        assert kiosk.receipts[printed:] == []  # no paper
        assert kiosk.ledger()["payments"] == []
        assert kiosk.lights()["last_signal"] == "reject"


async def test_wrong_pin_is_refused_with_a_slip_and_nothing_is_paid(kiosk):
    ticket = await _winner(kiosk)
    wrong = 11111111 if ticket["pin_number"] != 11111111 else 22222222

    kiosk.scan(kiosk.barcode_of(ticket, pin=wrong))
    slip = await kiosk.slip("rejected")
    await kiosk.idle()

    assert kiosk.ledger()["payments"] == []
    assert kiosk.tickets()[0]["status"] == "winner"
    assert "PIN incorrecto" in texts(slip)
    assert str(wrong) not in body(slip)
    assert kiosk.signals[-1] == "reject"
    assert kiosk.lights()["state"] == "ready"


async def test_unknown_scanned_ticket_is_refused(kiosk):
    kiosk.scan("123456788765432120241023")
    slip = await kiosk.slip("rejected")
    await kiosk.idle()

    assert kiosk.ledger()["payments"] == [] and kiosk.tickets() == []
    assert "Ticket no existe" in texts(slip)
    assert "Ticket | 12345678" in texts(slip)
    assert kiosk.signals[-1] == "reject"


async def test_unknown_typed_ticket_is_refused_after_searching_recent_days(kiosk):
    kiosk.type("12345678\n87654321\n")
    slip = await kiosk.slip("rejected")
    await kiosk.idle()

    assert kiosk.ledger()["payments"] == []
    assert "Ticket no existe" in texts(slip)
    assert kiosk.signals[-1] == "reject"
    assert kiosk.daemon.journal.operations() == []  # never reached the outbox
