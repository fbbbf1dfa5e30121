"""Receipt layout: the model turned into paper lines, shared by the ESC/POS and PNG renderers.

Rules:
- Pure: a ``Receipt`` and a ``Paper`` in, a list of lines out. Both renderers draw this same
  list, so the preview shows what the paper shows (same wrapping, same substituted characters).
- Widths come from the printer, not only from the roll (``paper_for``): the printable width in
  dots is the profile's (python-escpos ``media.width.pixels``) or the ``printer.dots``
  override, never more than the roll's print area (384 dots on 58 mm, 576 on 80 mm at 203
  dpi); the columns of Font A are as many cells as fit in those dots (12 dots a cell, or
  the profile's own: width / its Font A column count, when that is 12 or 13), or the
  ``printer.columns`` override. So a line is never wider than the printable width: a
  TM-T88V (512 dots) gets 42 columns, not 48. Double-size text and titles use half the
  columns (cells twice as wide).
- Geometry, in printer dots: ``Paper.dots`` wide, ``LINE_DOTS`` per text line
  (``DOUBLE_LINE_DOTS`` for double size), barcodes ``BARCODE_DOTS`` high and QR codes followed
  by ``CODE_GAP_DOTS``. Both renderers use these numbers: the ESC/POS renderer sets them in
  every job, the preview draws them (see each renderer for the printer defaults).
- Centring and right alignment are the printer's (``ESC a``), which places a line in dots:
  ``x = (dots - width) // 2`` or ``dots - width`` (``Paper.x_of``); the preview uses the same
  formula, never whole character cells.
- A barcode is encoded here (``code128.encode``: no real-time command in its bytes) and given
  the widest module that fits the print width with a quiet zone of 10 modules each side (the
  paper's unprinted margin counts). A symbol that fits no module width (at least
  ``MIN_MODULE``) is printed as a QR code of the same data (``FALLBACK_QR_SIZE`` dots a
  module) with its text under it: a cut-off barcode scans as nothing or as something else,
  and digits alone scan as nothing. Code128 stays the rule (every scanner reads it); the QR
  code is for the rare symbol that cannot fit (see bench/RESULTS.md for how rare).
- Text is reduced to what the code page can print *here*, not in the printer: a character the
  code page lacks becomes its unaccented base ("ő" -> "o"), else "?"; control characters
  become spaces (a stray 0x10 0x04 in text would be taken by the printer as a status query).
- A copy is marked at the top and the bottom, so a torn-off half still says so.
- A ``CharChart`` (print test) becomes the page's label (``page_label``: "CP858 (ESC t
  19)") and one entry per character: its byte in the page in hex, the character, and a
  plain-ASCII description (``CHART_NAMES``); a character the page lacks shows ``--`` and a
  blank. ASCII descriptions print right on every page, so the technician compares the two.
"""

from __future__ import annotations

import functools
import textwrap
import unicodedata
from dataclasses import dataclass

from kioskd.printer.code128 import Code128, encode
from kioskd.receipt import (
    QR,
    Align,
    Barcode,
    CharChart,
    Feed,
    Receipt,
    Row,
    Rule,
    Text,
    Title,
)

COLUMNS = {58: 32, 80: 48}  # Font A columns of the full print area at 203 dpi
PRINT_DOTS = {58: 384, 80: 576}  # printable width: 48 mm and 72 mm heads at 8 dots/mm
ROLL_MM = {58: 57.5, 80: 79.5}  # the paper itself (nominal 58 / 80 mm rolls)
# Unprinted paper on each side of the print area (57.5 mm and 79.5 mm rolls): part of the
# barcode quiet zone, and drawn by the preview.
SIDE_MARGIN_DOTS = {58: 38, 80: 30}
CELL_DOTS = 12  # Font A is 12x24 dots (Epson and the common clones, at 180 and 203 dpi)
FALLBACK_QR_SIZE = 5  # dots per QR module when a Code128 cannot fit: 21 modules = 105 dots
LINE_DOTS = 30  # Font A (24 dots) + 6: Epson's default line spacing on 203 dpi printers
DOUBLE_LINE_DOTS = 60
BARCODE_DOTS = 80
CODE_GAP_DOTS = 8  # fed after a barcode (before its text) and after a QR code
MAX_MODULE = 3  # widest module tried, in dots (0.375 mm): 2 on 58 mm in practice
MIN_MODULE = 2  # Epson's GS w takes 2..6: a 1-dot module is not printable everywhere
QUIET_MODULES = 10
CUT_FEED_LINES = 6  # fed before the cut (python-escpos's cut(): ESC d 6, GS V)
END_FEED_LINES = 3  # fed at the end of a slip without a cut, to clear the tear bar
DEFAULT_CODEPAGE = "cp858"  # codec of the default profile's page (profiles picks it per printer)
COPY_LABEL = "*** COPIA ***"


