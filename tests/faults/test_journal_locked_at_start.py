"""Locked at start, released later: the daemon waits in attention with its control socket open,
then starts by itself, and no stale "database is locked" outlives the lock (the real daemon,
a real `sqlite3` process holding the lock)."""

from __future__ import annotations

import asyncio

from kioskd.clock import OffsetClock
from kioskd.config import ConfigHolder
from kioskd.daemon.control import ControlError, DaemonNotRunning, call
from kioskd.journal.store import Journal
from kioskd.proving.fakes.escpos_printer import FakeTcpPrinter
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator
from tests.faults.test_journal_lock import hold_lock, locked, pytestmark  # noqa: F401
from tests.flows.conftest import EMAIL, PASSWORD, START, Notes, RecordingDaemon, config_text


async def status(sock) -> dict | None:
    try:
        return await asyncio.to_thread(call, sock, "status", {}, timeout=5.0)
    except (DaemonNotRunning, ControlError):
        return None


async def test_locked_at_start_waits_in_attention_then_starts_clean(tmp_path):
    Journal(tmp_path / "journal.sqlite3").close()
    holder = hold_lock(tmp_path / "journal.sqlite3")
    printer = FakeTcpPrinter().start()
    clock = OffsetClock()
    clock.set(START)
    sim = Simulator(seed=7, clock=clock, email=EMAIL, password=PASSWORD)
    (tmp_path / "kioskd.toml").write_text(config_text(tmp_path, printer, {}))
    notes = Notes()
    daemon = RecordingDaemon(
        ConfigHolder(tmp_path / "kioskd.toml"),
        clock=clock,
        transport=SimTransport(sim),
        notifier=notes,
        environ={},
    )
    # Locked before the daemon starts: the sqlite3 CLI takes the lock in its own time, and a
    # daemon that came first would open the journal and meet the lock in a later write (a
    # fault mid-run, which tests/faults/test_journal_lock.py covers), not at its start.
    for _ in range(200):
        if locked(tmp_path / "journal.sqlite3"):
            break
        await asyncio.sleep(0.05)
    assert locked(tmp_path / "journal.sqlite3")
    task = asyncio.create_task(daemon.run())
    sock = tmp_path / "ctl.sock"
    try:
        for _ in range(400):
            st = await status(sock)
            if st and st["state"] == "attention":
                break
            await asyncio.sleep(0.05)
        assert st and st["journal"].startswith("locked"), st
        assert "refused" in st["money"]
        assert holder.stdin is not None
        holder.stdin.close()  # the other program lets go
        holder.wait(10)
        for _ in range(400):
            st = await status(sock)
            if st and "queue" in st and st["journal"] == "ok":
                break
            await asyncio.sleep(0.05)
        assert st and st["journal"] == "ok" and "queue" in st, st
        assert daemon.lights.current()["state"] != "attention" or daemon._catalog is None
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)
        printer.vanish()
        if holder.poll() is None:
            holder.kill()
