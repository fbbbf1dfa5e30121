"""Cold start through the real `kioskd run`: a sale typed the instant READY=1 arrives, on a new
journal (no cached catalog), waits for the first catalog load and is sold."""

from __future__ import annotations

from kioskd.proving.harness import VirtualKiosk


def test_a_sale_typed_at_ready_on_a_new_journal_is_sold(tmp_path):
    with VirtualKiosk(tmp_path / "vk", seed=3, log_level="warning") as vk:
        assert not vk.journal_path.exists()
        vk.start_daemon()  # returns as READY=1 arrives
        vk.type("+1.341.20\n\n")
        (ticket,) = vk.wait_for(lambda: vk.sim.ledger()["tickets"])
        assert [(w["wager"], w["amount"]) for w in ticket["wagers"]] == [("341", 20)]
        vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-ticket.png")])
        assert not [s for s in vk.slips() if s.endswith("-rejected.png")]
