"""Write the evtest captures in this directory from the kernel's key codes.

Each capture is typed here key by key (kernel codes from `evdev.ecodes`, with the modifiers the
layout needs written out by hand), together with what it *means*: the texts or keys a person
reading the layout chart expects. `manifest.json` records, per case, the captures, the
`kioskd decode` options and those intended texts; `tests/input/test_captures.py` checks that
`kioskd decode` reproduces each ``.jsonl`` exactly and that the ``.jsonl`` says the intended texts.

    python tests/captures/make_captures.py             # rewrite .evtest files and manifest.json
    python tests/captures/make_captures.py --expected  # also rewrite the .jsonl expected outputs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evdev import ecodes as e

from kioskd.input.evtest import EvtestHeader, KeyScript, format_header

HERE = Path(__file__).resolve().parent
SHIFT, CTRL, ALT, ALTGR = e.KEY_LEFTSHIFT, e.KEY_LEFTCTRL, e.KEY_LEFTALT, e.KEY_RIGHTALT
T0 = 1_729_587_036.0
SCANNER = EvtestHeader("Datalogic ADC, Inc. Handheld Barcode Scanner", 3, 0x05F9, 0x2206, 0x110)
KEYPAD = EvtestHeader("SEM USB Keypad", 3, 0x1A2C, 0x0E24, 0x110)

US_CHARS = {**{c: (getattr(e, f"KEY_{c.upper()}"),) for c in "abcdefghijklmnopqrstuvwxyz"}}
US_CHARS |= {
    c.upper(): (getattr(e, f"KEY_{c.upper()}"), SHIFT) for c in "abcdefghijklmnopqrstuvwxyz"
}
US_CHARS |= {c: (getattr(e, f"KEY_{c}"),) for c in "0123456789"}
US_CHARS |= {"-": (e.KEY_MINUS,), " ": (e.KEY_SPACE,), ",": (e.KEY_COMMA,), ".": (e.KEY_DOT,)}
US_CHARS |= {"!": (e.KEY_1, SHIFT), "@": (e.KEY_2, SHIFT), "\x1d": (e.KEY_RIGHTBRACE, CTRL)}
US_CHARS |= {"\x02": (e.KEY_B, CTRL), "\t": (e.KEY_TAB,), "\n": (e.KEY_ENTER,)}
US_CHARS |= {"\r": (e.KEY_KPENTER,)}


def us(script: KeyScript, text: str) -> KeyScript:
    """Type `text` on a US layout ('\\n' = Enter, '\\r' = keypad Enter, '\\x1d' = Ctrl+])."""
    for char in text:
        code, *mods = US_CHARS[char]
        script.tap(code, *mods)
    return script


def alt_code(script: KeyScript, digits: str) -> KeyScript:
    """Datalogic 'Alt mode': Alt held, the code on keypad digits, Alt released."""
    kp = {d: getattr(e, f"KEY_KP{d}") for d in "0123456789"}
    script.key(ALT, 1)
    for digit in digits:
        script.tap(kp[digit])
    return script.key(ALT, 0)


def case_us() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    us(s, "ABC-123\n")
    us(s, "hello ")  # then Caps Lock: letters upper, digits unchanged
    s.tap(e.KEY_CAPSLOCK)
    us(s, "world 42")
    s.tap(e.KEY_CAPSLOCK)
    us(s, "\n")
    us(s, "0109501101020917\x1d10AB12\r")  # GS1 with the GS separator as Ctrl+]
    return s, ["ABC-123", "hello WORLD 42", "0109501101020917\x1d10AB12"]


def case_latam() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    s.tap(e.KEY_SEMICOLON, SHIFT)  # Ñ
    s.taps([e.KEY_A, e.KEY_N, e.KEY_D])
    s.tap(e.KEY_LEFTBRACE).tap(e.KEY_U)  # dead acute + u = ú
    s.tap(e.KEY_Q, ALTGR)  # @
    s.taps([e.KEY_L, e.KEY_A, e.KEY_T, e.KEY_A, e.KEY_M, e.KEY_DOT, e.KEY_C, e.KEY_O, e.KEY_M])
    s.tap(e.KEY_ENTER)
    s.tap(e.KEY_V, SHIFT).tap(e.KEY_SLASH)  # V-  (latam '-' is on the /? key)
    s.taps([e.KEY_1, e.KEY_2, e.KEY_3, e.KEY_4, e.KEY_5, e.KEY_6, e.KEY_7, e.KEY_8])
    s.tap(e.KEY_7, SHIFT).tap(e.KEY_0, SHIFT)  # / =
    s.tap(e.KEY_ENTER)
    return s, ["Ñandú@latam.com", "V-12345678/="]


def case_fr() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    s.taps([e.KEY_Q, e.KEY_W, e.KEY_E, e.KEY_R, e.KEY_T, e.KEY_Y])  # azerty
    s.tap(e.KEY_6)  # -
    s.tap(e.KEY_1, SHIFT).tap(e.KEY_2, SHIFT).tap(e.KEY_3, SHIFT)  # digits need Shift
    s.tap(e.KEY_ENTER)
    s.tap(e.KEY_LEFTBRACE).tap(e.KEY_E)  # dead circumflex + e = ê
    s.taps([e.KEY_T, e.KEY_R, e.KEY_E])
    s.tap(e.KEY_0, ALTGR)  # @
    s.tap(e.KEY_F).tap(e.KEY_R).tap(e.KEY_2)  # é is unshifted 2
    s.tap(e.KEY_LEFTBRACE).tap(e.KEY_SPACE)  # dead circumflex + space = ^
    s.tap(e.KEY_KPENTER)
    return s, ["azerty-123", "être@fré^"]


def case_alt_keypad() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    for code in ("65", "66", "029", "49", "0209", "0241"):  # A B GS 1 Ñ ñ
        alt_code(s, code)
    s.tap(e.KEY_ENTER)
    s.tap(e.KEY_NUMLOCK)  # Num Lock off: Alt codes still work
    alt_code(s, "90")
    alt_code(s, "8364")  # above 255: a code point (€)
    s.tap(e.KEY_ENTER)
    return s, ["AB\x1d1Ññ", "Z€"]


def _keypad_script() -> KeyScript:
    s = KeyScript(T0, step=0.08)
    keys = [e.KEY_KP1, e.KEY_KP2, e.KEY_KPPLUS, e.KEY_KP3, e.KEY_KPDOT, e.KEY_KP5, e.KEY_KPMINUS]
    keys += [e.KEY_KPASTERISK, e.KEY_KPSLASH, e.KEY_KP0, e.KEY_KPENTER, e.KEY_BACKSPACE, e.KEY_ESC]
    s.taps(keys)
    s.key(e.KEY_KP9, 1).key(e.KEY_KP9, 2).key(e.KEY_KP9, 2).key(e.KEY_KP9, 0)  # held: once
    s.tap(e.KEY_NUMLOCK).tap(e.KEY_KP1).tap(e.KEY_KP8).tap(e.KEY_NUMLOCK).tap(e.KEY_KP8)
    return s


_KEYPAD_NAMES = ["1", "2", "+", "3", ".", "5", "-", "*", "/", "0", "Enter", "Backspace", "Esc"]


def case_keypad() -> tuple[KeyScript, list[str]]:
    """Default: keypad keys are digits whatever Num Lock says."""
    return _keypad_script(), [*_KEYPAD_NAMES, "9", "1", "8", "8"]


def case_keypad_numlock_follow() -> tuple[KeyScript, list[str]]:
    """--numlock on (a full keyboard): Num Lock off turns keypad digits into navigation keys."""
    return _keypad_script(), [*_KEYPAD_NAMES, "9", "End", "Up", "8"]


def case_prefix_suffix() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    us(s, "\t")  # a leading suffix is a leading terminator: ignored
    us(s, "\x02AB12\t")
    us(s, "\x02CD34")  # no suffix: the next prefix ends it
    us(s, "\x02EF56\t")
    return s, ["AB12", "CD34", "EF56"]


def case_gap() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0, step=0.002)
    us(s, "111")
    s.wait(0.5)
    s.step = 0.045  # slow but under the 100 ms gap: still one scan
    us(s, "222")
    s.step = 0.002
    s.wait(0.3)
    us(s, "333")  # ends with the capture (by the gap)
    return s, ["111", "222", "333"]


def case_leading_terminators() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    us(s, "\n\n\rABC\n\n\r\rDEF\n")
    return s, ["ABC", "DEF"]


def case_autorepeat() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    s.key(e.KEY_A, 1)
    for _ in range(5):
        s.key(e.KEY_A, 2)
    s.key(e.KEY_A, 0)
    s.key(SHIFT, 1).key(SHIFT, 2).key(SHIFT, 2).tap(e.KEY_B).key(SHIFT, 0)
    s.key(e.KEY_ENTER, 1).key(e.KEY_ENTER, 2).key(e.KEY_ENTER, 0)
    return s, ["aB"]


def case_syn_dropped() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0)
    s.key(SHIFT, 1)
    us(s, "a")  # 'A' (Shift held) ... then the kernel drops events, incl. Shift's release
    s.dropped()
    us(s, "cd\n")  # Shift's release was lost: after resync it is not held any more
    return s, ["", "cd"]


def case_two_devices() -> tuple[tuple[KeyScript, KeyScript], list[str]]:
    a = us(KeyScript(T0, step=0.003), "AAAA1111\n")
    b = us(KeyScript(T0 + 0.0015, step=0.003), "BBBB2222\n")
    return (a, b), ["AAAA1111", "BBBB2222"]


def case_flood() -> tuple[KeyScript, list[str]]:
    s = KeyScript(T0, step=0.0005)
    us(s, "x" * 600 + "\n")  # a runaway scanner: cut at --max-len, reported once
    us(s, "OK1\n")
    return s, ["", "OK1"]


CASES = {
    "us_scanner": (case_us, "scanner", ["--layout", "us"]),
    "latam_scanner": (case_latam, "scanner", ["--layout", "latam"]),
    "fr_scanner": (case_fr, "scanner", ["--layout", "fr"]),
    "alt_keypad": (case_alt_keypad, "scanner", ["--layout", "latam"]),
    "keypad_session": (case_keypad, "keypad", ["--role", "keypad"]),
    "keypad_numlock_follow": (
        case_keypad_numlock_follow,
        "keypad",
        ["--role", "keypad", "--numlock", "on"],
    ),
    "prefix_suffix": (case_prefix_suffix, "scanner", ["--prefix", "\\x02", "--suffix", "\\t"]),
    "gap_terminated": (case_gap, "scanner", ["--gap-ms", "100"]),
    "leading_terminators": (case_leading_terminators, "scanner", []),
    "autorepeat": (case_autorepeat, "scanner", []),
    "syn_dropped": (case_syn_dropped, "scanner", []),
    "two_devices": (case_two_devices, "scanner", []),
    "flood": (case_flood, "scanner", ["--max-len", "256"]),
}


def main(argv: list[str]) -> int:
    manifest: dict[str, dict[str, object]] = {}
    for name, (build, role, args) in CASES.items():
        scripts, texts = build()
        header = KEYPAD if role == "keypad" else SCANNER
        if isinstance(scripts, tuple):
            files = [f"{name}_{tag}.evtest" for tag in "ab"]
        else:
            scripts, files = (scripts,), [f"{name}.evtest"]
        for file, script in zip(files, scripts, strict=True):
            (HERE / file).write_text(format_header(header) + script.text(), encoding="utf-8")
        manifest[name] = {"captures": files, "args": args, "expected": f"{name}.jsonl"}
        manifest[name]["keys" if role == "keypad" else "texts"] = texts
    (HERE / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    if "--expected" in argv:
        import contextlib
        import io

        from kioskd.cli import main as kioskd

        for case in manifest.values():
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                captures = [str(HERE / f) for f in case["captures"]]  # type: ignore[union-attr]
                kioskd(["decode", *case["args"], *captures])  # type: ignore[misc]
            (HERE / str(case["expected"])).write_text(out.getvalue(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
