"""A journal lost in a crash is never silently replaced (the real `kioskd run` process).

After kill -9 with one sale done and one queued offline, the journal is zeroed, truncated,
its WAL header garbled, or its main file deleted with the WAL kept. Each time the daemon comes
up in attention with its control socket open, says what it found and what to do, refuses money;
`kioskd journal recover` salvages what SQLite can read (the old files kept) and the start goes
on by itself; a sale the new journal does not know is raised as an alarm with what to do.
"""

from __future__ import annotations

import os
import sqlite3

import pytest

from kioskd.daemon.control import ControlError, DaemonNotRunning
from kioskd.journal import repair
from kioskd.proving.harness import VirtualKiosk


def checkpoint(path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def zero(path) -> None:
    os.truncate(path, 0)


def truncate_half(path) -> None:
    checkpoint(path)  # everything in the main file, then half of it gone
    os.truncate(path, os.path.getsize(path) // 2)


def garble_wal(path) -> None:
    with open(f"{path}-wal", "r+b") as f:
        f.write(b"\xde\xad\xbe\xef" * 8)


def delete_main(path) -> None:
    os.unlink(path)


DAMAGE = {
    "zeroed": (zero, "is empty"),
    "truncated": (truncate_half, "corrupt"),
    "garbled_wal": (garble_wal, "WAL"),
    "deleted": (delete_main, "is missing"),
}


def status_when_up(k: VirtualKiosk) -> dict:
    def answer():
        try:
            return k.status()
        except (DaemonNotRunning, ControlError):
            return None

    return k.wait_for(answer, 30)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_lost_journal_is_attention_then_recovered_and_nothing_is_forgotten(tmp_path, damage):
    harm, found_text = DAMAGE[damage]
    with VirtualKiosk(tmp_path / "k") as k:
        k.start_daemon()
        k.wait_catalog()
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: len(k.sim.ledger()["tickets"]) == 1)
        sold = k.sim.ledger()["tickets"][0]["ticket_number"]
        k.sim.set_offline(True)
        k.type("+6.12.10\n\n")
        k.wait_for(lambda: any(o["state"] == "queued" for o in k.journal_operations()))
        k.kill9()
        harm(str(k.journal_path))

        k.start_daemon(wait=False)
        status = status_when_up(k)
        assert status["state"] == "attention"
        assert found_text in status["journal"] and "kioskd journal" in status["journal"]
        assert "refused" in status["money"]
        with pytest.raises(ControlError, match="journal needs attention"):
            k.ctl("reprint-last")
        k.ready = False  # READY=1 came with the attention status (systemd must not time out)

        k.sim.set_offline(False)
        print(repair.recover(str(k.journal_path)))
        k.wait_ready(30)
        kept = [p for p in os.listdir(k.journal_path.parent) if ".broken-" in p]
        assert kept, "the old journal is kept"
        ops = k.journal_operations()
        known = {o["ticket_number"] for o in ops}
        if sold not in known:
            # The sale went with the old journal: the first look at /last says so.
            alarm = k.wait_for(lambda: k.status().get("alarm"), 20)
            assert str(sold) in alarm and "back office" in alarm
        assert k.status()["journal"] == "ok"
