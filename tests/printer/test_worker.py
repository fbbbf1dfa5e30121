"""The printer worker against real loopback TCP, a real pty and a real file."""

from __future__ import annotations

import asyncio
import os
import tty

import pytest

from kioskd.printer import open_printer, render_escpos, status_once
from kioskd.printer.transport import parse_uri
from kioskd.proving.fakes.escpos_printer import FakeFdPrinter, FakePrinter, FakeTcpPrinter
from kioskd.receipt import Barcode, Receipt, Text

FAST = {
    "timeout_s": 2.0,
    "reply_timeout_s": 0.2,
    "poll_s": 0.02,
    "idle_poll_s": None,
    "backoff_s": (0.01, 0.05),
}
RECEIPT = Receipt("test", (Text("LOTERÍA " * 20), Barcode("1234567812345678")))


async def wait_until(predicate, what: str, limit_s: float = 10.0) -> None:
    """Wait for a condition (a bound on a hang, not a speed assertion)."""
    for _ in range(int(limit_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def tcp():
    with FakeTcpPrinter() as server:
        yield server


def test_uri_parsing():
    assert parse_uri("usb://04b8:0e15?serial=X1").target == "04b8:0e15"
    assert parse_uri("serial:///dev/ttyUSB0?baudrate=19200").options == {"baudrate": "19200"}
    assert parse_uri("tcp://10.0.0.5:9100").target == "10.0.0.5:9100"
    assert parse_uri("file:///dev/usb/lp0").target == "/dev/usb/lp0"
    for bad in ("lpt://x", "tcp://host", "usb://zz", "file://"):
        with pytest.raises(ValueError):
            parse_uri(bad)


@pytest.mark.parametrize(
    ("script", "expect"),
    [
        ({}, ("ok", True, "closed", "ok", "none")),
        ({"paper": "near_end"}, ("paper_near_end", True, "closed", "near_end", "none")),
        ({"paper": "out"}, ("paper_out", False, "closed", "out", "none")),
        ({"cover_open": True}, ("cover_open", False, "open", "ok", "none")),
        ({"error": "cutter"}, ("error_cutter", False, "closed", "ok", "cutter")),
        ({"silent": True}, ("unknown", None, "unknown", "unknown", "unknown")),
    ],
)
def test_status_once_over_tcp(tcp, script, expect):
    tcp.core.set_state(**script)
    s = status_once(tcp.uri, reply_timeout_s=0.2)
    assert (s.summary(), s.online, s.cover, s.paper, s.error) == expect


def test_status_once_offline_when_nothing_listens(tcp):
    tcp.vanish()
    s = status_once(tcp.uri, timeout_s=1.0)
    assert s.summary() == "disconnected" and not s.connected


async def test_print_over_tcp_records_job_once(tcp):
    async with open_printer(tcp.uri, paper_mm=58, **FAST) as printer:
        await printer.print_receipt(RECEIPT)
        assert (await printer.status()).printable
    assert bytes(tcp.core.printed) == render_escpos(RECEIPT, 58)
    assert tcp.core.queries[:4] == [1, 2, 3, 4]  # checked before the job


async def test_job_waits_while_paper_out_then_prints(tcp):
    tcp.core.set_state(paper="out")
    seen = []
    async with open_printer(tcp.uri, on_change=seen.append, **FAST) as printer:
        job = asyncio.create_task(printer.print_receipt(RECEIPT))
        await wait_until(lambda: printer.last_status.paper == "out", "paper out seen")
        assert not job.done() and tcp.core.printed == b"" and tcp.core.held == b""
        tcp.core.set_state(paper="ok")
        await job
    assert tcp.core.cuts == 1
    assert seen[0].paper == "out" and seen[-1].printable
    assert any(s.needs_person for s in seen)


async def test_paper_out_mid_job_completes_after_paper_returns_printed_once(tcp):
    data = render_escpos(RECEIPT, 80)
    tcp.core.paper_out_after(len(data) // 2)
    async with open_printer(tcp.uri, **FAST) as printer:
        job = asyncio.create_task(printer.print_receipt(RECEIPT))
        await wait_until(lambda: printer.last_status.paper == "out", "paper out mid-job")
        assert not job.done()
        assert len(tcp.core.printed) == len(data) // 2 and tcp.core.held
        tcp.core.set_state(paper="ok")
        await job
    assert bytes(tcp.core.printed) == data  # the whole job, exactly once
    assert tcp.core.cuts == 1


async def test_cover_open_holds_jobs_in_order(tcp):
    tcp.core.set_state(cover_open=True)
    a, b = Receipt("a", (Text("FIRST"),)), Receipt("b", (Text("SECOND"),))
    async with open_printer(tcp.uri, **FAST) as printer:
        jobs = [asyncio.create_task(printer.print_receipt(r)) for r in (a, b)]
        await wait_until(lambda: printer.last_status.cover == "open", "cover open seen")
        tcp.core.set_state(cover_open=False)
        await asyncio.gather(*jobs)
    printed = bytes(tcp.core.printed)
    assert printed.index(b"FIRST") < printed.index(b"SECOND")
    assert tcp.core.cuts == 2


async def test_silent_printer_still_prints_and_reports_unknown(tcp):
    tcp.core.set_state(silent=True)
    async with open_printer(tcp.uri, **FAST) as printer:
        await printer.print_receipt(RECEIPT)
        s = await printer.status()
    assert s.connected and not s.answered and s.paper == "unknown"
    assert tcp.core.cuts == 1


async def test_vanished_printer_reconnects_and_job_waits(tcp):
    tcp.vanish()
    async with open_printer(tcp.uri, **FAST) as printer:
        job = asyncio.create_task(printer.print_receipt(RECEIPT))
        await wait_until(lambda: not printer.last_status.connected, "disconnect seen")
        await asyncio.sleep(0.1)
        assert not job.done()
        tcp.reappear()
        await job
    assert tcp.core.cuts == 1


async def test_close_fails_waiting_jobs(tcp):
    from kioskd.printer import PrinterClosed

    tcp.core.set_state(paper="out")
    printer = open_printer(tcp.uri, **FAST)
    job = asyncio.create_task(printer.print_receipt(RECEIPT))
    await wait_until(lambda: printer.last_status.paper == "out", "paper out seen")
    await printer.close()
    with pytest.raises(PrinterClosed):
        await job
    assert tcp.core.printed == b""


async def test_changes_iterator_reports_paper_out(tcp):
    async with open_printer(tcp.uri, **{**FAST, "idle_poll_s": 0.02}) as printer:
        stream = printer.changes()
        tcp.core.set_state(paper="out")
        while (s := await asyncio.wait_for(anext(stream), 10)).paper != "out":
            pass
        assert s.needs_person
        await stream.aclose()


async def test_serial_over_pty():
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    with FakeFdPrinter(master) as fake:
        fake.core.set_state(paper="near_end")
        async with open_printer(f"serial://{path}?baudrate=19200", **FAST) as printer:
            s = await printer.status()
            assert s.paper == "near_end" and s.online is True
            await printer.print_receipt(RECEIPT)
        assert bytes(fake.core.printed) == render_escpos(RECEIPT, 80)
    os.close(slave)
    os.close(master)


async def test_file_transport_writes_and_status_unknown(tmp_path):
    target = tmp_path / "printer.bin"
    async with open_printer(f"file://{target}", **FAST) as printer:
        await printer.print_receipt(RECEIPT)
        await printer.print_receipt(RECEIPT)
        s = await printer.status()
    assert target.read_bytes() == render_escpos(RECEIPT, 80) * 2
    assert s.connected and s.paper == "unknown" and not s.printable


def test_fake_core_handles_query_split_across_reads():
    core = FakePrinter()
    assert core.feed(b"AB\x10") == b""
    assert core.feed(b"\x04") == b""
    assert core.feed(b"\x04CD") == bytes([0x12])  # n=4 answered, paper ok
    assert bytes(core.printed) == b"ABCD" and core.queries == [4]


def test_fake_core_stamps_each_cut_when_it_reaches_paper():
    """Benches time keys to paper by the fake printer's cut times: one per cut, a cut split
    across reads counted once, held bytes stamped when the printer releases them."""
    core = FakePrinter()
    core.feed(b"slip one\x1dVA\x00slip two\x1d")
    assert len(core.cut_times) == 1
    core.feed(b"VA\x00")
    assert len(core.cut_times) == 2 == core.cuts
    core.set_state(cover_open=True)
    core.feed(b"held\x1dVA\x00")
    assert len(core.cut_times) == 2  # not on paper yet
    core.set_state(cover_open=False)
    assert len(core.cut_times) == 3 == core.cuts
    assert core.cut_times == sorted(core.cut_times)


async def test_link_lost_while_job_held_resends_after_reconnect(tcp):
    """Printer power-cycled while holding the job: its buffer is gone, so the job is resent."""
    tcp.core.paper_out_after(10)
    async with open_printer(tcp.uri, **FAST) as printer:
        job = asyncio.create_task(printer.print_receipt(RECEIPT))
        await wait_until(lambda: printer.last_status.paper == "out", "paper out mid-job")
        tcp.vanish()
        tcp.core.held.clear()  # power cycle: the held bytes are lost
        tcp.core.set_state(paper="ok")
        await wait_until(lambda: not printer.last_status.connected, "disconnect seen")
        tcp.reappear()
        await job
    assert bytes(tcp.core.printed).endswith(render_escpos(RECEIPT, 80))
    assert tcp.core.cuts == 1


async def test_receipts_are_rendered_by_the_worker_and_a_bad_one_fails_alone(tcp, monkeypatch):
    """Issue 19 (CPU per sale): a receipt goes to the printer's worker as it is and is rendered
    there (one thread hand-over a slip, not a render thread and then the worker); a receipt
    that cannot be rendered fails its caller with the error, and the next one prints."""
    import threading

    from kioskd.printer import printer as printer_module

    real = printer_module._render
    threads: list[str] = []

    def recording(receipt, paper_mm, **options):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        if receipt.kind == "broken":
            raise ValueError("cannot render this")
        return real(receipt, paper_mm, **options)

    monkeypatch.setattr(printer_module, "_render", recording)
    async with open_printer(tcp.uri, paper_mm=58, **FAST) as printer:
        with pytest.raises(ValueError, match="cannot render"):
            await printer.print_receipt(Receipt("broken", (Text("x"),)))
        await printer.print_receipt(RECEIPT)
    assert threads == [f"printer {tcp.uri}"] * 2
    assert bytes(tcp.core.printed) == render_escpos(RECEIPT, 58)


def test_tcp_transport_waits_by_poll_with_finite_timeouts():
    """Issue 19 (CPU per sale): the TCP transport stays non-blocking once connected (no
    timeout switched before every call) and still bounds each wait: a reply that never comes
    is None after the reply timeout, a printer that stops taking bytes fails the write after
    the transport's timeout, and a printer that hangs up is an error."""
    import socket
    import time

    from kioskd.printer.transport import TransportError, make_transport

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    transport = make_transport(f"tcp://127.0.0.1:{port}", 0.3)
    transport.open()
    peer, _ = server.accept()
    try:
        assert transport._sock is not None and transport._sock.gettimeout() == 0.0
        transport.drain()  # nothing waiting: returns at once
        peer.sendall(b"\x12\x16")
        transport.drain()  # stale bytes dropped
        assert transport.read_byte(0.05) is None
        peer.sendall(b"\x12")
        assert transport.read_byte(1.0) == 0x12
        began = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            transport.write(b"x" * (64 << 20))  # the peer reads nothing: buffers fill
        assert time.monotonic() - began < 5.0
        peer.close()  # with our bytes unread: a reset, else an end of stream
        with pytest.raises(TransportError):
            transport.read_byte(1.0)
    finally:
        transport.close()
        server.close()


def test_fake_core_answers_a_query_after_the_bytes_before_it():
    """A job and the status queries after it in one read: the answers say what the job did
    (paper out in its middle), as a printer that takes its input in order."""
    core = FakePrinter()
    core.paper_out_after(3)
    assert core.feed(b"ABCDEF" + b"\x10\x04\x04") == bytes([0x12 | 0x60])  # paper out
    assert bytes(core.printed) == b"ABC" and bytes(core.held) == b"DEF"
