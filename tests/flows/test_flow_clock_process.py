"""The kiosk's clock through the real `kioskd run` process (issue 18): the simulator over
loopback HTTP with its clock off the machine's (`OffsetClock.step_wall`: from the kiosk's
side, exactly a kiosk booted with a wrong saved time), the journal file, kill -9 and a restart.
The in-process twins, with the kiosk's wall clock stepping mid-doubt, are in
tests/flows/test_flow_clock.py."""

from __future__ import annotations

import json
import sqlite3

import pytest

from kioskd.proving.harness import VirtualKiosk

SKEWS = {"server_2h_ahead": 7200.0, "server_10min_behind": -600.0}


def server_time_record(k: VirtualKiosk) -> dict:
    with sqlite3.connect(k.journal_path) as conn:
        row = conn.execute("SELECT data FROM catalog WHERE key='server_time'").fetchone()
    return json.loads(row[0]) if row else {}


@pytest.mark.parametrize("skew", SKEWS.values(), ids=SKEWS.keys())
def test_real_daemon_create_dropped_after_commit_with_the_server_clock_off_is_sold_once(
    tmp_path, skew
):
    with VirtualKiosk(tmp_path / "vk", seed=5, log_level="warning") as k:
        k.sim.clock.step_wall(skew)  # the server's clock, against the kiosk's
        k.start_daemon()
        k.wait_catalog()
        k.sim.arm_fault("/user/ticket/create", "commit_then_drop")
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: [s for s in k.slips() if s.endswith("-ticket.png")], timeout_s=30)
        (ticket,) = k.sim.ledger()["tickets"]
        ops = k.journal_operations()
        assert [(o["kind"], o["state"], o["ticket_number"]) for o in ops] == [
            ("create", "done", ticket["ticket_number"])
        ]
        status = k.status()
        assert status["server_time"] == "known" and not status["alarm"]
        assert status["clock_skew_s"] == pytest.approx(skew, abs=3.0)
        assert ops[0]["sent_hi"] is not None and ops[0]["sent_at"] <= ticket["created_at"] + 1


def test_real_daemon_kill9_while_a_create_is_in_doubt_server_2h_ahead_restart_decides_once(
    tmp_path,
):
    """A create in doubt across kill -9 and a restart on the same boot: the saved server time
    comes back (same boot_id: the offset holds) and the bracket in the journal decides it."""
    with VirtualKiosk(tmp_path / "vk", seed=6, log_level="warning") as k:
        k.sim.clock.step_wall(7200.0)
        k.start_daemon()
        k.wait_catalog()
        k.sim.arm_fault("/user/ticket/create", "commit_then_drop")
        k.sim.arm_fault("/user/ticket/last", "drop_before_commit", count=50)
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: [o for o in k.journal_operations() if o["state"] == "in_doubt"])
        k.wait_for(lambda: server_time_record(k))
        k.kill9()
        saved = server_time_record(k)
        assert saved["boot_id"] and saved["lo"] <= saved["hi"]
        k.sim.clear_faults()
        k.start_daemon()
        k.wait_for(lambda: [s for s in k.slips() if s.endswith("-ticket.png")], timeout_s=40)
        (ticket,) = k.sim.ledger()["tickets"]
        ops = k.journal_operations()
        assert [(o["state"], o["ticket_number"]) for o in ops] == [
            ("done", ticket["ticket_number"])
        ]
        assert not k.status()["alarm"]
