"""The receipt model: what a slip says, independent of how it is printed.

Counter flows build a `Receipt` from plain blocks; the printer package renders the same
Receipt to ESC/POS bytes and to a PNG preview. No I/O here. Text is Unicode; the renderer picks
the code page (accents, ñ, ¿).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class Title:
    """Large, bold, centred line (e.g. "TICKET", "PAGO")."""

    text: str


@dataclass(frozen=True)
class Text:
    """A line of text."""

    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False  # double width and height


@dataclass(frozen=True)
class Row:
    """Key on the left, value on the right (e.g. "Total" ... "Bs. 1.234,00")."""

    left: str
    right: str
    bold: bool = False


@dataclass(frozen=True)
class Rule:
    """A line of one character across the paper."""

    char: str = "-"


@dataclass(frozen=True)
class Barcode:
    """Code128. Numeric data of even length is printed in subset C; `text` is printed under it."""

    data: str
    text: str | None = None


@dataclass(frozen=True)
class QR:
    """A QR code."""

    data: str
    size: int = 6


@dataclass(frozen=True)
class Feed:
    """Blank lines."""

    lines: int = 1


# What Spanish slips print beyond ASCII: letters, punctuation, the euro, the degree sign.
SPANISH_CHARS = "ÁÉÍÓÚÜÑáéíóúüñ¿¡€°ºª"


@dataclass(frozen=True)
class CharChart:
    """A chart of `chars` as the printer's code page prints them: the page (name and ESC t
    number), then each character with its byte and a plain-ASCII description ("A'" for Á), so
    a box or a wrong letter on paper shows that the printer's table is not the one chosen
    (print test). The layout fills in the page."""

    chars: str = SPANISH_CHARS


Block = Title | Text | Row | Rule | Barcode | QR | Feed | CharChart


@dataclass(frozen=True)
class Receipt:
    """A slip. `kind` names it (ticket, payout, cancel, pending, results, report, status, test,
    expired, rejected...) for logs and previews; `copy` marks reprints with `copy_label`
    (the slip builder passes the label of the slip's language; None = the renderer's default)."""

    kind: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    copy: bool = False
    cut: bool = True
    copy_label: str | None = None
