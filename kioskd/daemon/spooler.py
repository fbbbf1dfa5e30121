"""The print spooler: one ordered path from slips to paper.

Rules:
- Slips of money operations come from the journal's print jobs (written in the same
  transaction as the outcome); a job is marked printed only after the printer took the whole
  receipt, so a crash in between prints it again, marked as a copy. Nothing else marks jobs.
- Other slips (results, reports, rejections, PENDING...) come from the counter session through
  `submit()`; they are not journaled: losing one in a crash costs nothing but paper.
- Journal jobs go first: a customer's ticket never waits behind a shift report.
- The printer itself waits while paper is out or the cover is open (it never drops a job); this
  module only orders the work and, when configured, writes a PNG preview of every slip.
- A job printed whose "printed" mark the journal could not write (disk full, locked) is not
  printed again: it is remembered here and only its mark is retried until the journal heals.
- The daemon may start the spooler before its printer exists (`printer=None`): the printer's
  modules load in a worker after READY=1 (issue 19, CPU to READY) and `attach` hands it over;
  `run()` prints nothing until then (jobs wait in the journal, slips in the queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kioskd.clock import Clock
from kioskd.counter import slips
from kioskd.journal.json_columns import Result
from kioskd.journal.store import Journal, JournalError, Operation, PrintJob
from kioskd.outbox.outbox import stored_ticket
from kioskd.receipt import Receipt

if TYPE_CHECKING:
    from kioskd.printer.printer import Printer  # imported by the daemon after escpos's cache

log = logging.getLogger("kioskd.printing")


def receipt_for_job(job: PrintJob, journal: Journal, ctx: slips.SlipContext) -> Receipt:
    """The slip a journaled print job stands for (reprints marked as copies)."""
    op = journal.get(job.op_id) if job.op_id is not None else None
    result: Result = (op.result or {}) if op is not None else {}
    number = int(job.payload.get("ticket_number") or (op.ticket_number if op else 0) or 0)
    when = float(op.updated_at if op is not None else job.created_at)
    if job.kind == "ticket" and op is not None:
        ticket = stored_ticket(op)
        late = op.id if _delivered_late(journal, op) else None
        return slips.ticket_slip(ctx, ticket, copy=job.reprint, late_reference=late)
    if job.kind == "payout":
        prize = float(result.get("prize") or 0)
        paid_at = float(result.get("paid_at") or when)
        return slips.payout_slip(ctx, number, prize, paid_at, copy=job.reprint)
    if job.kind == "cancel":
        receipt = slips.cancel_slip(ctx, number, when, _sale_amount(journal, number))
    elif job.kind == "not_done":
        what = {"create": "sale", "pay": "pay", "cancel": "cancel"}.get(
            str(job.payload.get("kind")), "sale"
        )
        receipt = slips.expired_slip(
            ctx,
            what,
            when,
            ticket_number=number or None,
            amount=op.amount if op is not None and what == "sale" else None,
            reference=op.id if op is not None else None,
        )
    else:
        raise ValueError(f"print job {job.id}: unknown kind {job.kind!r}")
    if job.reprint:
        receipt = dataclasses.replace(receipt, copy=True)
    return receipt


def _delivered_late(journal: Journal, op: Operation) -> bool:
    """Was the sale in doubt (or queued) long enough for a PENDING slip to be printed?"""
    if op.updated_at - op.created_at < slips.PENDING_AFTER_S:
        return False
    return any(h.to_state in ("in_doubt", "queued") for h in journal.history(op.id))


def _sale_amount(journal: Journal, ticket_number: int) -> float | None:
    """The amount of the sale a cancellation gives back (None when not sold here), by index."""
    amount = journal.sale_amount(ticket_number)
    return None if amount is None else float(amount)


class Spooler:
    """Orders slips to the printer; `run()` is the daemon's printing task."""

    def __init__(
        self,
        journal: Journal,
        printer: Printer | None,
        clock: Clock,
        slip_context: Callable[[], slips.SlipContext],
        *,
        paper_mm: int = 80,
        profile: str = "default",
        preview_dir: str | None = None,
        on_printed: Callable[[Receipt], None] | None = None,
    ) -> None:
        self.journal = journal
        self.printer = printer
        self.clock = clock
        self.slip_context = slip_context
        self.paper_mm = paper_mm
        self.profile = profile  # the preview reduces text to the printer's code page too
        self.preview_dir = Path(preview_dir) if preview_dir else None
        self.on_printed = on_printed
        self.printed = 0
        # Preview files are numbered on from what a previous run left (after a restart too).
        self._seq = len(list(self.preview_dir.glob("*.png"))) if self.preview_dir else 0
        self._adhoc: asyncio.Queue[Receipt] = asyncio.Queue()
        self._unrenderable: set[int] = set()
        self._unmarked: set[int] = set()
        self._next_printer: tuple[Printer, Any] | None = (
            None  # on paper, "printed" not yet in the journal
        )
        self._wake = asyncio.Event()
        self._busy = False

    def attach(self, printer: Printer) -> bool:
        """The printer the spooler was started without (see the rules). False when a reload's
        printer came first: that one is newer and prints; the caller closes `printer`."""
        if self.printer is not None or self._next_printer is not None:
            return False
        self.printer = printer
        self._wake.set()
        return True

    def replace_printer(self, printer: Printer, cfg: Any) -> None:
        """A reload changed the printer: the new one takes over between jobs (never in the
        middle of a slip); the old one is closed then."""
        self._next_printer = (printer, cfg)
        self._wake.set()

    async def _switch_printer(self) -> None:
        nxt, self._next_printer = self._next_printer, None
        if nxt is None:
            return
        old, (self.printer, cfg) = self.printer, nxt
        self.paper_mm = cfg.paper_mm
        self.profile = getattr(cfg, "profile", self.profile)
        self.preview_dir = Path(cfg.preview_dir) if cfg.preview_dir else None
        try:
            if old is not None:
                await old.close()
        except Exception:
            log.exception("closing the previous printer failed")
        log.info("printer now %s", cfg.uri)

    def submit(self, receipt: Receipt) -> None:
        """Queue a slip that is not a journaled money slip."""
        self._adhoc.put_nowait(receipt)
        self._wake.set()

    def wake(self) -> None:
        """New journal print jobs may exist (an outbox outcome was journaled)."""
        self._wake.set()

    @property
    def idle(self) -> bool:
        skip = self._unrenderable | self._unmarked
        pending = [j for j in self.journal.pending_print_jobs() if j.id not in skip]
        return not self._busy and self._adhoc.empty() and not pending

    async def run(self, poll_s: float = 2.0) -> None:
        while self.printer is None and self._next_printer is None:  # not attached yet
            await self._wake.wait()
            self._wake.clear()
        while True:
            await self.drain()
            self._wake.clear()
            # asyncio.timeout, not wait_for: no task made for each wait (one a slip; issue 19),
            # and no cancellation swallowed as the event is set (Python 3.11's wait_for).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await self._wake.wait()

    async def drain(self) -> None:
        """Print every pending journal job, then every queued slip."""
        self._busy = True
        try:
            for job in self.journal.pending_print_jobs():
                if job.id in self._unrenderable:
                    continue
                if job.id in self._unmarked:
                    self._mark(job.id)
                    continue
                try:
                    receipt = receipt_for_job(job, self.journal, self.slip_context())
                except Exception:
                    # Left pending (visible in the journal and `kioskctl queue`), said once.
                    self._unrenderable.add(job.id)
                    log.exception("print job %s cannot be rendered; left pending", job.id)
                    continue
                await self._paper(receipt)
                self._unmarked.add(job.id)
                self._mark(job.id)
                await self._after_print(receipt)
            while not self._adhoc.empty():
                receipt = self._adhoc.get_nowait()
                await self._paper(receipt)
                await self._after_print(receipt)
        finally:
            self._busy = False

    def _mark(self, job_id: int) -> None:
        """Journal that a job reached paper; a journal fault leaves it remembered here (the
        daemon reports the fault and heals it; the next drain retries the mark only)."""
        try:
            self.journal.mark_printed(job_id, now=self.clock.now())
        except JournalError:
            return
        self._unmarked.discard(job_id)

    async def _paper(self, receipt: Receipt) -> None:
        await self._switch_printer()
        if self.printer is None:  # `drain` is called by `run` once a printer is attached
            raise RuntimeError("the spooler has no printer yet")
        self.printed += 1
        await self.printer.print_receipt(receipt)
        log.info("printed %s slip", receipt.kind, extra={"SLIP_KIND": receipt.kind})

    async def _after_print(self, receipt: Receipt) -> None:
        """The PNG preview and the hook, after the paper: they never delay a customer."""
        if self.preview_dir is not None:
            self._seq += 1
            copy = "-copy" if receipt.copy else ""
            path = self.preview_dir / f"{self._seq:03d}-{receipt.kind}{copy}.png"
            try:
                # the printer's own profile, code page and width: the preview is its paper
                if self.printer is not None:
                    await asyncio.to_thread(self.printer.preview, receipt, path)
            except Exception:
                log.exception("preview of slip %s failed", receipt.kind)
        if self.on_printed is not None:
            self.on_printed(receipt)
