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


def test_double_reads_sell_and_pay_once_through_the_daemon(tmp_path):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from kioskd.counter.scan import barcode_data
    from kioskd.proving.sim import games as simcat

    with VirtualKiosk(tmp_path / "vk", seed=3, log_level="warning") as vk:
        vk.start_daemon()
        vk.wait_catalog()
        ev = vk.sim.open_events()[1]
        vk.scan("K1:1.341.20")
        vk.scan("K1:1.341.20")  # the slip is read twice while held under the scanner
        vk.type("\n")
        (ticket,) = vk.wait_for(lambda: vk.sim.ledger()["tickets"])
        assert [(w["wager"], w["amount"]) for w in ticket["wagers"]] == [("341", 20)]
        vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-ticket.png")])

        vk.sim.force_result(ev, "341")
        vk.sim.set_time(simcat.event(ev).result_ts + 60)
        day = dt.datetime.fromtimestamp(ticket["created_at"], ZoneInfo("America/Caracas")).date()
        code = barcode_data(ticket["ticket_number"], ticket["pin_number"], day)
        vk.scan(code)
        vk.scan(code)  # 50 ms later in the field; here as fast as the FIFO takes it
        vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-payout.png")])
        vk.wait_for(lambda: all(job["printed_at"] for job in vk.print_jobs()))
        assert len(vk.sim.ledger()["payments"]) == 1
        kinds = sorted(s.split("-", 1)[-1] for s in vk.slips())
        assert kinds == ["payout.png", "ticket.png"], kinds


def test_a_key_the_keymap_does_not_know_rejects_and_is_named_in_the_log(tmp_path):
    from evdev import ecodes as e

    from kioskd.input.evtest import KeyScript

    with VirtualKiosk(tmp_path / "vk", seed=3, log_level="warning") as vk:
        vk.start_daemon()
        vk.wait_catalog()
        vk.keypad.write(KeyScript().tap(e.KEY_F5).text())  # e.g. a keypad's "Calc" key
        vk.wait_for(lambda: vk.status()["lights"]["last_signal"] == "reject")
        log = vk.wait_for(lambda: "not in the keymap" in vk.log_path.read_text() and vk.log_path)
        assert "keypad key 'F5' is not in the keymap" in log.read_text()