@dataclass(frozen=True)
class Paper:
    """Where slips are printed, in printer dots: the print area and the roll around it."""

    mm: int  # the roll: 58 or 80
    dots: int  # printable width (print area after ESC @)
    columns: int  # Font A columns; double size has half
    margin: int  # unprinted paper on each side of the print area
    cell: int = CELL_DOTS  # Font A character width in dots (13 on some models)

    def __post_init__(self) -> None:
        if self.mm not in COLUMNS:
            raise ValueError(f"paper_mm must be 58 or 80, got {self.mm}")
        if self.columns < 1 or self.columns * self.cell > self.dots:
            raise ValueError(
                f"{self.columns} columns of {self.cell} dots do not fit {self.dots} dots"
            )

    def columns_of(self, double: bool) -> int:
        return self.columns // 2 if double else self.columns

    def x_of(self, chars: int, align: Align, double: bool = False) -> int:
        """Left edge in the print area of a line of ``chars`` characters, as ``ESC a`` puts it."""
        width = chars * self.cell * (2 if double else 1)
        if align == "center":
            return max(0, (self.dots - width) // 2)
        if align == "right":
            return max(0, self.dots - width)
        return 0


def paper_for(
    paper_mm: int,
    *,
    profile_dots: int | None = None,
    profile_columns: int | None = None,
    dpi: int | None = None,
    dots: int | None = None,
    columns: int | None = None,
) -> Paper:
    """The ``Paper`` of a roll on a printer (see module rules): ``profile_*`` from the printer
    profile, ``dots`` / ``columns`` the config overrides (they win)."""
    columns_for(paper_mm)
    cell = CELL_DOTS
    # A profile stating its width and Font A count tells the cell: 12 dots, or 13 (TH230,
    # CT-S651). Any other quotient is no Font A (an error in the database): 12 is kept.
    if profile_dots and profile_columns and profile_dots // profile_columns in (12, 13):
        cell = profile_dots // profile_columns
    if dots is None:
        dots = PRINT_DOTS[paper_mm]
        if profile_dots is not None and profile_dots > 0:
            dots = min(dots, profile_dots)
    if columns is None:
        columns = dots // cell
    per_mm = 8.0 if dpi in (None, 203) else dpi / 25.4
    roll = round(ROLL_MM[paper_mm] * per_mm)
    return Paper(paper_mm, dots, columns, max(0, (roll - dots) // 2), cell)


def as_paper(paper: int | Paper) -> Paper:
    """A ``Paper`` as given, or the default one of a roll width (58 or 80)."""
    return paper if isinstance(paper, Paper) else paper_for(paper)


@dataclass(frozen=True)
class Line:
    """A line of text on paper."""

    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False


@dataclass(frozen=True)
class BarcodeLine:
    """A Code128 barcode, encoded and fitted to the paper."""

    data: str
    text: str | None  # kept for callers; the layout puts the text in Lines after the code
    symbol: Code128
    module: int  # dots per module

    @property
    def width_dots(self) -> int:
        return self.symbol.width_modules * self.module


@dataclass(frozen=True)
class QRLine:
    """A QR code."""

    data: str
    size: int


@dataclass(frozen=True)
class FeedLine:
    """Blank lines."""

    lines: int


Item = Line | BarcodeLine | QRLine | FeedLine


def barcode_fit(symbol: Code128, paper: int | Paper) -> int | None:
    """The widest module (dots) at which ``symbol`` fits ``paper``, or None."""
    sheet = as_paper(paper)
    dots, margin = sheet.dots, sheet.margin
    top = MAX_MODULE if sheet.mm == 80 else MIN_MODULE  # 0.375 mm on 80 mm, 0.25 on 58
    for module in range(top, MIN_MODULE - 1, -1):
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


@functools.lru_cache(maxsize=64)
def _takes_ascii(codepage: str) -> bool:
    """Does ``codepage`` encode every printable ASCII character?"""
    try:
        "".join(map(chr, range(0x20, 0x7F))).encode(codepage)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def printable_text(text: str, codepage: str = DEFAULT_CODEPAGE) -> str:
    """``text`` restricted to what ``codepage`` can encode (see module rules). Printable
    ASCII, most of a slip's lines, passes whole where the code page takes it (issue 19: the
    character by character path was a quarter of a ticket's rendering); so does any other
    printable line the code page encodes whole (an accented word on a Latin page): no control
    or format character is in it, and every character encodes, so each would be kept."""
    if text.isprintable():
        if text.isascii() and _takes_ascii(codepage):
            return text
        try:
            text.encode(codepage)
        except (UnicodeEncodeError, LookupError):
            pass
        else:
            return text
    return by_character(text, codepage)


def by_character(text: str, codepage: str) -> str:
    """`printable_text` one character at a time (what the shortcut must agree with)."""
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


# Plain-ASCII descriptions of the chart's characters: they print the same on every code page.
CHART_NAMES = {
    "Á": "A'", "É": "E'", "Í": "I'", "Ó": "O'", "Ú": "U'", "Ü": "U:", "Ñ": "N~",
    "á": "a'", "é": "e'", "í": "i'", "ó": "o'", "ú": "u'", "ü": "u:", "ñ": "n~",
    "¿": "?i", "¡": "!i", "€": "EUR", "°": "o", "º": "o_", "ª": "a_",
}  # fmt: skip


def chart_lines(chars: str, codepage: str, page_label: str, cols: int) -> list[Line]:
    """A ``CharChart`` as lines (see module rules)."""
    entries = []
    for ch in chars:
        try:
            code = ch.encode(codepage)
            hexa, shown = code.hex().upper(), ch
        except UnicodeEncodeError:
            hexa, shown = "--", " "
        entries.append(f"{hexa:>2} {shown} {CHART_NAMES.get(ch, '?'):<3}")
    per_line = max(1, (cols + 2) // (len(entries[0]) + 2)) if entries else 1
    label = page_label or codepage.upper()
    lines = [Line(t, align="center", bold=True) for t in _wrap(label, cols)]
    for k in range(0, len(entries), per_line):
        lines.append(Line("  ".join(entries[k : k + per_line]).rstrip()))
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` (textwrap's, `_wrapped`). A line that fits and
    holds no tab, newline or other control character is what textwrap makes of it without
    textwrap (most of a slip's lines; issue 19: a quarter of a ticket's rendering): itself
    without its trailing spaces (its leading ones stay), or one empty line when it is blank."""
    if len(text) <= width and text.isprintable():
        return [text.rstrip(" ")]
    return _wrapped(text, width)


def _wrapped(text: str, width: int) -> list[str]:
    """`_wrap` through textwrap, for any text (what the shortcut must agree with)."""
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
    paper: int | Paper,
    *,
    codepage: str = DEFAULT_CODEPAGE,
    copy_label: str = COPY_LABEL,
    page_label: str = "",
) -> list[Item]:
    """The receipt as paper lines for ``paper`` (a ``Paper``, or 58 / 80 for a roll's
    default; see module rules).

    The receipt's own ``copy_label`` (set by the slip builder for its language) wins over
    the ``copy_label`` argument."""
    sheet = as_paper(paper)
    cols = sheet.columns
    copy_label = receipt.copy_label or copy_label

    def clean(text: str) -> str:
        return printable_text(text, codepage)

    items: list[Item] = []
    marks = [Line(t, align="center", bold=True) for t in _wrap(clean(copy_label), cols)]
    if receipt.copy:
        items += marks
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
            module = barcode_fit(symbol, sheet)
            if module is None:  # a version 1 QR code and its quiet zone are 29 modules
                items.append(QRLine(block.data, max(1, min(FALLBACK_QR_SIZE, sheet.dots // 29))))
            else:
                items.append(BarcodeLine(block.data, None, symbol, module))
            if text:  # the human-readable line(s) under the code
                items += [Line(t, align="center") for t in _wrap(text, cols)]
        elif isinstance(block, QR):
            items.append(QRLine(block.data, max(1, min(16, block.size))))
        elif isinstance(block, Feed):
            items.append(FeedLine(max(0, block.lines)))
        elif isinstance(block, CharChart):
            items += chart_lines(block.chars, codepage, page_label, cols)
        else:
            raise TypeError(f"cannot lay out block {block!r} of receipt kind {receipt.kind!r}")
    if receipt.copy:
        items += marks
    return items
