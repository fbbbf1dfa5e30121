"""Which input device is the scanner and which the keypad, without configuration (sans-I/O).

Rules (pure: device facts and events in, verdicts out; `kioskd doctor` and ``device = "auto"``
both use these):
- What a device can send decides first: a keypad has the keypad digits and (almost) no letters;
  a scanner presents a full keyboard (it must type any character), as does a real keyboard.
- The name and the USB vendor id break the tie: scanner makers' vendor ids (`SCANNER_VENDORS`)
  and words such as "barcode" or "scanner" in the name; "keypad" / "numpad" for keypads.
- Rhythm settles it when events were watched (doctor): a scanner types a whole code in well under
  100 ms (`SCANNER_BURST` presses within `SCANNER_BURST_S`); a person's keys are tens of
  milliseconds apart at the very least.
- A scanner maker's device that offers no keyboard keys is a scanner in HID-POS mode (USB POS
  usage page): it sends nothing a keyboard reader can see until switched to keyboard emulation.
- Each verdict says why, in words a technician can check against the device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from kioskd.input.devices import DeviceInfo
from kioskd.input.evtest import EV_KEY, InputEvent

RoleName = Literal["scanner", "keypad"]

# USB vendor ids of barcode-scanner makers (keyboards never carry them).
SCANNER_VENDORS: dict[int, str] = {
    0x05E0: "Zebra (Symbol)",
    0x0C2E: "Honeywell (Metrologic)",
    0x0536: "Honeywell (Hand Held Products)",
    0x05F9: "Datalogic",
    0x1EAB: "Newland",
    0x065A: "Opticon",
    0x0D7E: "Code Corporation",
    0x2DD6: "Zebex",
}
_SCANNER_WORDS = ("barcode", "bar code", "scanner", "imager", "qr code", "honeywell", "datalogic")
_KEYPAD_WORDS = ("keypad", "numpad", "number pad", "numeric")

# Kernel key codes (linux/input-event-codes.h).
LETTERS = frozenset([*range(16, 26), *range(30, 39), *range(44, 51)])  # Q..P, A..L, Z..M
KEYPAD_DIGITS = frozenset({71, 72, 73, 75, 76, 77, 79, 80, 81, 82})
_NOT_TYPING = frozenset({29, 42, 54, 56, 58, 69, 97, 100, 125, 126})  # modifiers and locks

SCANNER_BURST = 8  # presses ...
SCANNER_BURST_S = 0.1  # ... within this long: no person types that fast


@dataclass(frozen=True)
class Rhythm:
    """How a device's keys were pressed while watched."""

    presses: int = 0
    fastest_burst_s: float | None = None  # shortest span of SCANNER_BURST consecutive presses

    @classmethod
    def of(cls, events: Iterable[InputEvent]) -> Rhythm:
        times = [
            e.time
            for e in events
            if e.type == EV_KEY and e.value == 1 and e.code not in _NOT_TYPING
        ]
        spans = [
            times[i + SCANNER_BURST - 1] - times[i] for i in range(len(times) - SCANNER_BURST + 1)
        ]
        return cls(len(times), min(spans) if spans else None)

    @property
    def machine_fast(self) -> bool:
        return self.fastest_burst_s is not None and self.fastest_burst_s < SCANNER_BURST_S


@dataclass(frozen=True)
class Verdict:
    """`role`: scanner, keypad, None (no role: a keyboard, a mouse...) or 'hidpos' (a scanner
    that offers no keyboard). `sure`: the evidence agrees beyond the key set alone."""

    role: str | None
    sure: bool
    reasons: tuple[str, ...]


def classify(info: DeviceInfo, rhythm: Rhythm | None = None) -> Verdict:
    """What `info` (and, when watched, its `rhythm`) says the device is."""
    keys = info.keys
    name = info.name.lower()
    maker = SCANNER_VENDORS.get(info.vendor)
    reasons: list[str] = []
    scanner = keypad = 0
    if maker:
        scanner += 2
        reasons.append(f"vendor {info.vendor:04x} is {maker}")
    if any(word in name for word in _SCANNER_WORDS):
        scanner += 2
        reasons.append("its name says scanner")
    if any(word in name for word in _KEYPAD_WORDS):
        keypad += 2
        reasons.append("its name says keypad")
    letters, digits = len(keys & LETTERS), len(keys & KEYPAD_DIGITS)
    if keys:
        if letters == 0 and digits == 0:
            if scanner:
                return Verdict("hidpos", True, (*reasons, "but it offers no keyboard keys"))
            return Verdict(None, True, ("no keyboard keys (a mouse or a media-key device)",))
        if digits == len(KEYPAD_DIGITS) and letters <= 2:
            keypad += 3
            reasons.append("keypad keys and no letters")
        elif letters == len(LETTERS):
            scanner += 1
            reasons.append("a full keyboard")
    if rhythm is not None and rhythm.presses:
        burst = rhythm.fastest_burst_s
        if burst is not None and rhythm.machine_fast:
            scanner += 3
            reasons.append(f"{SCANNER_BURST} keys in {burst * 1000:.0f} ms")
        elif rhythm.presses >= 2:
            keypad += 1
            reasons.append("typed at a person's pace")
    if scanner >= 2 and scanner > keypad:
        return Verdict("scanner", scanner >= 3, tuple(reasons))
    if keypad >= 2 and keypad > scanner:
        return Verdict("keypad", keypad >= 4 or scanner == 0, tuple(reasons))
    return Verdict(None, False, tuple(reasons) or ("nothing tells its role",))


def choose(role: str, infos: Sequence[DeviceInfo]) -> list[DeviceInfo]:
    """The devices ``device = "auto"`` takes for `role`: those classified so; for the scanner,
    failing that, the only full keyboard that is not a keypad (cheap scanners have no name)."""
    verdicts = [(info, classify(info)) for info in infos]
    picked = [info for info, v in verdicts if v.role == role]
    if picked or role != "scanner":
        return picked
    keyboards = [
        info for info, v in verdicts if v.role is None and len(info.keys & LETTERS) == len(LETTERS)
    ]
    return keyboards if len(keyboards) == 1 else []


def config_value(info: DeviceInfo, same_ids: int = 1) -> str:
    """The device string to configure for `info`: its by-id link, else vendor:product (with the
    serial when `same_ids` devices share the ids)."""
    if info.by_id:
        return info.by_id[0]
    if same_ids > 1 and info.serial:
        return f"{info.vendor_product}:{info.serial}"
    return info.vendor_product


HIDPOS_HINT = (
    "the scanner is in HID-POS (USB POS) mode and types nothing a keyboard reader sees: scan "
    "the 'USB HID Keyboard' / 'USB keyboard emulation' programming barcode from its manual "
    "(then the US keyboard layout and an Enter suffix), unplug and plug it in again"
)
