"""The printer worker: all printer I/O in one thread, behind an async API.

Rules:
- One thread owns the transport; the event loop never blocks on the printer. Requests go in
  through a queue; results come back as futures resolved on the loop. A receipt is rendered
  to ESC/POS by that thread as its job arrives (one hand-over a slip; issue 19).
- A job is: check status -> write the bytes -> check status after the cut. It is done when the
  bytes were all taken and the printer, after the cut, is not in a known blocking state.
- Jobs wait, never dropped, while the status is known bad (paper out, cover open, offline,
  an error) and resume when it clears; they keep their order.
- Paper out *after* the bytes were taken (in the middle of the job) is not a reason to send
  them again: the printer holds the rest and prints it when paper returns, so the job is
  printed once. The job finishes when the printer recovers.
- A link that fails (write timeout, reset, vanished device), before the job is finished,
  closes the transport; it is re-opened with exponential backoff and the whole job is sent
  again: at least once beats lost for a ticket (the printer may have printed a fragment; the
  journal marks recovery prints as reprints). A transport that cannot be opened leaves jobs
  waiting.
- An unknown status (no answer, or no status channel such as a plain file) does not hold a
  job: it is reported as unknown and printing goes ahead.
- A status check asks DLE EOT 1, 2, 3 and 4 (each sensor, every time). The first check on a
  new link asks them one at a time, draining stray bytes before each; once a check got four
  status bytes, the next asks all four in one write and reads four bytes (issue 19: one wait
  of the printer's thread instead of four, eight a slip). A burst that does not come back
  whole (a byte missing in time, or one without the status bytes' fixed bits) is asked again
  one at a time, and that link asks one at a time until it is opened again: a printer that
  drops or garbles a burst costs one reply timeout, and its burst's bytes are never taken
  for answers. Real-time commands are answered in the order they arrive, and an ASB
  message's bytes never carry the status bytes' fixed bits, so four good bytes are the four
  answers. (One query at a time, a byte that comes later than its reply timeout, and after
  the next query's drain, can still be read as that query's answer, as it always could.)
- Every status change is reported: ``on_change`` callback on the loop, and ``changes()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import queue
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

from kioskd.printer import escpos_cache_file
from kioskd.printer.layout import columns_for
from kioskd.printer.profiles import DEFAULT_PROFILE, load_profile
from kioskd.printer.status import (
    DISCONNECTED,
    QUERIES,
    PrinterStatus,
    parse_status,
    query,
    valid_reply,
)
from kioskd.printer.transport import Transport, TransportError, make_transport
from kioskd.receipt import Receipt

log = logging.getLogger(__name__)


def _render(receipt: Receipt, paper_mm: int, **options: Any) -> bytes:
    """ESC/POS bytes of a receipt, in a worker thread: python-escpos and its capability
    database (7 MB, about 0.1 CPU-s to import) load at the first slip, not when the daemon
    starts, and neither that import nor a render (a QR code, a logo) holds the event loop."""
    _load_renderer()
    from kioskd.printer.escpos_render import render_escpos

    return render_escpos(receipt, paper_mm, **options)


def warm_renderer() -> None:
    """Load the ESC/POS renderer (python-escpos and its capability database) ahead of the
    first slip: the daemon calls this in a worker after READY=1, so start-up stays light and
    the first customer's ticket does not wait for the import (about 1 s here under load)."""
    _load_renderer()


# Where python-escpos may write its capabilities cache when the state directory cannot take
# it: a memory-backed folder (/dev/shm), else the system's temporary folder.
_CACHE_FALLBACK = "/dev/shm"


def _load_renderer() -> None:
    """Import the renderer. python-escpos writes its capabilities cache (a pickle, in the
    daemon's state directory) at its first import, not atomically: a full disk leaves it torn
    and the import fails (EOFError) at every slip after, so nothing prints until a restart
    (found by the disk-full test). Then the torn file is removed and the import is made again
    with the cache in a memory-backed folder, which a full SD card does not reach."""
    with _RENDERER_LOCK:  # one import at a time: a second thread would get a half-made module
        if "kioskd.printer.escpos_render" in sys.modules:
            return
        _import_renderer()


_RENDERER_LOCK = threading.Lock()


