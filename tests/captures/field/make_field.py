"""Write the field corpus: evtest captures of devices as publicly reported, with notes.

Each case reproduces one behaviour reported in public bug trackers and forums for cheap USB
keypads and barcode scanners (the report is named in the case's note). The events are written
frame by frame, the way the kernel groups them between ``SYN_REPORT`` lines, including the
``EV_LED`` echoes the host's lock LEDs produce. `manifest.json` records, per case, the role, the
device the header names, the note and the expected decode *with the shipped defaults*
(config/kioskd.toml): `tests/input/test_field_captures.py` checks every case against it.

    python tests/captures/field/make_field.py     # rewrite the .evtest files and manifest.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evdev import ecodes as e

from kioskd.input.evtest import (
    EV_KEY,
    EV_LED,
    EV_MSC,
    EV_SYN,
    LED_NUML,
    MSC_SCAN,
    SYN_REPORT,
    EvtestHeader,
    InputEvent,
    format_events,
    format_header,
)
from kioskd.proving.harness import KEYPAD_CODES

HERE = Path(__file__).resolve().parent
T0 = 1_732_000_000.0
SHIFT, CTRL, ALT = e.KEY_LEFTSHIFT, e.KEY_LEFTCTRL, e.KEY_LEFTALT
# HID usage ids of the keys used here (MSC_SCAN values are decoration, but keep them true).
_HID = {
    **{getattr(e, f"KEY_KP{d}"): 0x70059 + (int(d) - 1) % 10 for d in "123456789"},
    e.KEY_KP0: 0x70062,
    e.KEY_KPDOT: 0x70063,
    e.KEY_KPPLUS: 0x70057,
    e.KEY_KPMINUS: 0x70056,
    e.KEY_KPASTERISK: 0x70055,
    e.KEY_KPSLASH: 0x70054,
    e.KEY_KPENTER: 0x70058,
    e.KEY_NUMLOCK: 0x70053,
    e.KEY_ENTER: 0x70028,
    SHIFT: 0x700E1,
    CTRL: 0x700E0,
    ALT: 0x700E2,
}
KP = KEYPAD_CODES  # the keypad keys of the counter grammar
# US layout: character -> (key, modifiers).
US: dict[str, tuple[int, tuple[int, ...]]] = {
    **{d: (getattr(e, f"KEY_{d}"), ()) for d in "0123456789"},
    **{c: (getattr(e, f"KEY_{c.upper()}"), ()) for c in "abcdefghijklmnopqrstuvwxyz"},
    **{c.upper(): (getattr(e, f"KEY_{c.upper()}"), (SHIFT,)) for c in "abcdefghijklmnopqrstuvwxyz"},
    ".": (e.KEY_DOT, ()),
    ";": (e.KEY_SEMICOLON, ()),
    ":": (e.KEY_SEMICOLON, (SHIFT,)),
    "[": (e.KEY_LEFTBRACE, ()),
    ")": (e.KEY_0, (SHIFT,)),
    ">": (e.KEY_DOT, (SHIFT,)),
    "+": (e.KEY_EQUAL, (SHIFT,)),
    "-": (e.KEY_MINUS, ()),
    "*": (e.KEY_8, (SHIFT,)),
    "/": (e.KEY_SLASH, ()),
    "\n": (e.KEY_ENTER, ()),
    "\x1e": (e.KEY_6, (CTRL, SHIFT)),  # RS = Ctrl+^ = Ctrl+Shift+6
    "\x1d": (e.KEY_RIGHTBRACE, (CTRL, SHIFT)),  # GS = Ctrl+} = Ctrl+Shift+]
    "\x04": (e.KEY_D, (CTRL,)),  # EOT = Ctrl+D
}


class Frames:
    """Events grouped in kernel frames: each `frame` is some events then one SYN_REPORT."""

    def __init__(self, t0: float = T0) -> None:
        self._us = round(t0 * 1_000_000)
        self.events: list[InputEvent] = []
        self.numlock_led = False  # the host's Num Lock LED (what it echoes after each toggle)

    def wait(self, seconds: float) -> Frames:
        self._us += round(seconds * 1_000_000)
        return self

    def frame(self, *changes: tuple[int, int], after: float = 0.004) -> Frames:
        """Key changes (code, value) reported together, `after` seconds after the last frame."""
        self.wait(after)
        t = self._us / 1_000_000
        toggled = False
        for code, value in changes:
            if code in _HID:
                self.events.append(InputEvent(t, EV_MSC, MSC_SCAN, _HID[code]))
            self.events.append(InputEvent(t, EV_KEY, code, value))
            toggled |= code == e.KEY_NUMLOCK and value == 1
        self.events.append(InputEvent(t, EV_SYN, SYN_REPORT, 0))
        if toggled:  # the host toggles its Num Lock and lights the LED: the echo comes back
            self.numlock_led = not self.numlock_led
            t_led = t + 0.0003
            self.events.append(InputEvent(t_led, EV_LED, LED_NUML, int(self.numlock_led)))
            self.events.append(InputEvent(t_led, EV_SYN, SYN_REPORT, 0))
        return self

    def tap(self, code: int, *mods: int, hold: float = 0.004, after: float = 0.004) -> Frames:
        for mod in mods:
            self.frame((mod, 1), after=after)
        self.frame((code, 1), after=after).frame((code, 0), after=hold)
        for mod in reversed(mods):
            self.frame((mod, 0), after=after)
        return self

    def us(self, text: str, after: float = 0.003) -> Frames:
        for char in text:
            code, mods = US[char]
            self.tap(code, *mods, hold=after, after=after)
        return self

    def text(self) -> str:
        return format_events(self.events)


NL = e.KEY_NUMLOCK


def case_numlock_wrap_keypad() -> tuple[Frames, list[str]]:
    """0c45:7603 and alike: Num Lock down, key down + Num Lock up, key up + Num Lock down,
    Num Lock up, around every key (the host's Num Lock LED blinks with each key)."""
    f = Frames()
    for char in "+1.341.20\n\n":
        key = KP[char]
        f.frame((NL, 1), after=0.15)
        f.frame((key, 1), (NL, 0), after=0.008)
        f.frame((key, 0), (NL, 1), after=0.08)
        f.frame((NL, 0), after=0.008)
    return f, ["+", "1", ".", "3", "4", "1", ".", "2", "0", "Enter", "Enter"]


def case_numlock_tap_keypad() -> tuple[Frames, list[str]]:
    """A keypad that sends Num Lock, the key, Num Lock (three codes per press, as reported for
    a 13ba:0001 keypad): each press taps Num Lock before and after the key."""
    f = Frames()
    for char in "+7.123.5\n\n":
        f.tap(NL, after=0.15).tap(KP[char], hold=0.07, after=0.002).tap(NL, after=0.002)
    return f, ["+", "7", ".", "1", "2", "3", ".", "5", "Enter", "Enter"]


def case_double_zero_keypad() -> tuple[Frames, list[str]]:
    """Keypads with a "00" (and "000") key send the 0 key that many times, 1-2 ms apart."""
    f = Frames()
    for char in "+1.341.2":
        f.tap(KP[char], hold=0.09, after=0.18)
    f.tap(e.KEY_KP0, hold=0.001, after=0.2).tap(e.KEY_KP0, hold=0.001, after=0.001)  # "00"
    f.tap(KP["\n"], hold=0.09, after=0.2).tap(KP["\n"], hold=0.09, after=0.3)
    return f, ["+", "1", ".", "3", "4", "1", ".", "2", "0", "0", "Enter", "Enter"]


def case_mainrow_keypad() -> tuple[Frames, list[str]]:
    """Keypads that send main-row codes, with Shift for the operators (+ is Shift and =, * is
    Shift and 8): several codes for one key, no keypad codes at all."""
    f = Frames()
    for char in "+1.341.20\n\n":
        code, mods = US[char]
        f.tap(code, *mods, hold=0.08, after=0.15)
    return f, ["+", "1", ".", "3", "4", "1", ".", "2", "0", "Enter", "Enter"]


def alt_code(f: Frames, char: str) -> Frames:
    f.frame((ALT, 1), after=0.002)
    for digit in str(ord(char)):
        f.tap(KP[digit], hold=0.001, after=0.001)
    return f.frame((ALT, 0), after=0.001)


def case_alt_scanner_numlock_first() -> tuple[Frames, list[str]]:
    """Scanners in "Alt + keypad" mode (keyboard-layout independent) press Num Lock before the
    code so the host's keypad types digits, then Alt + the character's decimal code for each
    character, and Num Lock again after it to restore the host's state."""
    f = Frames()
    codes = ["321604011234567820241130", "K1:2.777.5;6.0.6"]
    for code in codes:
        f.tap(NL, after=0.4)
        for char in code:
            alt_code(f, char)
        f.tap(NL).tap(e.KEY_ENTER, hold=0.002, after=0.002)
    return f, codes


def case_keypad_mode_scanner_numlock_wrap() -> tuple[Frames, list[str]]:
    """A scanner emulating a numeric keypad (digits on keypad keys) that wraps every digit in
    Num Lock presses like the keypads above, and ends with keypad Enter."""
    f = Frames()
    code = "3216040112345678"
    f.wait(0.4)
    for char in code + "\n":
        key = KP[char]
        f.frame((NL, 1), after=0.001).frame((key, 1), (NL, 0), after=0.001)
        f.frame((key, 0), (NL, 1), after=0.001).frame((NL, 0), after=0.001)
    return f, [code]


def case_qr_ctrl_shift() -> tuple[Frames, list[str]]:
    """QR codes carrying ISO/IEC 15434 envelopes: the scanner types the record separator as
    Ctrl+Shift+6 (Ctrl+^), the group separator as Ctrl+Shift+] (Ctrl+}) and the end of
    transmission as Ctrl+D, inside otherwise printable data (play slips, GS1 fields)."""
    f = Frames()
    data = "[)>\x1e06\x1dP12345\x1dK1:2.777.5;6.0.6\x1e\x04"
    f.wait(0.4).us(data + "\n")
    f.wait(0.5).us("K1:2.777.5;6.0.6\n")
    return f, [data, "K1:2.777.5;6.0.6"]


def case_kp_enter_scanner() -> tuple[Frames, list[str]]:
    """Scanners configured with a keypad Enter suffix (a common factory option): main-row digits,
    then KEY_KPENTER."""
    f = Frames()
    codes = ["321604011234567820241130", "3216040212345678"]
    for code in codes:
        f.wait(0.4).us(code)
        f.tap(e.KEY_KPENTER, hold=0.003, after=0.003)
    return f, codes


KEYPAD = "keypad"
SCANNER = "scanner"
CASES = {
    "numlock_wrap_keypad": (
        case_numlock_wrap_keypad,
        KEYPAD,
        EvtestHeader("SONiX USB DEVICE", 3, 0x0C45, 0x7603, 0x111),
        "Num Lock down / key down + Num Lock up / key up + Num Lock down / Num Lock up around "
        "every key, with the LED echoes: the 0c45:7603 keypad as reported in public keypad "
        "threads, and the same frames in a ROTTAY keypad trace (input-remapper issue 486).",
    ),
    "numlock_tap_keypad": (
        case_numlock_tap_keypad,
        KEYPAD,
        EvtestHeader("USB Keypad", 3, 0x13BA, 0x0001, 0x110),
        "Num Lock tapped before and after every key (three codes per press: 69, the key, 69), "
        "as reported for a 13ba:0001 keypad (actkbd issue 6).",
    ),
    "double_zero_keypad": (
        case_double_zero_keypad,
        KEYPAD,
        EvtestHeader("HID 04d9:1203", 3, 0x04D9, 0x1203, 0x111),
        "A keypad's 00 key sends KEY_KP0 twice, 1 ms apart; Enter pressed twice to sell.",
    ),
    "mainrow_keypad": (
        case_mainrow_keypad,
        KEYPAD,
        EvtestHeader("Bluetooth Number Pad", 5, 0x05AC, 0x0255, 0x50),
        "Main-row codes with Shift for + and * (two codes for one key), no keypad codes.",
    ),
    "alt_scanner_numlock_first": (
        case_alt_scanner_numlock_first,
        SCANNER,
        EvtestHeader("Honeywell Imaging & Mobility 1900", 3, 0x0C2E, 0x0B61, 0x100),
        "Alt + keypad code mode: Num Lock pressed before each code and after it, then Enter.",
    ),
    "keypad_mode_scanner_numlock_wrap": (
        case_keypad_mode_scanner_numlock_wrap,
        SCANNER,
        EvtestHeader("USB Barcode Scanner", 3, 0x0C45, 0x7603, 0x111),
        "A scanner in keypad emulation wrapping every digit in Num Lock presses, keypad Enter "
        "at the end (decoded to nothing while Num Lock was followed).",
    ),
    "qr_ctrl_shift": (
        case_qr_ctrl_shift,
        SCANNER,
        EvtestHeader("Zebra Technologies Symbol Bar Code Scanner", 3, 0x05E0, 0x1200, 0x100),
        "An ISO/IEC 15434 envelope in a QR code: RS, GS and EOT typed as Ctrl+Shift+6, "
        "Ctrl+Shift+] and Ctrl+D among shifted letters; then a plain play slip.",
    ),
    "kp_enter_scanner": (
        case_kp_enter_scanner,
        SCANNER,
        EvtestHeader("Datalogic ADC, Inc. Handheld Barcode Scanner", 3, 0x05F9, 0x2206, 0x110),
        "Main-row digits ended by keypad Enter (KEY_KPENTER) instead of Enter.",
    ),
}


def main(argv: list[str]) -> int:
    manifest: dict[str, dict[str, object]] = {}
    for name, (build, role, header, note) in CASES.items():
        frames, expected = build()
        (HERE / f"{name}.evtest").write_text(
            format_header(header) + frames.text(), encoding="utf-8"
        )
        manifest[name] = {
            "capture": f"{name}.evtest",
            "role": role,
            "device": f"{header.vendor:04x}:{header.product:04x} {header.name}",
            "note": note,
            "keys" if role == KEYPAD else "texts": expected,
        }
    (HERE / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
