"""Receipt layout: the model turned into paper lines, shared by the ESC/POS and PNG renderers.

Rules:
- Pure: a ``Receipt`` and a paper width in, a list of lines out. Both renderers draw this same
  list, so the preview shows what the paper shows (same wrapping, same substituted characters).
- Paper widths: 58 mm = 32 columns, 80 mm = 48 columns (Font A, 12x24 dots). Double-size text
  and titles use half the columns.
- Geometry, in printer dots (8 dots/mm, 203 dpi heads): ``PRINT_DOTS`` wide, ``LINE_DOTS`` per
  text line (``DOUBLE_LINE_DOTS`` for double size), barcodes ``BARCODE_DOTS`` high and QR codes
  followed by ``CODE_GAP_DOTS``. Both renderers use these numbers: the ESC/POS renderer sets
  them in every job, the preview draws them (see each renderer for the printer defaults).
- A barcode is encoded here (``code128.encode``: no real-time command in its bytes) and given
  the widest module that fits the print width with a quiet zone of 10 modules each side (the
  paper's unprinted margin counts). A symbol that fits no module width (at least
  ``MIN_MODULE``) is printed as its text only, centred and bold: a cut-off barcode scans as
  nothing or as something else.
- Text is reduced to what the code page can print *here*, not in the printer: a character the
  code page lacks becomes its unaccented base ("ő" -> "o"), else "?"; control characters
  become spaces (a stray 0x10 0x04 in text would be taken by the printer as a status query).
- A copy is marked at the top and the bottom, so a torn-off half still says so.
"""

from __future__ import annotations

import textwrap
import unicodedata
from dataclasses import dataclass

from kioskd.printer.code128 import Code128, encode
from kioskd.receipt import QR, Align, Barcode, Feed, Receipt, Row, Rule, Text, Title

COLUMNS = {58: 32, 80: 48}
PRINT_DOTS = {58: 384, 80: 576}  # printable width: 48 mm and 72 mm heads at 8 dots/mm
# Unprinted paper on each side of the print area (57.5 mm and 79.5 mm rolls): part of the
# barcode quiet zone, and drawn by the preview.
SIDE_MARGIN_DOTS = {58: 38, 80: 30}
LINE_DOTS = 30  # Font A (24 dots) + 6: Epson's default line spacing on 203 dpi printers
DOUBLE_LINE_DOTS = 60
BARCODE_DOTS = 80
CODE_GAP_DOTS = 8  # fed after a barcode (before its text) and after a QR code
BARCODE_MODULE = {58: 2, 80: 3}  # preferred module width in dots (0.25 / 0.375 mm)
MIN_MODULE = 2  # Epson's GS w takes 2..6: a 1-dot module is not printable everywhere
QUIET_MODULES = 10
CUT_FEED_LINES = 6  # fed before the cut (python-escpos's cut(): ESC d 6, GS V)
END_FEED_LINES = 3  # fed at the end of a slip without a cut, to clear the tear bar
DEFAULT_CODEPAGE = "cp858"  # codec of the default profile's page (profiles picks it per printer)
COPY_LABEL = "*** COPIA ***"


@dataclass(frozen=True)
class Line:
    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False


@dataclass(frozen=True)
class BarcodeLine:
    data: str
    text: str | None
    symbol: Code128
    module: int  # dots per module

    @property
    def width_dots(self) -> int:
        return self.symbol.width_modules * self.module


@dataclass(frozen=True)
class QRLine:
    data: str
    size: int


@dataclass(frozen=True)
class FeedLine:
    lines: int


Item = Line | BarcodeLine | QRLine | FeedLine


def barcode_fit(symbol: Code128, paper_mm: int) -> int | None:
    """The widest module (dots) at which ``symbol`` fits ``paper_mm`` paper, or None."""
    dots, margin = PRINT_DOTS[paper_mm], SIDE_MARGIN_DOTS[paper_mm]
    for module in range(BARCODE_MODULE[paper_mm], MIN_MODULE - 1, -1):
        width = symbol.width_modules * module
        if width <= dots and (dots - width) // 2 + margin >= QUIET_MODULES * module:
            return module
    return None


