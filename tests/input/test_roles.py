"""Roles without configuration: what a device can send, its name and vendor, its rhythm."""

from __future__ import annotations

import dataclasses
import logging

from evdev import ecodes as e

from kioskd.input.devices import DeviceInfo, EvtestOpener
from kioskd.input.evtest import EvtestHeader, KeyScript, format_header, parse_header
from kioskd.input.reader import InputSource, SourceConfig
from kioskd.input.roles import KEYPAD_DIGITS, LETTERS, Rhythm, choose, classify, config_value

from .fakes import FakeTree, until

FULL = frozenset(range(1, 128))  # a whole keyboard: letters, digits, keypad
PAD = frozenset({*KEYPAD_DIGITS, 55, 74, 78, 83, 96, 98, 14, 69})
HONEYWELL = DeviceInfo("/x/event0", "Honeywell Imaging 1900", 0x0C2E, 0x0B61, keys=FULL)
CHEAP_SCANNER = DeviceInfo("/x/event1", "USB Adapter", 0x1A86, 0xE026, keys=FULL)
KEYPAD = DeviceInfo("/x/event2", "SONiX USB DEVICE", 0x0C45, 0x7603, keys=PAD)
KEYBOARD = DeviceInfo("/x/event3", "Logitech USB Keyboard", 0x046D, 0xC31C, keys=FULL)
MOUSE = DeviceInfo("/x/event4", "Logitech USB Mouse", 0x046D, 0xC077, keys=frozenset({272, 273}))
HIDPOS = DeviceInfo("/x/event5", "Honeywell 1900 POS", 0x0C2E, 0x0B6A, keys=frozenset({272}))


def script_rhythm(step: float, n: int = 12) -> Rhythm:
    return Rhythm.of(KeyScript(step=step).taps([e.KEY_1] * n).events)


def test_capabilities_name_and_vendor() -> None:
    assert classify(HONEYWELL).role == "scanner" and classify(HONEYWELL).sure
    assert classify(KEYPAD).role == "keypad"
    assert classify(MOUSE).role is None
    assert classify(KEYBOARD).role is None  # a keyboard, or a scanner that says nothing
    verdict = classify(HIDPOS)
    assert verdict.role == "hidpos" and "no keyboard keys" in verdict.reasons[-1]


def test_rhythm_tells_a_nameless_scanner_from_a_keyboard() -> None:
    fast, slow = script_rhythm(0.002), script_rhythm(0.09)
    assert fast.machine_fast and not slow.machine_fast
    assert classify(CHEAP_SCANNER, fast).role == "scanner"
    assert classify(CHEAP_SCANNER, slow).role is None
    assert classify(KEYPAD, slow).role == "keypad"


def test_auto_choice_and_config_lines() -> None:
    everything = [HONEYWELL, KEYPAD, KEYBOARD, MOUSE]
    assert choose("scanner", everything) == [HONEYWELL]
    assert choose("keypad", everything) == [KEYPAD]
    # A nameless scanner is taken when it is the only full keyboard; never a guess among two.
    assert choose("scanner", [CHEAP_SCANNER, KEYPAD]) == [CHEAP_SCANNER]
    assert choose("scanner", [CHEAP_SCANNER, KEYBOARD]) == []
    linked = dataclasses.replace(HONEYWELL, by_id=("/dev/input/by-id/usb-Honeywell-event-kbd",))
    assert config_value(linked) == "/dev/input/by-id/usb-Honeywell-event-kbd"
    assert config_value(KEYPAD) == "0c45:7603"


def test_evtest_headers_carry_key_capabilities() -> None:
    header = EvtestHeader("SONiX USB DEVICE", 3, 0x0C45, 0x7603, keys=PAD)
    parsed = parse_header(format_header(header).splitlines())
    assert parsed.keys == PAD and not parsed.keys & LETTERS


async def test_auto_devices_are_found_by_role_and_the_choice_is_logged(tmp_path, caplog) -> None:
    tree = FakeTree(tmp_path / "input")
    try:
        tree.plug(0, EvtestHeader("Logitech USB Mouse", 3, 0x046D, 0xC077, keys=MOUSE.keys))
        tree.plug(1, EvtestHeader("SONiX USB DEVICE", 3, 0x0C45, 0x7603, keys=PAD))
        tree.plug(2, EvtestHeader("Honeywell Imaging 1900", 3, 0x0C2E, 0x0B61, keys=FULL))
        caplog.set_level(logging.INFO, logger="kioskd.input")
        scanner = InputSource(
            SourceConfig(device="auto", role="scanner", gap_s=None, label="scanner"),
            base_dir=tree.base,
            opener=EvtestOpener(),
        )
        keypad = InputSource(
            SourceConfig(device="auto", role="keypad", label="keypad"),
            base_dir=tree.base,
            opener=EvtestOpener(),
        )
        async with scanner, keypad:
            await until(lambda: scanner.states.get(str(tree.base / "event2")) is not None)
            await until(lambda: keypad.states.get(str(tree.base / "event1")) is not None)
            assert set(scanner.states) == {"auto", str(tree.base / "event2")}
            assert set(keypad.states) == {"auto", str(tree.base / "event1")}
        text = caplog.text
        assert "auto chose" in text and "Honeywell (Metrologic)" in text
        assert "keypad keys and no letters" in text
    finally:
        tree.close()
