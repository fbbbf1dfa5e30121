"""Offline: sales queue durably and are sent when the link returns; a queued payment prints
PENDING at once and the payout only after the server confirms; caps refuse more work; a sale
that could not be sent in time prints that it did not happen."""

from __future__ import annotations

from tests.flows.conftest import running_kiosk, texts


async def winner_scanned_offline(kiosk) -> dict:
    """Sell 1.341.20, draw 341, go offline and scan the winner to pay it."""
    ev = kiosk.open_event(1)
    ticket = await kiosk.sell("+1.341.20\n\n")
    kiosk.sim.force_result(ev, "341")
    kiosk.advance_to_results(ev)
    kiosk.sim.set_offline(True)
    kiosk.scan(kiosk.barcode_of(ticket))
    return ticket


async def test_offline_sale_is_queued_then_sent_and_printed_when_back_online(kiosk):
    kiosk.sim.set_offline(True)
    kiosk.type("+1.341.20\n\n")
    await kiosk.wait_for(lambda: kiosk.lights()["state"] == "offline")
    ops = kiosk.daemon.journal.operations()
    assert [(op.kind, op.state) for op in ops] == [("create", "queued")]
    assert kiosk.kinds() == []  # no ticket while the server has not said so
    assert kiosk.tickets() == []

    kiosk.sim.set_offline(False)
    slip = await kiosk.slip("ticket")
    await kiosk.idle()

    tickets = kiosk.tickets()
    assert len(tickets) == 1
    assert f"Ticket | {tickets[0]['ticket_number']:08d}" in texts(slip)
    assert kiosk.daemon.journal.get(ops[0].id).state == "done"
    await kiosk.wait_for(lambda: kiosk.lights()["state"] == "ready")


async def test_offline_caps_refuse_a_second_queued_sale(tmp_path):
    async with running_kiosk(tmp_path, extra={"offline": "max_queued = 1"}) as kiosk:
        kiosk.sim.set_offline(True)
        kiosk.type("+1.341.20\n\n")
        await kiosk.wait_for(lambda: kiosk.daemon.journal.operations())
        await kiosk.idle(queued_ok=True)

        kiosk.type("+6.12.10\n\n")
        slip = await kiosk.slip("rejected")
        await kiosk.idle(queued_ok=True)
        assert "Límite de operaciones sin conexión" in texts(slip)
        assert kiosk.signals[-1] == "reject"
        assert len(kiosk.daemon.journal.operations()) == 1

        kiosk.sim.set_offline(False)
        await kiosk.slip("ticket")
        await kiosk.idle()
        tickets = kiosk.tickets()
        assert [(w["wager"], w["amount"]) for t in tickets for w in t["wagers"]] == [("341", 20)]


async def test_offline_amount_cap_refuses_a_sale_too_big_to_queue(tmp_path):
    extra = {"offline": "max_queued_amount = 50"}
    async with running_kiosk(tmp_path, extra=extra) as kiosk:
        kiosk.sim.set_offline(True)
        kiosk.type("+1.341.40\n\n")
        await kiosk.wait_for(lambda: kiosk.daemon.journal.operations())
        await kiosk.idle(queued_ok=True)
        kiosk.type("+1.123.20\n\n")  # 40 + 20 > 50
        slip = await kiosk.slip("rejected")
        assert "Límite de operaciones sin conexión" in texts(slip)
        assert len(kiosk.daemon.journal.operations()) == 1


async def test_offline_sale_past_its_max_age_prints_that_it_did_not_happen(kiosk):
    kiosk.sim.set_offline(True)
    kiosk.type("+1.341.20\n\n")
    await kiosk.wait_for(lambda: kiosk.daemon.journal.operations())
    kiosk.clock.advance(130)  # create_max_age_s = 120
    kiosk.daemon.outbox._wake.set()
    slip = await kiosk.slip("expired")
    await kiosk.idle()

    assert "LA VENTA NO SE REALIZÓ" in texts(slip)
    assert "Total | Bs. 20,00" in texts(slip)
    assert kiosk.signals[-1] == "reject"
    kiosk.sim.set_offline(False)
    assert kiosk.tickets() == []
    assert [op.state for op in kiosk.daemon.journal.operations()] == ["expired"]


async def test_offline_payment_prints_pending_then_payout_when_confirmed(kiosk):
    await winner_scanned_offline(kiosk)
    pending = await kiosk.slip("pending", timeout_s=2.0)
    assert "PENDIENTE — NO PAGAR EN EFECTIVO" in texts(pending)
    assert "payout" not in kiosk.kinds()
    assert kiosk.ledger()["payments"] == []

    kiosk.sim.set_offline(False)
    payout = await kiosk.slip("payout")
    assert "Premio: Bs. 12.000,00" in texts(payout)
    assert len(kiosk.ledger()["payments"]) == 1
    assert kiosk.kinds().index("pending") < kiosk.kinds().index("payout")


async def test_offline_payment_is_paid_once_when_back_online(kiosk):
    """What works today of the flow above: no payout slip before the server confirms."""
    ticket = await winner_scanned_offline(kiosk)
    await kiosk.wait_for(
        lambda: [op.state for op in kiosk.daemon.journal.operations()] == ["done", "queued"]
    )
    assert "payout" not in kiosk.kinds()
    assert kiosk.lights()["state"] == "offline"

    kiosk.sim.set_offline(False)
    payout = await kiosk.slip("payout")
    await kiosk.idle()
    assert "Premio: Bs. 12.000,00" in texts(payout)
    assert [p["ticket_number"] for p in kiosk.ledger()["payments"]] == [ticket["ticket_number"]]
    await kiosk.wait_for(lambda: kiosk.lights()["state"] == "ready")
