"""A fast in-process kiosk for the counter-flow scenario tests.

The real `Daemon` runs as a task in the test's event loop with every real part (counter session,
executor, outbox, SQLite journal, spooler, loopback ESC/POS printer, mock-pin lights), except
that the Banklot API is the simulator behind `SimTransport` (in process, no sockets) and input
comes through `inject_keys` / `inject_scan` (what the control socket's `inject-keys` does).

Time: daemon and simulator share one `OffsetClock` started at a fixed local moment
(`START`, a Wednesday 10:30 in Caracas), so both always agree, and a test that needs time to
pass (cancel window, draw results) moves that one clock: the kiosk sees what a real counter would
see an hour later, without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kioskd.clock import OffsetClock
from kioskd.config import ConfigHolder
from kioskd.counter.scan import barcode_data
from kioskd.daemon.daemon import Daemon
from kioskd.proving.fakes.escpos_printer import FakeTcpPrinter
from kioskd.proving.sim import games as simcat
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator
from kioskd.receipt import Receipt
from tests.slip_text import slip_lines

CARACAS = ZoneInfo("America/Caracas")
# 10:30 local: product 6 (JUNGLA, draws every hour) has its 11:00 draw open, products 1-4 their
# 12:00/12:45 draws; the 09:00 and 10:00 JUNGLA results are already posted.
START = dt.datetime(2024, 10, 23, 10, 30, tzinfo=CARACAS).timestamp()
PASSWORD = "flows-pass"
EMAIL = "flows@banklot.test"
# How long a wait gives up after (a wait returns as soon as its condition holds: this only
# bounds a failure). 5 s timed out in CI with other jobs keeping the 2-core machine's load at 10.
WAIT_S = 15.0


class Notes:
    """A notifier that remembers what systemd would have been told."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.is_ready = False

    def ready(self, status: str | None = None) -> bool:
        self.is_ready = True
        self.messages.append("READY=1")
        return True

    def status(self, text: str) -> bool:
        self.messages.append(f"STATUS={text}")
        return True

    def watchdog(self) -> bool:
        return True

    def reloading(self, status: str | None = None) -> bool:
        return True

    def stopping(self, status: str | None = None) -> bool:
        self.messages.append("STOPPING=1")
        return True

    def close(self) -> None:
        pass


class RecordingDaemon(Daemon):
    """The real daemon; its lights also remember every one-shot signal, in order."""

    signals: list[str]

    def _lights(self, **kw: Any) -> Any:
        lights = super()._lights(**kw)
        played = self.signals = []
        real_signal = lights.signal

        def signal(name: str) -> None:
            played.append(name)
            real_signal(name)

        lights.signal = signal
        return lights


def texts(receipt: Receipt) -> list[str]:
    """Every line a slip prints, as text (rows as ``left | right``)."""
    return slip_lines(receipt, barcode="barcode {data}")


def body(receipt: Receipt) -> str:
    return "\n".join(texts(receipt))


@dataclass
class Rig:
    daemon: RecordingDaemon
    sim: Simulator
    clock: OffsetClock
    printer: FakeTcpPrinter
    notes: Notes
    tmp_path: Path
    receipts: list[Receipt] = field(default_factory=list)
    task: asyncio.Task[int] | None = None

    # ------------------------------------------------------------------ the counter

    def type(self, text: str) -> None:
        """Keypad (`\\n` Enter, `\\b` Backspace, `\\x1b` Esc)."""
        self.daemon.inject_keys(text)

    def scan(self, text: str) -> None:
        self.daemon.inject_scan(text)

    @property
    def signals(self) -> list[str]:
        return self.daemon.signals

    def lights(self) -> dict[str, object]:
        return self.daemon.lights.current()

    # ------------------------------------------------------------------ waiting

    async def wait_for(self, predicate: Callable[[], Any], timeout_s: float = WAIT_S) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if self.task is not None and self.task.done():
                self.task.result()  # the daemon died: show why
                raise AssertionError("the daemon stopped")
            if loop.time() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.01)

    async def slip(self, kind: str, timeout_s: float = WAIT_S, nth: int = 1) -> Receipt:
        """The `nth` printed slip of `kind` (waits until it has been printed)."""

        def found() -> Receipt | None:
            hits = [r for r in self.receipts if r.kind == kind]
            return hits[nth - 1] if len(hits) >= nth else None

        return await self.wait_for(found, timeout_s)

    async def idle(self, timeout_s: float = WAIT_S, *, queued_ok: bool = False) -> None:
        """Until no command is pending (`queued_ok`: except those the outbox holds), no task
        runs and nothing waits to be printed."""
        d = self.daemon

        def quiet() -> bool:
            return (
                (queued_ok or not d.session.pending)
                and not any(not t.done() for t in d._tasks)
                and d.spooler.idle
                and not d.outbox._ready
                and not d.outbox.in_flight
            )

        await self.wait_for(quiet, timeout_s)
        await asyncio.sleep(0.02)
        await self.wait_for(quiet, timeout_s)

    def kinds(self) -> list[str]:
        return [r.kind for r in self.receipts]

    # ------------------------------------------------------------------ the books

    def ledger(self) -> dict[str, Any]:
        return self.sim.ledger()

    def tickets(self) -> list[dict[str, Any]]:
        return self.ledger()["tickets"]

    def barcode_of(self, ticket: dict[str, Any], pin: int | None = None) -> str:
        """What the printed barcode of a ledger ticket says (optionally with another PIN)."""
        day = dt.datetime.fromtimestamp(ticket["created_at"], CARACAS).date()
        return barcode_data(ticket["ticket_number"], pin or ticket["pin_number"], day)

    def open_event(self, product_id: int) -> int:
        return self.sim.open_events()[product_id]

    def advance_to_results(self, event_id: int) -> None:
        """Move the shared clock just past the draw's result time (both sides agree)."""
        ev = simcat.event(event_id)
        assert ev is not None
        self.clock.set(ev.result_ts + 60)

    async def sell(self, keys: str) -> dict[str, Any]:
        """Sell through the keypad; return the new ledger ticket once its slip printed."""
        before = len(self.tickets())
        printed = len([r for r in self.receipts if r.kind == "ticket"])
        self.type(keys)
        await self.wait_for(lambda: len(self.tickets()) > before)
        await self.slip("ticket", nth=printed + 1)
        await self.idle()
        return self.tickets()[-1]


