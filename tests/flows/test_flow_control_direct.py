"""Operator commands act directly: whatever the clerk is typing stays exactly as it was.

The real daemon, its real control socket, the real journal; each control command is sent in
the middle of every kind of entry the counter session has, and the entry must come out untouched
(and, for a draft of wagers, still sell exactly what was typed once the clerk confirms it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kioskd.daemon.control import ControlError, call
from tests.flows.conftest import running_kiosk, texts

# (what the clerk has typed so far, the session state it leaves). Supervisor: "*1" is protected.
ENTRIES = (
    ("+1.341.3", "SELL"),  # a wager line half typed
    ("+1.341.30\n6.12.10\n", "SELL"),  # a draft of two wagers, not confirmed
    ("1234", "PAY_TICKET"),
    ("12345678\n12", "PAY_PIN"),
    ("-1234", "CANCEL_TICKET"),
    ("/123", "REPEAT_TICKET"),
    ("*", "FUNCTION"),
    ("*1\n43", "SUPERVISOR"),
    ("", "IDLE"),
)
SUPERVISED = {"functions": 'supervisor_code = "4321"\nprotected = [1]'}


def snapshot(session: Any) -> dict[str, Any]:
    """Everything the session holds except the clock it last saw."""
    return {k: v for k, v in vars(session).items() if k not in ("_now", "_last_input")}


async def ctl(rig: Any, cmd: str, args: dict[str, Any] | None = None) -> Any:
    """One request through the real control socket (a client thread: the daemon is this loop)."""
    sock = rig.tmp_path / "ctl.sock"
    return await asyncio.to_thread(call, sock, cmd, args or {}, timeout=10.0)


async def every_command(rig: Any) -> None:
    """Each control command once; the ones that must fail here, fail with a reason."""
    await ctl(rig, "status")
    await ctl(rig, "queue")
    await ctl(rig, "reprint-last")
    await ctl(rig, "print-test")
    await ctl(rig, "leds-test")
    with pytest.raises(ControlError, match="999"):
        await ctl(rig, "retry", {"op_id": 999})
    with pytest.raises(ControlError, match="999"):
        await ctl(rig, "resolve", {"op_id": 999, "outcome": "not-applied", "reason": "test"})
    for cmd in ("inject-keys", "inject-scan"):
        with pytest.raises(ControlError, match="allow_inject"):
            await ctl(rig, cmd, {"text": "*\n"})


async def test_every_command_mid_every_entry_leaves_it_untouched(tmp_path):
    async with running_kiosk(tmp_path, extra=SUPERVISED) as kiosk:
        sold = await kiosk.sell("+1.341.20\n\n")
        for keys, state in ENTRIES:
            kiosk.type(keys)
            session = kiosk.daemon.session
            assert session.state.name == state, keys
            before = snapshot(session)
            tickets = len(kiosk.tickets())
            copies = len([r for r in kiosk.receipts if r.kind == "ticket" and r.copy])
            tests = len([r for r in kiosk.receipts if r.kind == "test"])

            await every_command(kiosk)
            await kiosk.slip("test", nth=tests + 1)
            copy = await kiosk.slip("ticket", nth=copies + 2)  # the sale's own slip is first
            await kiosk.idle(queued_ok=True)

            assert snapshot(session) == before, f"entry {keys!r} changed"
            assert len(kiosk.tickets()) == tickets, f"a command sold during {keys!r}"
            assert copy.copy and f"Ticket | {sold['ticket_number']:08d}" in texts(copy)
            assert "rejected" not in kiosk.kinds()
            kiosk.type("\x1b")  # the clerk drops the entry
            await kiosk.idle()


async def test_reprint_during_a_draft_sells_nothing_and_the_draft_sells_as_typed(kiosk):
    """The adversarial run's case: allow_inject off, a draft typed, `kioskctl reprint-last`."""
    sold = await kiosk.sell("+1.341.20\n\n")
    kiosk.type("+1.341.30\n6.12.10\n")
    draft = kiosk.daemon.session.draft

    answer = await ctl(kiosk, "reprint-last")
    copy = await kiosk.slip("ticket", nth=2)
    await ctl(kiosk, "print-test")
    await kiosk.slip("test")

    assert answer["ticket_number"] == sold["ticket_number"]
    assert copy.copy and copy.copy_label == "*** COPIA ***"
    assert len(kiosk.tickets()) == 1
    assert kiosk.daemon.session.draft == draft

    kiosk.type("\n")  # the clerk confirms the draft: exactly what was typed is sold
    await kiosk.wait_for(lambda: len(kiosk.tickets()) == 2)
    assert kiosk.tickets()[-1]["amount"] == 40


async def test_reprint_with_no_sale_in_the_journal_is_refused_with_a_reason(kiosk):
    with pytest.raises(ControlError, match="nothing to reprint"):
        await ctl(kiosk, "reprint-last")
    assert "ticket" not in kiosk.kinds()
