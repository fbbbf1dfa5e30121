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
