"""`kioskctl resolve` needs evidence or force (the real daemon, socket, journal and simulator).

The adversarial run's case: a sale the server committed but whose answer was lost, resolved
"not applied" by hand 2.5 s later, left the journal saying rejected while the server held the
ticket. Inside the quiet period, or while probes reach the API, the daemon decides; a person
settles only what it cannot, or forces it, and the journal keeps who, when, why and what the
daemon knew.
"""

from __future__ import annotations

import os

import pytest

from kioskd.daemon.control import ControlError
from kioskd.journal.reader import queue_listing
from tests.flows.test_flow_control_direct import ctl

NOT_APPLIED = {"outcome": "not-applied", "reason": "customer says it failed"}


async def in_doubt_sale(kiosk, *, offline_after: bool = True) -> int:
    """A sale the simulator commits while the answer is lost; returns its operation id. The
    probes made at once fail too (a proxy's page), so the sale stays in doubt."""
    kiosk.sim.arm_fault("/user/ticket/create", "commit_then_drop")
    kiosk.sim.arm_fault("/user/ticket/last", "html_error", count=2)
    kiosk.type("+1.341.20\n\n")
    ops = await kiosk.wait_for(
        lambda: [o for o in queue_listing(kiosk.daemon.journal) if o["state"] == "in_doubt"]
    )
    if offline_after:
        kiosk.sim.set_offline(True)  # the probes cannot see the ticket either
    return int(ops[0]["id"])


async def test_resolve_inside_the_quiet_period_is_refused_and_the_probes_decide(kiosk):
    op_id = await in_doubt_sale(kiosk)

    with pytest.raises(ControlError) as refused:
        await ctl(kiosk, "resolve", {"op_id": op_id, **NOT_APPLIED})
    text = str(refused.value)
    assert "quiet period" in text and "--force" in text and "probes" in text
    assert kiosk.daemon.journal.get(op_id).state in ("in_doubt", "reconciling")

    kiosk.sim.set_offline(False)  # the daemon finds the committed ticket by itself
    await kiosk.wait_for(lambda: kiosk.daemon.journal.get(op_id).state == "done", 15)
    assert len(kiosk.tickets()) == 1


async def test_forced_resolve_is_audited_with_uid_reason_and_what_the_daemon_knew(kiosk):
    op_id = await in_doubt_sale(kiosk)

    answer = await ctl(kiosk, "resolve", {"op_id": op_id, **NOT_APPLIED, "force": True})

    assert answer["state"] == "rejected" and answer["forced"] is True
    (row,) = [h for h in kiosk.daemon.journal.history(op_id) if h.kind == "operator"]
    assert row.detail["forced"] is True
    assert f"uid={os.getuid()}" in row.detail["by"]
    assert "customer says it failed" in row.detail["reason"]
    knew = row.detail["daemon_knew"]
    assert knew["probes_can_decide"] is True and "quiet period" in knew["why"]
    assert row.at == pytest.approx(kiosk.clock.now(), abs=30)


async def test_resolve_is_left_to_a_person_once_probes_cannot_reach_the_api(kiosk):
    op_id = await in_doubt_sale(kiosk)
    journal = kiosk.daemon.journal

    def probe_failed() -> bool:
        return any(
            str(h.detail.get("reason", "")).startswith("probe failed")
            for h in journal.history(op_id)
        )

    await kiosk.wait_for(probe_failed, 10)
    kiosk.clock.advance(60)  # past the quiet period, the API still unreachable

    answer = await ctl(kiosk, "resolve", {"op_id": op_id, **NOT_APPLIED})

    assert answer["state"] == "rejected" and answer["forced"] is False
    assert "cannot reach" in answer["daemon_knew"]["why"]
    assert any("probe failed" in str(s["saw"]) for s in answer["daemon_knew"]["seen"])
