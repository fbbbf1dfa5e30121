"""Printer status from DLE EOT replies: a pure parser, no I/O.

Rules:
- A status field is tri-state: a value the printer reported, or ``unknown``. A sensor that did
  not answer, or answered with a byte whose fixed bits are wrong, stays ``unknown``; it is never
  promoted to "paper ok" (python-escpos reports an unreadable paper sensor as "paper OK").
- ``DLE EOT n`` (0x10 0x04 n, n = 1..4) is a real-time query; each reply is one byte whose
  bits 0 and 7 are 0 and bits 1 and 4 are 1 (``byte & 0x93 == 0x12``). That check is what
  tells a status byte from stray data (an ASB message, a late reply, line noise).
- Only a *known* bad state blocks printing (offline, cover open, paper out, an error). An
  unknown state does not block: many printers, and every ``file://`` sink, never answer, and
  a job must not wait forever for a sensor that does not exist. ``printable`` is strict
  (everything known and good) and is what ``kioskd printer-status`` exits on.

Bits (Epson ESC/POS, followed by most clones):
  n=1 printer:  bit 3 = offline.
  n=2 offline cause: bit 2 = cover open, bit 3 = paper fed by button, bit 5 = stopped on paper
      end, bit 6 = error.
  n=3 error cause: bit 3 = auto-cutter error, bit 5 = unrecoverable error, bit 6 =
      auto-recoverable error (e.g. head overheated).
  n=4 roll paper sensor: bits 2+3 = near end, bits 5+6 = paper end (either bit of a pair).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, TypeGuard, TypeVar

DLE_EOT = b"\x10\x04"
QUERIES = (1, 2, 3, 4)

Cover = Literal["open", "closed", "unknown"]
Paper = Literal["ok", "near_end", "out", "unknown"]
Error = Literal["none", "cutter", "unrecoverable", "auto_recoverable", "unknown"]
T = TypeVar("T")
# n=3 and n=4 reply bits, most serious first.
ERROR_BITS: tuple[tuple[int, Error], ...] = (
    (0x20, "unrecoverable"), (0x08, "cutter"), (0x40, "auto_recoverable"),
)  # fmt: skip
PAPER_BITS: tuple[tuple[int, Paper], ...] = ((0x60, "out"), (0x0C, "near_end"))

_FIXED_MASK = 0x93
_FIXED_VALUE = 0x12


def query(n: int) -> bytes:
    """The bytes of ``DLE EOT n``."""
    if n not in QUERIES:
        raise ValueError(f"DLE EOT n must be 1..4, got {n}")
    return DLE_EOT + bytes([n])


def valid_reply(byte: int | None) -> TypeGuard[int]:
    """True when ``byte`` has the fixed bits every DLE EOT reply carries."""
    return byte is not None and 0 <= byte <= 0xFF and byte & _FIXED_MASK == _FIXED_VALUE


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said. ``online`` is True/False, or None when it did not say.

    ``connected`` is False when the transport could not even be opened (printer gone).
    ``answered`` is False when the transport is open but no valid reply came back.
    """

    online: bool | None = None
    cover: Cover = "unknown"
    paper: Paper = "unknown"
    error: Error = "unknown"
    connected: bool = False
    answered: bool = False

    @property
    def blocking(self) -> bool:
        """A known state in which printing must wait (jobs are held, never dropped)."""
        return (
            self.online is False
            or self.cover == "open"
            or self.paper == "out"
            or self.error not in ("none", "unknown")
        )

    @property
    def printable(self) -> bool:
        """Strict: every field known and good (near end still prints)."""
        return (
            self.online is True
            and self.cover == "closed"
            and self.paper in ("ok", "near_end")
            and self.error == "none"
        )

    @property
    def needs_person(self) -> bool:
        """Paper out, cover open, an error, or the printer gone: light red."""
        return self.blocking or not self.connected

    def summary(self) -> str:
        """One short word for logs and the status slip."""
        if not self.connected:
            return "disconnected"
        if not self.answered:
            return "unknown"
        if self.cover == "open":
            return "cover_open"
        if self.paper == "out":
            return "paper_out"
        if self.error not in ("none", "unknown"):
            return f"error_{self.error}"
        if self.online is False:
            return "offline"
        if self.paper == "near_end":
            return "paper_near_end"
        return "ok" if self.printable else "unknown"

    def to_json(self) -> dict[str, object]:
        """JSON shape of ``kioskd printer-status``: ``"unknown"`` where the printer did not say."""
        data = asdict(self)
        data["online"] = "unknown" if self.online is None else self.online
        data["state"] = self.summary()
        data["printable"] = self.printable
        return data


DISCONNECTED = PrinterStatus()


def parse_status(replies: dict[int, int | None], *, connected: bool = True) -> PrinterStatus:
    """Build a status from the raw reply byte of each ``DLE EOT n`` (None = no reply).

    A reply with wrong fixed bits counts as no reply. Each field comes only from the query that
    reports it (plus n=2's "stopped on paper end", which also means paper out): nothing is
    assumed about a sensor that did not answer.
    """
    if not connected:
        return DISCONNECTED
    good = {n: b for n, b in replies.items() if n in QUERIES and valid_reply(b)}

    online: bool | None = None
    if 1 in good:
        online = not good[1] & 0x08

    cover: Cover = "unknown"
    if 2 in good:
        cover = "open" if good[2] & 0x04 else "closed"

    error = _first_set(good.get(3), ERROR_BITS, "none", "unknown")
    paper = _first_set(good.get(4), PAPER_BITS, "ok", "unknown")
    if paper != "out" and 2 in good and good[2] & 0x20:
        paper = "out"  # n=2 says printing stopped on paper end: trust it over a stale roll bit

    return PrinterStatus(
        online=online, cover=cover, paper=paper, error=error, connected=True, answered=bool(good)
    )


def _first_set(byte: int | None, meanings: tuple[tuple[int, T], ...], clear: T, unknown: T) -> T:
    """What the first of `meanings` whose bits are set in `byte` says (most serious first),
    `clear` when none is, `unknown` when the query did not answer (`byte` None)."""
    if byte is None:
        return unknown
    return next((meaning for mask, meaning in meanings if byte & mask), clear)


def reply_byte(**bits: bool) -> int:
    """Compose a valid reply byte (tests and the fake printer): fixed bits plus named flags.

    Names: ``offline`` (n=1), ``cover_open``, ``paper_stop``, ``error`` (n=2), ``cutter``,
    ``unrecoverable``, ``auto_recoverable`` (n=3), ``near_end``, ``paper_out`` (n=4).
    """
    table = {
        "offline": 0x08,
        "cover_open": 0x04,
        "paper_stop": 0x20,
        "error": 0x40,
        "cutter": 0x08,
        "unrecoverable": 0x20,
        "auto_recoverable": 0x40,
        "near_end": 0x0C,
        "paper_out": 0x60,
    }
    byte = _FIXED_VALUE
    for name, on in bits.items():
        if name not in table:
            raise ValueError(f"unknown status bit {name!r}")
        if on:
            byte |= table[name]
    return byte