def _import_renderer() -> None:
    """The import, under `_RENDERER_LOCK`; once more with the cache moved if it is torn."""
    try:
        import kioskd.printer.escpos_render
    except (EOFError, OSError, pickle.UnpicklingError) as exc:
        folder = os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR")
        if folder:
            with contextlib.suppress(OSError):
                os.unlink(escpos_cache_file(folder))
        usable = os.path.isdir(_CACHE_FALLBACK) and os.access(_CACHE_FALLBACK, os.W_OK)
        where = _CACHE_FALLBACK if usable else None
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = tempfile.mkdtemp(
            prefix="kioskd-escpos-", dir=where
        )
        log.warning("printer: escpos capabilities cache unusable (%s); rebuilt in memory", exc)
        import kioskd.printer.escpos_render  # noqa: F401


def _whole(status: PrinterStatus) -> bool:
    """Every sensor answered (no field left unknown): the printer answers DLE EOT 1-4."""
    return (
        status.online is not None
        and status.cover != "unknown"
        and status.paper != "unknown"
        and status.error != "unknown"
    )


class PrinterClosed(RuntimeError):
    """The printer was closed before the job was printed."""


def read_status(transport: Transport, reply_timeout_s: float) -> PrinterStatus:
    """Ask DLE EOT 1..4 on an open transport. Raises TransportError if the link failed.

    If the first query gets no valid answer, the rest are not asked (a silent printer would
    otherwise cost four timeouts per check).
    """
    if not transport.can_read:
        return parse_status({}, connected=True)
    replies: dict[int, int | None] = {}
    for n in QUERIES:
        transport.drain()
        transport.write(query(n))
        replies[n] = transport.read_byte(reply_timeout_s)
        if n == 1 and not parse_status(replies).answered:
            break
    return parse_status(replies)


_BURST = b"".join(query(n) for n in QUERIES)  # DLE EOT 1, 2, 3, 4 in one write


def read_status_burst(transport: Transport, reply_timeout_s: float) -> PrinterStatus | None:
    """Ask DLE EOT 1..4 in one write and read the four replies; None when they did not all
    come back as status bytes (ask one at a time then: `read_status`). Raises TransportError
    if the link failed."""
    if not transport.can_read:
        return parse_status({}, connected=True)
    transport.drain()
    transport.write(_BURST)
    replies: dict[int, int | None] = {}
    for n in QUERIES:
        byte = transport.read_byte(reply_timeout_s)
        if not valid_reply(byte):
            return None
        replies[n] = byte
    return parse_status(replies)


@dataclass
class _Job:
    """Bytes for the printer, and the future told when they are sent."""

    data: bytes
    future: asyncio.Future[None]
    sent: bool = False
    receipt: Receipt | None = None  # rendered by the worker into `data` as it arrives


@dataclass
class _StatusRequest:
    """A status query, and the future told its answer."""

    future: asyncio.Future[PrinterStatus]


@dataclass
class _Close:
    """Stop the printer's thread."""

    done: threading.Event = field(default_factory=threading.Event)