def columns_for(paper_mm: int) -> int:
    """Columns of Font A on this paper; only 58 and 80 mm rolls are supported."""
    try:
        return COLUMNS[paper_mm]
    except KeyError:
        raise ValueError(f"paper_mm must be 58 or 80, got {paper_mm}") from None


# Typographic punctuation no receipt code page has, and its plain stand-in.
_ASCII_STANDINS = {
    "\u2014": "-",  # em dash
    "\u2013": "-",  # en dash
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u00b7": "-",  # middle dot, where the code page lacks it
}


def printable_text(text: str, codepage: str = DEFAULT_CODEPAGE) -> str:
    """``text`` restricted to what ``codepage`` can encode (see module rules)."""
    out = []
    for ch in text:
        if ch in _ASCII_STANDINS:
            try:
                ch.encode(codepage)
            except UnicodeEncodeError:
                out.append(_ASCII_STANDINS[ch])
                continue
        if ch in "\t\n\r" or unicodedata.category(ch) in ("Cc", "Cf"):
            out.append(" ")
            continue
        try:
            ch.encode(codepage)
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        try:
            base.encode(codepage)
            out.append(base or "?")
        except UnicodeEncodeError:
            out.append("EUR" if ch == "€" else "?")
    return "".join(out)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, replace_whitespace=True) or [""]


def _row(row: Row, cols: int) -> list[Line]:
    gap = cols - len(row.left) - len(row.right)
    if gap >= 1:
        return [Line(row.left + " " * gap + row.right, bold=row.bold)]
    lines = [Line(t, bold=row.bold) for t in _wrap(row.left, cols)]
    lines += [Line(t, align="right", bold=row.bold) for t in _wrap(row.right, cols)]
    return lines


def layout(
    receipt: Receipt,
    paper_mm: int,
    *,
    codepage: str = DEFAULT_CODEPAGE,
    copy_label: str = COPY_LABEL,
) -> list[Item]:
    """The receipt as paper lines for ``paper_mm`` paper (see module rules).

    The receipt's own ``copy_label`` (set by the slip builder for its language) wins over
    the ``copy_label`` argument."""
    cols = columns_for(paper_mm)
    copy_label = receipt.copy_label or copy_label

    def clean(text: str) -> str:
        return printable_text(text, codepage)

    items: list[Item] = []
    if receipt.copy:
        items.append(Line(clean(copy_label), align="center", bold=True))
    for block in receipt.blocks:
        if isinstance(block, Title):
            items += [
                Line(t, align="center", bold=True, double=True)
                for t in _wrap(clean(block.text), cols // 2)
            ]
        elif isinstance(block, Text):
            width = cols // 2 if block.double else cols
            items += [
                Line(t, align=block.align, bold=block.bold, double=block.double)
                for t in _wrap(clean(block.text), width)
            ]
        elif isinstance(block, Row):
            items += _row(Row(clean(block.left), clean(block.right), block.bold), cols)
        elif isinstance(block, Rule):
            char = clean(block.char)[:1] or "-"
            items.append(Line(char * cols))
        elif isinstance(block, Barcode):
            text = None if block.text is None else clean(block.text)
            symbol = encode(block.data)
            module = barcode_fit(symbol, paper_mm)
            if module is None:
                items += [
                    Line(t, align="center", bold=True) for t in _wrap(text or block.data, cols)
                ]
            else:
                items.append(BarcodeLine(block.data, text, symbol, module))
        elif isinstance(block, QR):
            items.append(QRLine(block.data, max(1, min(16, block.size))))
        elif isinstance(block, Feed):
            items.append(FeedLine(max(0, block.lines)))
        else:
            raise TypeError(f"cannot lay out block {block!r} of receipt kind {receipt.kind!r}")
    if receipt.copy:
        items.append(Line(clean(copy_label), align="center", bold=True))
    return items
