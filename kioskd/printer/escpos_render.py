"""Receipt -> ESC/POS bytes, through python-escpos's command builder (``Escpos``).

Rules:
- Pure: bytes out, no device. The worker thread writes them; tests read them.
- The builder is python-escpos's ``Escpos`` with its one abstract method, ``_raw``, keeping
  the bytes (what its ``Dummy`` printer does): importing ``escpos.printer`` for ``Dummy``
  loads every device backend (serial, USB, CUPS, LP, network, win32: 1.2 MB of RSS, issue 19)
  and kioskd's transports open devices themselves.
- The code page comes from the printer profile (``profiles.load_profile``: CP858, else CP850,
  else the closest the profile's table has) and is selected once per job with ``ESC t n``,
  ``n`` from the profile's table; the layout has already replaced what it cannot print and
  the text is encoded with the same page.
- Every job states the geometry the preview draws, instead of trusting the printer's state
  or defaults: ``ESC @`` (initialise: left margin 0, print area = the whole printable width,
  as ``layout.PRINT_DOTS``), then ``ESC 3 30`` (line spacing ``layout.LINE_DOTS``; 60 around
  double-size lines), barcodes ``GS h 80`` high, and ``ESC J 8`` after each barcode and QR
  code (``layout.CODE_GAP_DOTS``). No LF follows a barcode or QR code: the printer has
  already fed past the symbol (``GS k`` and ``GS ( k`` print at once and leave the print
  position at the start of the next line), so an LF would be a blank line the preview does
  not have.
- Printer defaults assumed: 203 dpi (8 dots/mm) with the vertical motion unit of ``ESC 3`` /
  ``ESC J`` = 1 dot (``GS P`` default on Epson TM-T20/TM-L90 and on the common clones; 30 is
  also Epson's ``ESC 2`` default line spacing there); Font A is 12x24 dots. A 180 dpi model
  (TM-T88, 512 dots) gets its width from its profile (42 columns; ``layout.paper_for``) but
  its vertical unit differs (1/360"): the slip is shorter than the preview; print-test says so.
- Alignment is the printer's: ``ESC a`` centres or right-aligns each text line, barcode and
  QR code in dots within the print area (``layout.Paper.x_of`` is the same rule for the
  preview), so odd paddings are not rounded to a character cell.
- Code128 comes from ``code128.encode`` (the same symbol the preview draws) and is written
  by hand, not with ``Escpos.barcode`` (python-escpos sends subset C as ASCII digits). Its
  human-readable line is our own text line (HRI off), so that the preview matches.
- QR codes are native (``GS ( k``), model 2, error correction M.
- No real-time command (DLE EOT / DLE ENQ / DLE DC4 with a parameter) anywhere in a job: text
  has no control characters and barcodes avoid them; the finished job is checked, and a job
  that would contain one is a ValueError rather than a status query inside a slip.
"""

from __future__ import annotations

from escpos.escpos import Escpos

from kioskd.printer.code128 import realtime_at
from kioskd.printer.layout import (
    BARCODE_DOTS,
    CODE_GAP_DOTS,
    CUT_FEED_LINES,
    DOUBLE_LINE_DOTS,
    END_FEED_LINES,
    LINE_DOTS,
    BarcodeLine,
    FeedLine,
    Item,
    Line,
    Paper,
    QRLine,
    as_paper,
    layout,
)
from kioskd.printer.profiles import DEFAULT_PROFILE, CodePage, load_profile
from kioskd.receipt import Receipt

ESC = b"\x1b"
GS = b"\x1d"


class Job(Escpos):  # type: ignore[misc]  # python-escpos ships no type hints
    """One job's bytes, built with python-escpos's commands (``profile``: command syntax only;
    the code page is kioskd's own choice, selected by the renderer)."""

    def __init__(self, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(profile=profile)
        self._parts: list[bytes] = []

    def _raw(self, msg: bytes) -> None:
        self._parts.append(msg)

    @property
    def output(self) -> bytes:
        return b"".join(self._parts)


def line_spacing(dots: int) -> bytes:
    return ESC + b"3" + bytes([dots])


def feed_dots(dots: int) -> bytes:
    return ESC + b"J" + bytes([dots])


def barcode_bytes(item: BarcodeLine) -> bytes:
    payload = item.symbol.escpos_payload()
    if len(payload) > 255:
        raise ValueError("Code128 data too long for one barcode")
    return (
        ESC + b"a\x01"  # centre
        + GS + b"h" + bytes([BARCODE_DOTS])
        + GS + b"w" + bytes([item.module])
        + GS + b"H\x00"  # no HRI: we print the text ourselves
        + GS + b"k" + bytes([73, len(payload)]) + payload
        + feed_dots(CODE_GAP_DOTS)
    )  # fmt: skip


def render_items(items: list[Item], paper: int | Paper, *, codepage: CodePage, cut: bool) -> bytes:
    as_paper(paper)  # the printer places lines itself (ESC a): only the roll is checked
    p = Job()
    p.hw("INIT")
    p._raw(ESC + b"t" + bytes([codepage.index]))
    p._raw(line_spacing(LINE_DOTS))

    def text(line: str) -> None:
        p._raw(line.encode(codepage.codec, errors="replace") + b"\n")

    for item in items:
        if isinstance(item, Line):
            p.set(
                align=item.align,
                bold=item.bold,
                normal_textsize=not item.double,
                double_width=item.double,
                double_height=item.double,
            )
            if item.double:
                p._raw(line_spacing(DOUBLE_LINE_DOTS))
            text(item.text)
            if item.double:
                p._raw(line_spacing(LINE_DOTS))
        elif isinstance(item, BarcodeLine):
            p._raw(barcode_bytes(item))
            if item.text:
                p.set(align="center", bold=False, normal_textsize=True)
                text(item.text)
        elif isinstance(item, QRLine):
            p.set(align="center", normal_textsize=True)
            p.qr(item.data, size=item.size, native=True, ec=1)  # 1 = QR_ECLEVEL_M
            p._raw(feed_dots(CODE_GAP_DOTS))
        elif isinstance(item, FeedLine) and item.lines:
            p.print_and_feed(min(255, item.lines))
    p.set(align="left", bold=False, normal_textsize=True)
    if cut:
        p.print_and_feed(CUT_FEED_LINES)
        p._raw(GS + b"V\x00")  # full cut
    else:
        p.print_and_feed(END_FEED_LINES)
    out = p.output
    at = realtime_at(out)
    if at is not None:
        raise ValueError(
            f"job would contain a real-time command at byte {at}: {out[at : at + 3]!r}"
        )
    return out


def render_escpos(
    receipt: Receipt,
    paper_mm: int = 80,
    *,
    profile: str = DEFAULT_PROFILE,
    codepage: str | None = None,
    dots: int | None = None,
    columns: int | None = None,
) -> bytes:
    """ESC/POS bytes for ``receipt`` on ``paper_mm`` (58 or 80) paper, for printer ``profile``
    (``codepage`` overrides the profile's choice; it must be in the profile's table;
    ``dots`` / ``columns`` override the profile's width, as ``printer.dots`` / ``.columns``)."""
    prof = load_profile(profile, codepage)
    paper = prof.paper(paper_mm, dots=dots, columns=columns)
    items = layout(receipt, paper, codepage=prof.codepage.codec, page_label=str(prof.codepage))
    return render_items(items, paper, codepage=prof.codepage, cut=receipt.cut)
