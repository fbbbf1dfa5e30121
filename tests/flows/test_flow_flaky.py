"""A flaky network at the counter (issue 11): selling goes on while a sale is in doubt, the
doubtful sale gets a PENDING slip, then its ticket (marked as delivered late) or NOT SOLD.

The real daemon, journal, printer socket and simulator; the reconcile timers of the flow rig
(quiet period 3 s, probes every 1 s)."""

from __future__ import annotations

from tests.flows.conftest import texts


async def test_a_sale_after_a_doubtful_one_prints_at_once(kiosk):
    kiosk.sim.arm_fault("/user/ticket/create", "html_error")  # a proxy's page: nothing applied
    kiosk.type("+1.341.20\n\n")
    pending = await kiosk.slip("pending")
    assert "PENDIENTE — GUARDE ESTE COMPROBANTE" in texts(pending)
    (first,) = kiosk.daemon.journal.operations()
    assert f"Referencia | {first.id:06d}" in texts(pending)

    kiosk.type("+6.12.10\n\n")  # another sale while the first is still in doubt
    second = await kiosk.slip("ticket")
    assert kiosk.daemon.journal.get(first.id).state in ("in_doubt", "reconciling")
    assert "ENTREGADO TARDE" not in " ".join(texts(second))
    assert kiosk.lights()["state"] == "reconciling"

    late = await kiosk.slip("ticket", nth=2)  # the first, proven not applied and resent
    await kiosk.idle()
    assert "ENTREGADO TARDE — VENTA CONFIRMADA" in texts(late)
    assert f"Referencia | {first.id:06d}" in texts(late)
    op = kiosk.daemon.journal.get(first.id)
    assert op.state == "done" and op.attempts == 2
    assert len(kiosk.tickets()) == 2


async def test_an_api_error_envelope_is_decided_without_a_quiet_period(kiosk):
    kiosk.sim.arm_fault("/user/ticket/create", "fail_before_commit")  # HTTP 500, JSON envelope
    kiosk.type("+1.341.20\n\n")
    await kiosk.slip("ticket")
    await kiosk.idle()
    (op,) = kiosk.daemon.journal.operations()
    assert op.state == "done" and op.attempts == 2
    reasons = [str(h.detail.get("reason", "")) for h in kiosk.daemon.journal.history(op.id)]
    assert any("request over" in r for r in reasons), reasons
    assert len(kiosk.tickets()) == 1


async def test_a_doubtful_sale_proven_not_applied_too_late_prints_not_sold(kiosk):
    kiosk.sim.arm_fault("/user/ticket/create", "html_error")
    kiosk.type("+1.341.20\n\n")
    await kiosk.slip("pending")
    (op,) = kiosk.daemon.journal.operations()
    kiosk.clock.advance(200)  # past the quiet period and past the sale's deadline
    kiosk.daemon.outbox._wake.set()
    slip = await kiosk.slip("expired")
    await kiosk.idle()
    assert "NO VENDIDO" in texts(slip)
    assert f"Referencia | {op.id:06d}" in texts(slip)
    assert kiosk.daemon.journal.get(op.id).state == "expired"
    assert kiosk.tickets() == []