class Printer:
    """Async facade over the worker thread. Build with ``open_printer``."""

    def __init__(
        self,
        transport: Transport,
        *,
        loop: asyncio.AbstractEventLoop,
        paper_mm: int = 80,
        profile: str = DEFAULT_PROFILE,
        codepage: str | None = None,
        dots: int | None = None,
        columns: int | None = None,
        reply_timeout_s: float = 0.5,
        poll_s: float = 1.0,
        idle_poll_s: float | None = 10.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        on_change: Callable[[PrinterStatus], None] | None = None,
    ) -> None:
        columns_for(paper_mm)
        self.uri = transport.uri
        self.paper_mm = paper_mm
        self.profile = load_profile(profile, codepage)  # ValueError: unknown profile/page
        self.codepage = codepage
        self.dots, self.columns = dots, columns
        self.paper = self.profile.paper(paper_mm, dots=dots, columns=columns)  # ValueError
        self._transport = transport
        self._loop = loop
        self._reply_timeout = reply_timeout_s
        self._poll_s = poll_s
        self._idle_poll_s = idle_poll_s
        self._backoff = backoff_s
        self._on_change = on_change
        self._inbox: queue.Queue[_Job | _StatusRequest | _Close] = queue.Queue()
        self._jobs: deque[_Job] = deque()
        self._open = False
        # DLE EOT 1-4 in one write: after a check that got four status bytes, until a burst
        # fails on this link (see the module's rules).
        self._burst = False
        self._burst_failed = False
        self._failures = 0
        self._retry_at = 0.0
        self._next_idle_poll = 0.0
        self._status = DISCONNECTED
        self._reported: PrinterStatus | None = None
        self._listeners: list[asyncio.Queue[PrinterStatus]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"printer {self.uri}", daemon=True)
        self._thread.start()

    # -- async API (event loop side) -------------------------------------------------------
    @property
    def last_status(self) -> PrinterStatus:
        """The status last reported by the worker (no I/O)."""
        return self._status

    async def print_receipt(self, receipt: Receipt) -> None:
        """Print ``receipt``; returns once it is on paper (waits while paper out / cover open).
        The worker renders it as the job arrives (off the loop; one thread hand-over a slip
        instead of two: issue 19, CPU per sale); a rendering error is raised here."""
        if self._closed:
            raise PrinterClosed(f"printer {self.uri} is closed")
        future: asyncio.Future[None] = self._loop.create_future()
        self._inbox.put(_Job(b"", future, receipt=receipt))
        await future

    def _render_job(self, job: _Job) -> bool:
        """Worker: the ESC/POS bytes of a job given as a receipt; False (the job failed with
        the rendering's error) when it cannot be rendered."""
        if job.receipt is None:
            return True
        try:
            job.data = _render(
                job.receipt,
                self.paper_mm,
                profile=self.profile.name,
                codepage=self.codepage,
                dots=self.dots,
                columns=self.columns,
            )
        except Exception as exc:
            self._resolve(job.future, error=exc)
            return False
        job.receipt = None
        return True

    def preview(self, receipt: Receipt, path: str | os.PathLike[str]) -> Path:
        """Write the PNG preview of ``receipt`` as this printer prints it (same profile, code
        page and width); blocking (Pillow), so call it in a thread."""
        from kioskd.printer.png_render import render_png

        return render_png(
            receipt,
            self.paper_mm,
            path,
            profile=self.profile.name,
            codepage=self.codepage,
            dots=self.dots,
            columns=self.columns,
        )

    async def print_bytes(self, data: bytes) -> None:
        if self._closed:
            raise PrinterClosed(f"printer {self.uri} is closed")
        future: asyncio.Future[None] = self._loop.create_future()
        self._inbox.put(_Job(data, future))
        await future

    async def status(self) -> PrinterStatus:
        """Ask the printer now (between jobs; while a job waits, it is asked in turn)."""
        if self._closed:
            raise PrinterClosed(f"printer {self.uri} is closed")
        future: asyncio.Future[PrinterStatus] = self._loop.create_future()
        self._inbox.put(_StatusRequest(future))
        return await future

    async def changes(self) -> AsyncIterator[PrinterStatus]:
        """Each status change, starting with the current one."""
        q: asyncio.Queue[PrinterStatus] = asyncio.Queue()
        self._listeners.append(q)
        q.put_nowait(self._status)
        try:
            while True:
                yield await q.get()
        finally:
            self._listeners.remove(q)

    async def close(self) -> None:
        """Stop the worker; jobs not yet printed fail with ``PrinterClosed``."""
        if self._closed:
            return
        self._closed = True
        request = _Close()
        self._inbox.put(request)
        await asyncio.to_thread(self._thread.join)

    async def __aenter__(self) -> Printer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- worker thread -------------------------------------------------------------------------
    def _resolve(
        self, future: asyncio.Future[Any], result: object = None, error: BaseException | None = None
    ) -> None:
        def settle() -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # loop already closed
            self._loop.call_soon_threadsafe(settle)

    def _report(self, status: PrinterStatus) -> None:
        self._status = status
        if status == self._reported:
            return
        self._reported = status
        log.info("printer %s: %s", self.uri, status.summary())

        def publish() -> None:
            for q in self._listeners:
                q.put_nowait(status)
            if self._on_change is not None:
                self._on_change(status)

        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(publish)

    def _disconnect(self, reason: str) -> None:
        if self._open:
            log.warning("printer %s: closing link: %s", self.uri, reason)
        self._transport.close()
        self._open = False
        self._failures += 1
        low, high = self._backoff
        self._retry_at = time.monotonic() + min(high, low * 2 ** (self._failures - 1))
        self._report(DISCONNECTED)

    def _ensure_open(self) -> bool:
        if self._open:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._transport.open()
        except TransportError as exc:
            self._disconnect(str(exc))
            return False
        self._open = True
        self._burst = self._burst_failed = False  # a new link: one at a time first
        return True

    def _check(self) -> PrinterStatus:
        """Status now; a failed link is closed (backoff) and reported as disconnected."""
        if not self._ensure_open():
            return self._status
        try:
            status = self._read_status()
        except TransportError as exc:
            self._disconnect(str(exc))
            return self._status
        self._failures = 0
        self._report(status)
        return status

    def _read_status(self) -> PrinterStatus:
        """One status check: a burst when the last check got every byte (see the rules)."""
        if self._burst:
            status = read_status_burst(self._transport, self._reply_timeout)
            if status is not None:
                return status
            self._burst, self._burst_failed = False, True
            log.info("printer %s: status asked one query at a time on this link", self.uri)
        status = read_status(self._transport, self._reply_timeout)
        self._burst = not self._burst_failed and _whole(status)
        return status

    def _advance(self) -> None:
        """Move the head job forward as far as it can go now."""
        while self._jobs:
            job = self._jobs[0]
            if job.future.cancelled():
                self._jobs.popleft()
                continue
            status = self._check()
            if not status.connected:
                job.sent = False  # link lost: whatever the printer held may be gone; resend
                return
            if status.blocking:
                return  # wait for recovery, then try again
            if not job.sent:
                try:
                    self._transport.write(job.data)
                except TransportError as exc:
                    self._disconnect(str(exc))
                    return
                job.sent = True
                status = self._check()
                if not status.connected or status.blocking:
                    return  # taken by the printer; finishes when it recovers
            self._jobs.popleft()
            self._resolve(job.future)

    def _timeout(self) -> float | None:
        now = time.monotonic()
        if self._jobs:
            return max(0.0, max(self._retry_at, now + self._poll_s) - now)
        if self._idle_poll_s is None:
            return None
        return max(0.0, self._next_idle_poll - now)

    def _run(self) -> None:
        closing: _Close | None = None
        while closing is None:
            try:
                item = self._inbox.get(timeout=self._timeout())
            except queue.Empty:
                item = None
            if isinstance(item, _Close):
                closing = item
                break
            if isinstance(item, _StatusRequest):
                self._resolve(item.future, self._check())
            elif isinstance(item, _Job):
                if self._render_job(item):
                    self._jobs.append(item)
            elif not self._jobs and self._idle_poll_s is not None:
                self._check()
                self._next_idle_poll = time.monotonic() + self._idle_poll_s
            self._advance()
        for job in self._jobs:
            self._resolve(job.future, error=PrinterClosed(f"printer {self.uri} closed"))
        self._jobs.clear()
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job | _StatusRequest):
                self._resolve(item.future, error=PrinterClosed(f"printer {self.uri} closed"))
        self._transport.close()
        closing.done.set()


