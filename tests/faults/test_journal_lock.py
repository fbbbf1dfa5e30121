"""A second process holding the journal's write lock: refused with the real reason, said once,
shown, lit; healed by itself once the lock is gone (the real daemon, a real `sqlite3` process).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import subprocess

import pytest

from kioskd.daemon import logs as klog
from kioskd.doctor.checks import judge_daemon, observe_daemon
from tests.flows.conftest import running_kiosk, texts

pytestmark = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 CLI")


def locked(path) -> bool:
    """Does another connection hold the write lock right now?"""
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def hold_lock(path) -> subprocess.Popen[str]:
    """`sqlite3 journal.sqlite3 "BEGIN IMMEDIATE; ..."` left open, as in the adversarial run."""
    proc = subprocess.Popen(
        ["sqlite3", str(path)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert proc.stdin is not None
    # Wait up to 10 s for the lock: the daemon may be in a write of its own (the catalog or the
    # server-time estimate, just after start), and a CLI without a busy timeout gives up at once.
    proc.stdin.write(".timeout 10000\nBEGIN IMMEDIATE;\n")
    proc.stdin.flush()
    return proc


def fault_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "MESSAGE_ID", None) == klog.JOURNAL_ATTENTION]


async def test_a_held_lock_refuses_with_the_reason_and_heals_by_itself(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with running_kiosk(tmp_path) as kiosk:
        await kiosk.sell("+1.341.20\n\n")
        journal = tmp_path / "journal.sqlite3"
        holder = hold_lock(journal)
        try:
            await kiosk.wait_for(lambda: locked(journal))
            kiosk.type("+6.12.10\n\n")
            slip = await kiosk.slip("rejected", timeout_s=15)
            lines = texts(slip)
            assert "Registro del terminal con falla" in lines
            assert any("bloqueado por otro programa" in line for line in lines)
            assert not any("sin conexión" in line.lower() for line in lines)
            status = kiosk.daemon.status()
            assert status["journal"].startswith("locked") and status["state"] == "attention"
            await kiosk.wait_for(lambda: len(fault_lines(caplog)) >= 1)
            doctor = judge_daemon(
                await asyncio.to_thread(observe_daemon, str(tmp_path / "ctl.sock"))
            )
            assert doctor[0].status == "FAIL" and "locked" in doctor[0].detail
            kiosk.type("+6.12.10\n\n")  # a second refusal while the lock is held
            await kiosk.slip("rejected", nth=2, timeout_s=15)
            assert len(fault_lines(caplog)) == 1, "the fault is said once"
            assert len(kiosk.tickets()) == 1
        finally:
            assert holder.stdin is not None
            holder.stdin.close()  # the other program goes away: its transaction ends
            holder.wait(10)

        await kiosk.wait_for(lambda: kiosk.daemon.status()["journal"] == "ok", 10)
        assert kiosk.lights()["state"] == "ready"
        assert any(getattr(r, "MESSAGE_ID", None) == klog.JOURNAL_RECOVERED for r in caplog.records)
        await kiosk.sell("+6.12.10\n\n")  # no restart needed
        assert len(kiosk.tickets()) == 2


async def test_a_sale_after_the_lock_is_gone_is_sold_before_any_retry(tmp_path, monkeypatch):
    """The fault is not cached: the sale's own write finds the journal writable again, even
    when the daemon's next self-heal retry is far away (here: ten minutes)."""
    from kioskd.daemon import daemon as daemon_module

    monkeypatch.setattr(daemon_module, "HEAL_FIRST_S", 600.0)
    monkeypatch.setattr(daemon_module, "HEAL_MAX_S", 600.0)
    async with running_kiosk(tmp_path) as kiosk:
        journal = tmp_path / "journal.sqlite3"
        holder = hold_lock(journal)
        try:
            await kiosk.wait_for(lambda: locked(journal))
            kiosk.type("+6.12.10\n\n")
            await kiosk.slip("rejected", timeout_s=25)
            assert kiosk.daemon.journal.attention is not None
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(10)
        assert not locked(journal)
        assert kiosk.daemon.journal.attention is not None  # nobody retried yet
        await kiosk.sell("+6.12.10\n\n")
        assert len(kiosk.tickets()) == 1
        await kiosk.wait_for(lambda: kiosk.daemon.status()["journal"] == "ok", 10)
