"""The spooler: journal jobs first, each marked printed once the paper took it; a job that
cannot be rendered stays pending (visible) and is reported once, not every poll."""

from __future__ import annotations

import logging

from kioskd.clock import VirtualClock
from kioskd.counter.slips import SlipContext
from kioskd.daemon.spooler import Spooler
from kioskd.journal.store import Journal
from kioskd.receipt import Receipt, Text


class PaperRecorder:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    async def print_receipt(self, receipt: Receipt) -> None:
        self.kinds.append(receipt.kind)


async def test_journal_jobs_first_and_unrenderable_jobs_reported_once(tmp_path, caplog):
    journal = Journal(tmp_path / "j.sqlite3")
    clock = VirtualClock(1_729_700_000)
    paper = PaperRecorder()
    spooler = Spooler(journal, paper, clock, lambda: SlipContext.from_catalog(None))
    bad = journal.add_print_job(None, "no-such-kind", {}, now=clock.now())
    good = journal.add_print_job(
        None, "not_done", {"kind": "create", "reason": "expired"}, now=clock.now()
    )
    spooler.submit(Receipt("report", (Text("shift"),)))
    caplog.set_level(logging.ERROR, logger="kioskd.printing")
    await spooler.drain()
    await spooler.drain()
    assert paper.kinds == ["expired", "report"]  # the journal's job before the ad-hoc slip
    pending = [j.id for j in journal.pending_print_jobs()]
    assert pending == [bad] and good not in pending
    assert sum("cannot be rendered" in r.getMessage() for r in caplog.records) == 1
    assert spooler.idle
    journal.close()


class Closable(PaperRecorder):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_spooler_started_without_printer_prints_once_one_is_attached(tmp_path):
    """The daemon opens its printer after READY=1: until `attach`, `run()` prints nothing and
    the jobs wait in the journal; then they print in order, nothing lost or doubled."""
    import asyncio

    journal = Journal(tmp_path / "j.sqlite3")
    clock = VirtualClock(1_729_700_000)
    spooler = Spooler(journal, None, clock, lambda: SlipContext.from_catalog(None))
    job = journal.add_print_job(None, "not_done", {"kind": "create", "reason": "expired"},
                                now=clock.now())  # fmt: skip
    spooler.submit(Receipt("report", (Text("shift"),)))
    task = asyncio.create_task(spooler.run(poll_s=0.05))
    await asyncio.sleep(0.2)
    assert [j.id for j in journal.pending_print_jobs()] == [job]  # waits, nothing lost
    assert not spooler.idle
    paper = PaperRecorder()
    assert spooler.attach(paper)
    for _ in range(100):
        if paper.kinds == ["expired", "report"]:
            break
        await asyncio.sleep(0.02)
    assert paper.kinds == ["expired", "report"]
    assert journal.pending_print_jobs() == []
    # A second printer is not attached over the first (a reload replaces, never `attach`).
    assert not spooler.attach(PaperRecorder())
    task.cancel()
    journal.close()


async def test_a_reload_printer_that_came_before_the_first_one_wins(tmp_path):
    """A reload during the few milliseconds before the printer opens: the reload's printer
    (the newer config) prints; the late first one is refused, for the daemon to close."""
    import asyncio
    from types import SimpleNamespace

    journal = Journal(tmp_path / "j.sqlite3")
    clock = VirtualClock(1_729_700_000)
    spooler = Spooler(journal, None, clock, lambda: SlipContext.from_catalog(None))
    newer = Closable()
    spooler.replace_printer(
        newer, SimpleNamespace(paper_mm=80, preview_dir=None, uri="tcp://newer")
    )
    assert not spooler.attach(Closable())
    spooler.submit(Receipt("report", (Text("shift"),)))
    task = asyncio.create_task(spooler.run(poll_s=0.05))
    for _ in range(100):
        if newer.kinds:
            break
        await asyncio.sleep(0.02)
    assert newer.kinds == ["report"] and spooler.printer is newer
    task.cancel()
    journal.close()
