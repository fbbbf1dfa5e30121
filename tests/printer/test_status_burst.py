"""Issue 19 (CPU a sale): a status check asks DLE EOT 1-4 in one write once the printer has
answered a whole check, and falls back to one query at a time, for the rest of the link, when
a burst does not come back whole. Every sensor is asked at every check either way, and a
printer that drops or garbles a burst never gets a wrong status.

The printer's worker runs on a scripted transport in front of the fake printer's core: each
write is one read of the printer (a real-time query is answered as it arrives), each reply
byte is there for `read_byte` or not (a byte that does not come is a timeout, without the
wait)."""

from __future__ import annotations

import asyncio
from collections import deque

from kioskd.printer.printer import Printer, read_status, read_status_burst
from kioskd.printer.status import QUERIES, query
from kioskd.proving.fakes.escpos_printer import FakePrinter
from kioskd.receipt import Receipt, Text

BURST = b"".join(query(n) for n in QUERIES)
RECEIPT = Receipt("test", (Text("SOLD"),))
FAST = {"reply_timeout_s": 0.01, "poll_s": 0.01, "idle_poll_s": None, "backoff_s": (0.01, 0.05)}


class ScriptedTransport:
    """A transport whose printer is a `FakePrinter` core; `mangle` rewrites the replies to a
    write that held several queries (a printer that cannot take a burst)."""

    uri = "scripted://printer"
    can_read = True

    def __init__(self, core: FakePrinter, mangle=None) -> None:
        self.core = core
        self.mangle = mangle
        self.writes: list[bytes] = []
        self.opens = 0
        self._replies: deque[int] = deque()

    def open(self) -> None:
        self.opens += 1

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        replies = self.core.feed(bytes(data))
        if self.mangle is not None and data.count(b"\x10\x04") > 1:
            replies = self.mangle(replies)
        self._replies.extend(replies)

    def read_byte(self, timeout_s: float) -> int | None:
        return self._replies.popleft() if self._replies else None

    def drain(self) -> None:
        self._replies.clear()

    def close(self) -> None:
        self._replies.clear()

    def query_writes(self) -> list[bytes]:
        return [w for w in self.writes if w.startswith(b"\x10\x04")]


async def checks(transport: ScriptedTransport, n: int) -> list:
    printer = Printer(transport, loop=asyncio.get_running_loop(), **FAST)
    try:
        return [await printer.status() for _ in range(n)]
    finally:
        await printer.close()


def test_the_burst_reads_the_same_status_as_one_query_at_a_time() -> None:
    for state in ({}, {"paper": "near_end"}, {"paper": "out"}, {"cover_open": True},
                  {"error": "cutter"}, {"error": "unrecoverable"}):  # fmt: skip
        core = FakePrinter()
        core.set_state(**state)
        one, burst = ScriptedTransport(core), ScriptedTransport(core)
        assert read_status_burst(burst, 0.01) == read_status(one, 0.01), state
        assert burst.query_writes() == [BURST]
        assert len(one.query_writes()) == 4


async def test_after_a_whole_check_the_printer_is_asked_in_one_write() -> None:
    t = ScriptedTransport(FakePrinter())
    statuses = await checks(t, 4)
    assert all(s.printable for s in statuses)
    writes = t.query_writes()
    assert writes[:4] == [query(n) for n in QUERIES]  # a new link: one at a time first
    assert writes[4:] == [BURST] * 3
    assert t.core.queries == [1, 2, 3, 4] * 4  # every sensor, every check


async def test_a_printer_that_drops_a_burst_query_is_asked_one_at_a_time_from_then_on() -> None:
    core = FakePrinter()
    core.set_state(paper="near_end")
    t = ScriptedTransport(core, mangle=lambda replies: replies[:1] + replies[2:])  # n=2 lost
    statuses = await checks(t, 4)
    assert [s.summary() for s in statuses] == ["paper_near_end"] * 4
    assert all(s.cover == "closed" and s.error == "none" for s in statuses)
    writes = t.query_writes()
    assert writes[4] == BURST and writes.count(BURST) == 1  # tried once on this link
    assert writes[5:] == [query(n) for n in QUERIES] * 3


async def test_a_garbled_burst_is_never_read_as_a_status() -> None:
    core = FakePrinter()
    core.set_state(cover_open=True)
    # The printer answers a burst with bytes that are not status bytes (fixed bits wrong).
    t = ScriptedTransport(core, mangle=lambda replies: bytes(b & 0x6D for b in replies))
    statuses = await checks(t, 3)
    assert all(s.cover == "open" and s.online is False for s in statuses)
    assert t.query_writes().count(BURST) == 1


async def test_a_silent_printer_is_never_asked_a_burst() -> None:
    core = FakePrinter()
    core.set_state(silent=True)
    t = ScriptedTransport(core)
    statuses = await checks(t, 3)
    assert all(s.connected and not s.answered for s in statuses)
    assert BURST not in t.query_writes()


async def test_a_job_between_bursts_is_printed_once_and_checked_after_its_cut() -> None:
    t = ScriptedTransport(FakePrinter())
    printer = Printer(t, loop=asyncio.get_running_loop(), **FAST)
    try:
        await printer.status()
        await printer.print_receipt(RECEIPT)
        await printer.print_receipt(RECEIPT)
    finally:
        await printer.close()
    assert t.core.cuts == 2
    # first check one at a time, then a burst before and after each job's bytes
    assert t.query_writes()[4:] == [BURST] * 4
    assert t.core.queries == [1, 2, 3, 4] * 5


async def test_a_new_link_starts_one_at_a_time_again() -> None:
    from kioskd.printer.transport import TransportError

    t = ScriptedTransport(FakePrinter(), mangle=lambda replies: replies[:2])  # bursts fail
    fail = {"next": False}
    write = t.write

    def flaky_write(data: bytes) -> None:
        if fail["next"]:
            fail["next"] = False
            raise TransportError("reset by peer")
        write(data)

    t.write = flaky_write  # type: ignore[method-assign]
    printer = Printer(t, loop=asyncio.get_running_loop(), **FAST)
    try:
        await printer.status()  # one at a time
        await printer.status()  # a burst, which fails: one at a time from then on
        assert t.query_writes().count(BURST) == 1
        fail["next"] = True
        assert not (await printer.status()).connected  # the link drops
        t.mangle = None  # the printer on the new link takes bursts
        for _ in range(100):
            if (await printer.status()).connected:
                break
            await asyncio.sleep(0.01)
        await printer.status()
    finally:
        await printer.close()
    assert t.opens >= 2
    after = t.query_writes()[-5:]
    assert after == [query(n) for n in QUERIES] + [BURST]  # one at a time, then a burst