def config_text(
    tmp_path: Path,
    printer: FakeTcpPrinter,
    extra: dict[str, str],
    password_file: Path | None = None,
) -> str:
    """The flow tests' config; `password_file`: the API password is read from that file (the
    way a kiosk ships) instead of written in the config."""
    secret = f'password_file = "{password_file}"' if password_file else f'password = "{PASSWORD}"'
    sections = {
        "terminal": 'id = "flow-1"',
        "api": (
            f'base_url = "http://banklot.sim"\nemail = "{EMAIL}"\n{secret}\n'
            "connect_timeout_s = 1.0\nread_timeout_s = 2.0"
        ),
        "journal": f'path = "{tmp_path}/journal.sqlite3"',
        "offline": "create_max_age_s = 120.0\npay_max_age_s = 600.0",
        "reconcile": "quiet_period_s = 3.0\nprobes = 2\nprobe_interval_s = 1.0",
        "catalog": "refresh_s = 3600.0\nstale_after_s = 7200.0",
        "scanner": 'device = ""',
        "keypad": 'device = ""',
        "printer": f'uri = "{printer.uri}"\ntimeout_s = 3.0\npreview_dir = "{tmp_path}/slips"',
        "leds": 'backend = "mock"',
        "control": f'socket = "{tmp_path}/ctl.sock"',
        "log": 'target = "stderr"\nlevel = "warning"',
    }
    for name, text in extra.items():
        sections[name] = f"{sections.get(name, '')}\n{text}".strip()
    # No textfile in node-exporter's folder of the machine running the tests.
    sections.setdefault("metrics", 'textfile_dir = ""')
    return "".join(f"[{name}]\n{text}\n" for name, text in sections.items())


@contextlib.asynccontextmanager
async def running_kiosk(
    tmp_path: Path,
    *,
    extra: dict[str, str] | None = None,
    offline: bool = False,
    want_catalog: bool = True,
    wall: OffsetClock | None = None,
    password_file: Path | None = None,
):
    """`wall`: the kiosk's own clock when it is not the server's (tests/flows/test_flow_clock.py:
    the kiosk's wall clock off and stepping; time passing then moves both)."""
    clock = OffsetClock()
    clock.set(START)
    sim = Simulator(seed=7, clock=clock, email=EMAIL, password=PASSWORD)
    sim.set_offline(offline)
    printer = FakeTcpPrinter().start()
    (tmp_path / "slips").mkdir(exist_ok=True)
    path = tmp_path / "kioskd.toml"
    path.write_text(config_text(tmp_path, printer, extra or {}, password_file))
    notes = Notes()
    daemon = RecordingDaemon(
        ConfigHolder(path),
        clock=wall or clock,
        transport=SimTransport(sim),
        notifier=notes,
        environ={},
    )
    rig = Rig(daemon, sim, clock, printer, notes, tmp_path)
    rig.task = asyncio.create_task(daemon.run())
    try:
        await rig.wait_for(lambda: hasattr(daemon, "spooler"))
        daemon.spooler.on_printed = rig.receipts.append
        await rig.wait_for(lambda: notes.is_ready)
        if want_catalog:
            await rig.wait_for(lambda: daemon._catalog is not None)
            await rig.wait_for(lambda: daemon.lights.current()["state"] == "ready")
        yield rig
    finally:
        daemon.request_stop()
        try:
            await asyncio.wait_for(rig.task, 15)
        finally:
            printer.vanish()


@pytest.fixture
async def kiosk(tmp_path: Path):
    async with running_kiosk(tmp_path) as rig:
        yield rig
