"""A keypad that wraps every key in Num Lock presses (field capture) sells through the real
`kioskd run` process with the shipped Num Lock default."""

from __future__ import annotations

from pathlib import Path

from kioskd.proving.harness import VirtualKiosk

CAPTURE = (
    Path(__file__).resolve().parent.parent / "captures" / "field" / "numlock_wrap_keypad.evtest"
)


def test_numlock_wrapping_keypad_sells_through_the_daemon(tmp_path):
    events = "".join(
        line + "\n"
        for line in CAPTURE.read_text(encoding="utf-8").splitlines()
        if line.startswith("Event:")
    )
    with VirtualKiosk(tmp_path / "vk", seed=3, log_level="warning") as vk:
        vk.start_daemon()
        vk.wait_catalog()
        vk.keypad.write(events)  # "+1.341.20" Enter Enter, as the 0c45:7603 keypad sends it
        tickets = vk.wait_for(lambda: vk.sim.ledger()["tickets"])
        vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-ticket.png")])
        assert [(w["wager"], w["amount"]) for w in tickets[0]["wagers"]] == [("341", 20)]
        assert [(op["kind"], op["state"]) for op in vk.journal_operations()] == [("create", "done")]
