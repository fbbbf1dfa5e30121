"""A journal that cannot be written stops money, says so, and loses nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kioskd.journal import states
from kioskd.outbox import OutboxRefused
from kioskd.outbox.outbox import ATTENTION

from .conftest import Rig


async def test_full_disk_refuses_the_sale_with_a_clear_error(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "j.sqlite")
    pages = rig.journal.conn.execute("PRAGMA page_count").fetchone()[0]
    rig.journal.conn.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(OutboxRefused, match="attention") as info:
        for code in range(60):
            await rig.sell(code_index=code)
            await rig.drain()
            rig.print_all()
    assert "full" in str(info.value)
    assert rig.outbox.signal == ATTENTION
    with pytest.raises(OutboxRefused, match="attention"):
        await rig.sell()
    # Space is freed (a new connection has no page cap): the next start reconciles whatever
    # was in flight, and every sale the server holds is journaled done: none lost, none twice.
    await rig.reboot()
    await rig.drain(seconds=600)
    done = {op.ticket_number for op in rig.journal.operations((states.DONE,))}
    assert {t["ticket_number"] for t in rig.api_tickets()} == done
    assert len(done) == len(rig.api_tickets())
    rig.journal.close()
    await rig.client.aclose()


async def test_write_failure_after_the_answer_leaves_the_sale_in_doubt_on_disk(
    tmp_path: Path,
) -> None:
    """The server sold, the outcome commit failed: the row stays `sending` on disk, so the
    next start reconciles it instead of selling again."""
    rig = Rig(tmp_path / "j.sqlite")

    def disk_full_at_outcome(point: str) -> None:
        if point == "answered_ok:before_commit":
            raise sqlite3.OperationalError("database or disk is full")

    rig.journal.close()
    rig.boot(crash_hook=None)
    rig.journal.crash_hook = disk_full_at_outcome
    await rig.outbox.recover()
    op_id = await rig.sell()
    assert await rig.outbox.step() is False
    assert rig.outbox.outcomes[-1].kind == "attention"
    assert rig.outbox.signal == ATTENTION
    assert len(rig.api_tickets()) == 1
    moved = await rig.reboot()
    assert op_id in moved
    await rig.drain(seconds=600)
    op = rig.journal.get(op_id)
    assert op.state == states.DONE and op.ticket_number == rig.api_tickets()[0]["ticket_number"]
    assert len(rig.api_tickets()) == 1
    rig.journal.close()
    await rig.client.aclose()


async def test_housekeeping_purges_and_checkpoints(rig: Rig) -> None:
    rig.journal.retention_days = 1
    await rig.sell()
    await rig.drain()
    rig.print_all()
    rig.clock.advance(3 * 86400)
    rig.outbox.housekeeping()
    assert rig.journal.operations() == []