class PrinterOptions(TypedDict, total=False):
    """`Printer`'s keyword options (their defaults are `Printer`'s)."""

    paper_mm: int
    profile: str
    codepage: str | None
    dots: int | None
    columns: int | None
    reply_timeout_s: float
    poll_s: float
    idle_poll_s: float | None
    backoff_s: tuple[float, float]
    on_change: Callable[[PrinterStatus], None] | None


def open_printer(uri: str, *, timeout_s: float = 5.0, **options: Unpack[PrinterOptions]) -> Printer:
    """Start a worker for the printer at ``uri``; call from a running event loop.

    ``profile`` is a python-escpos printer profile (its code-page table picks the code page;
    ``codepage`` overrides it; its width gives the columns, ``dots`` / ``columns`` override
    that). ``timeout_s`` bounds every write and open; ``reply_timeout_s``
    each status reply; ``poll_s`` is how often a waiting job re-checks; ``idle_poll_s``
    (None = never) how often an idle printer is checked so that paper out shows before the
    next job.
    """
    transport = make_transport(uri, timeout_s)
    return Printer(transport, loop=asyncio.get_running_loop(), **options)


def status_once(uri: str, *, timeout_s: float = 3.0, reply_timeout_s: float = 0.5) -> PrinterStatus:
    """Open, ask, close: the synchronous check behind ``kioskd printer-status``."""
    transport = make_transport(uri, timeout_s)
    try:
        transport.open()
    except TransportError:
        return DISCONNECTED
    try:
        return read_status(transport, reply_timeout_s)
    except TransportError:
        return DISCONNECTED
    finally:
        transport.close()
