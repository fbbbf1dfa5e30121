"""Each send opens a bracket of its own (issue 18, chaos seed 161).

A send is bracketed in server time by `sent_at` (before its first byte) and `sent_hi` (once it
ended). A resend after a not-sent attempt must not inherit the earlier attempt's `sent_hi`:
if the power goes while the resend is in the air (no new `sent_hi`), that stale end closes the
bracket before the resend began, so the ticket the resend made is judged "not ours", an
alarm calls it another terminal's, and the sale is told NOT SOLD while the server sold it.
"""

from __future__ import annotations

import pytest

from kioskd.journal import states
from kioskd.journal.store import CREATE
from tests.outbox.conftest import Rig


async def test_a_resend_does_not_keep_the_end_of_the_previous_attempts_bracket(rig: Rig) -> None:
    """The journal's SEND starts a new bracket: `sent_hi` of the earlier attempt is cleared."""
    rig.sim.set_offline(True, for_s=30)
    op_id = await rig.sell()
    await rig.outbox.step()  # not sent: back to queued, its attempt's end recorded
    first = rig.journal.get(op_id)
    assert first.state == states.QUEUED and first.sent_hi is not None
    rig.clock.advance(600)
    op = rig.journal.transition(op_id, states.SEND, now=rig.clock.now())
    assert op.sent_at == rig.clock.now()
    assert op.sent_hi is None


async def test_a_crash_mid_resend_after_a_not_sent_attempt_finds_the_sale_it_made(
    rig: Rig,
) -> None:
    """Chaos seed 161: offline at the first attempt (not sent, `sent_hi` recorded), sent again
    100 s later, the server sells 10 s into the request and the power goes before the answer
    is journaled. After the restart the probe must find that ticket in the resend's window:
    done, with the server's ticket and PIN, no foreign-ticket alarm, one ticket on the server.
    Before the fix: judged not applied and sold again (two tickets, the first never printed)."""
    from kioskd.proving.campaigns.seeded_chaos import CrashPlan, SimulatedCrash

    plan = CrashPlan(names={"send:answered": 2})  # the 1st is the not-sent attempt's
    await rig.reboot(crash_hook=plan)
    rig.sim.set_offline(True, for_s=30)
    op_id = await rig.sell()
    await rig.outbox.step()
    assert rig.journal.get(op_id).state == states.QUEUED
    rig.clock.advance(100)  # more than the quiet period, within the sale's 180 s max age
    rig.sim.arm_fault("/user/ticket/create", "delay", delay_s=10)  # sold 10 s into the send
    with pytest.raises(SimulatedCrash):
        for _ in range(5):
            await rig.outbox.step()
    (sold,) = rig.api_tickets()
    await rig.reboot()
    assert rig.journal.get(op_id).state == states.IN_DOUBT
    await rig.drain(seconds=600)
    op = rig.journal.get(op_id)
    assert (op.state, op.ticket_number, op.pin_number) == (
        states.DONE, sold["ticket_number"], sold["pin_number"],
    )  # fmt: skip
    assert not rig.journal.history(kind="alarm")
    assert len(rig.api_tickets()) == 1
    assert [o.kind for o in rig.journal.operations()] == [CREATE]
