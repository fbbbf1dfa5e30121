"""Real parts for doctor tests: the simulator on loopback HTTP, a fake TCP printer, a fake
/dev/input tree and config files in tmp_path."""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kioskd.clock import OffsetClock
from kioskd.input.evtest import EvtestHeader, format_header
from kioskd.proving.fakes.escpos_printer import FakeTcpPrinter
from kioskd.proving.sim.server import SimServer
from kioskd.proving.sim.simulator import Simulator

EMAIL = "username@banklot.net"
PASSWORD = "banklot"  # the simulator's default account
SCANNER_ID = "0c2e:0b61"


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimServer]:
    """One simulator per module, on system time (offset adjustable per test)."""
    sim = Simulator(seed=0, clock=OffsetClock(0.0))
    with SimServer(sim) as server:
        yield server


@pytest.fixture
def sim(sim_server: SimServer) -> Iterator[Simulator]:
    sim_server.sim.clock.offset = 0.0  # type: ignore[attr-defined]
    sim_server.sim.faults.clear()
    yield sim_server.sim
    sim_server.sim.faults.clear()
    sim_server.sim.clock.offset = 0.0  # type: ignore[attr-defined]


@pytest.fixture
def printer() -> Iterator[FakeTcpPrinter]:
    with FakeTcpPrinter() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_node(
    input_dir: Path, n: int, name: str, vendor: int, product: int, by_id: str | None = None
) -> Path:
    """A fake evdev node: a FIFO plus its evtest header sidecar, and an optional by-id link."""
    input_dir.mkdir(parents=True, exist_ok=True)
    node = input_dir / f"event{n}"
    os.mkfifo(node)
    header = EvtestHeader(name=name, vendor=vendor, product=product)
    (input_dir / f"event{n}.info").write_text(format_header(header), encoding="utf-8")
    if by_id:
        (input_dir / "by-id").mkdir(exist_ok=True)
        (input_dir / "by-id" / by_id).symlink_to(f"../event{n}")
    return node


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    """A scanner with a by-id link, and a mouse that matches no role."""
    d = tmp_path / "input"
    add_node(d, 0, "Honeywell Barcode Scanner", 0x0C2E, 0x0B61, "usb-Honeywell_Scanner-event-kbd")
    add_node(d, 3, "Logitech USB Mouse", 0x046D, 0xC077)
    return d


def write_config(
    tmp_path: Path,
    *,
    base_url: str,
    printer_uri: str,
    password: str = PASSWORD,
    scanner: str = SCANNER_ID,
    keypad: str = "",
    journal: Path | None = None,
    extra: str = "",
) -> Path:
    if journal is None:
        journal = tmp_path / "state" / "journal.sqlite3"
        journal.parent.mkdir(exist_ok=True)
    path = tmp_path / "etc" / "kioskd.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"""
        [api]
        base_url = "{base_url}"
        email = "{EMAIL}"
        password = "{password}"

        [journal]
        path = "{journal}"

        [scanner]
        device = "{scanner}"

        [keypad]
        device = "{keypad}"

        [printer]
        uri = "{printer_uri}"
        """
    path.write_text(textwrap.dedent(text) + textwrap.dedent(extra), encoding="utf-8")
    return path
