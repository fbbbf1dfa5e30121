"""`kioskd doctor` tells scanners from keypads without configuration (keys, name, vendor id,
rhythm), prints the config lines, and names a scanner left in HID-POS mode."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from evdev import ecodes as e

from kioskd.doctor.checks import WARN, run_checks
from kioskd.input.evtest import EvtestHeader, KeyScript
from kioskd.input.roles import KEYPAD_DIGITS
from tests.input.fakes import FakeTree

from .conftest import write_config

FULL = frozenset(range(1, 128))
PAD = frozenset({*KEYPAD_DIGITS, 55, 74, 78, 83, 96, 98, 14, 69})


def fake_sys(root: Path, vendor: int, product: int, name: str) -> Path:
    dev = root / "bus" / "usb" / "devices" / "1-1.3"
    dev.mkdir(parents=True)
    (dev / "idVendor").write_text(f"{vendor:04x}\n")
    (dev / "idProduct").write_text(f"{product:04x}\n")
    (dev / "product").write_text(name + "\n")
    return root


def test_doctor_finds_roles_by_rhythm_and_names_hidpos(tmp_path, sim_server, printer):
    tree = FakeTree(tmp_path / "input")
    try:
        # A scanner that says nothing about itself (generic USB ids, a full keyboard) ...
        tree.plug(0, EvtestHeader("USB Adapter", 3, 0x1A86, 0xE026, keys=FULL))
        # ... next to a real keyboard that says as little: only the rhythm tells them apart.
        tree.plug(1, EvtestHeader("USB Keyboard", 3, 0x1C4F, 0x0002, keys=FULL))
        tree.plug(2, EvtestHeader("SONiX USB DEVICE", 3, 0x0C45, 0x7603, keys=PAD), "usb-kp")
        tree.plug(3, EvtestHeader("Honeywell 1900 POS", 3, 0x0C2E, 0x0B6A, keys=frozenset({1})))
        sys_dir = fake_sys(tmp_path / "sys", 0x05E0, 0x1900, "Symbol Bar Code Scanner")
        cfg = write_config(
            tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, scanner="auto"
        )

        def scan_and_type() -> None:
            threading.Event().wait(0.3)
            tree.type(0, KeyScript(step=0.002).taps([e.KEY_3] * 16).tap(e.KEY_ENTER).text())
            tree.type(1, KeyScript(step=0.12).taps([e.KEY_H, e.KEY_I, e.KEY_X]).text())

        typist = threading.Thread(target=scan_and_type)
        typist.start()
        findings = asyncio.run(
            run_checks(cfg, input_dir=tree.base, watch_s=1.5, sys_dir=sys_dir, timeout_s=20)
        )
        typist.join()
    finally:
        tree.close()
    roles = {f.data["role"]: f for f in findings if f.check == "roles"}
    assert set(roles) == {"scanner", "keypad"}
    assert roles["scanner"].data["path"].endswith("event0")
    assert "8 keys in" in roles["scanner"].detail
    assert roles["scanner"].data["config"] == 'scanner.device = "1a86:e026"'
    assert roles["keypad"].data["config"].startswith('keypad.device = "')
    assert roles["keypad"].data["config"].endswith('by-id/usb-kp"')
    hidpos = [f for f in findings if f.check == "scanner" and "HID-POS" in f.detail]
    assert len(hidpos) == 2 and all(f.status == WARN for f in hidpos)
    assert any("0c2e:0b6a" in f.detail for f in hidpos)  # a node with no keyboard keys
    assert any("05e0:1900" in f.detail for f in hidpos)  # a USB scanner with no node at all
    assert all("USB HID Keyboard" in f.hint for f in hidpos)
