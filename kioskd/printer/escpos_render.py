"""Receipt -> ESC/POS bytes, through python-escpos's ``Dummy`` printer.

Rules:
- Pure: bytes out, no device. The worker thread writes them; tests read them.
- The code page is chosen once per job (``ESC t``; CP858 = 19 on Epson and most clones) and the
  text is encoded in it; the layout has already replaced what it cannot print.
- Code128 is written by hand, not with ``Dummy.barcode``: python-escpos sends subset C data as
  ASCII digits, but ESC/POS wants each digit pair as one byte 0..99 after ``{C``. A subset C
  encoding that would contain ``0x10 0x04 1..4`` falls back to subset B: printers take that
  sequence as a real-time ``DLE EOT`` query even inside barcode data.
- Human-readable text under a barcode is printed as our own centred line (HRI off), so that it
  can differ from the data (spaces between ticket, PIN and date) and the preview matches.
- QR codes are native (``GS ( k``), model 2, error correction M.
"""

from __future__ import annotations

from escpos.printer import Dummy

from kioskd.printer.layout import (
    DEFAULT_CODEPAGE,
    BarcodeLine,
    FeedLine,
    Item,
    Line,
    QRLine,
    columns_for,
    layout,
)
from kioskd.receipt import Receipt

GS = b"\x1d"
BARCODE_HEIGHT_DOTS = 80
# Module width per paper: 24 digits in subset C are ~180 modules; 2 dots fit 384, 3 fit 576.
BARCODE_MODULE = {58: 2, 80: 3}
# python-escpos names the code pages in upper case.
_ESCPOS_CODEPAGE = {"cp858": "CP858", "cp850": "CP850", "cp437": "CP437", "cp1252": "CP1252"}


def code128_data(data: str) -> bytes:
    """The ``GS k 73`` payload for ``data``: subset C for even-length digits, else subset B."""
    if not data or any(not (0x20 <= ord(c) < 0x7F) for c in data):
        raise ValueError("Code128 data must be printable ASCII and not empty")
    if data.isdigit() and len(data) % 2 == 0:
        pairs = bytes(int(data[i : i + 2]) for i in range(0, len(data), 2))
        if not any(
            pairs[i : i + 2] == b"\x10\x04"
            and pairs[i + 2 : i + 3] in (b"\x01", b"\x02", b"\x03", b"\x04")
            for i in range(len(pairs))
        ):
            return b"{C" + pairs
    return b"{B" + data.replace("{", "{{").encode("ascii")


def barcode_bytes(data: str, paper_mm: int) -> bytes:
    payload = code128_data(data)
    if len(payload) > 255:
        raise ValueError("Code128 data too long for one barcode")
    return (
        b"\x1ba\x01"  # centre
        + GS + b"h" + bytes([BARCODE_HEIGHT_DOTS])
        + GS + b"w" + bytes([BARCODE_MODULE[paper_mm]])
        + GS + b"H\x00"  # no HRI: we print the text ourselves
        + GS + b"k" + bytes([73, len(payload)]) + payload
        + b"\n"
    )  # fmt: skip


def render_items(items: list[Item], paper_mm: int, *, codepage: str, cut: bool) -> bytes:
    columns_for(paper_mm)
    p = Dummy(profile="default")
    p.hw("INIT")
    p.charcode(_ESCPOS_CODEPAGE.get(codepage.lower(), codepage.upper()))
    for item in items:
        if isinstance(item, Line):
            p.set(
                align=item.align,
                bold=item.bold,
                normal_textsize=not item.double,
                double_width=item.double,
                double_height=item.double,
            )
            p.textln(item.text)
        elif isinstance(item, BarcodeLine):
            p._raw(barcode_bytes(item.data, paper_mm))
            if item.text:
                p.set(align="center", bold=False, normal_textsize=True)
                p.textln(item.text)
        elif isinstance(item, QRLine):
            p.set(align="center", normal_textsize=True)
            p.qr(item.data, size=item.size, native=True, ec=1)  # 1 = QR_ECLEVEL_M
            p.ln()
        elif isinstance(item, FeedLine) and item.lines:
            p.print_and_feed(min(255, item.lines))
    p.set(align="left", bold=False, normal_textsize=True)
    if cut:
        p.cut()
    else:
        p.print_and_feed(3)
    output: bytes = p.output
    return output


def render_escpos(
    receipt: Receipt, paper_mm: int = 80, *, codepage: str = DEFAULT_CODEPAGE
) -> bytes:
    """ESC/POS bytes for ``receipt`` on ``paper_mm`` (58 or 80) paper, text in ``codepage``."""
    items = layout(receipt, paper_mm, codepage=codepage)
    return render_items(items, paper_mm, codepage=codepage, cut=receipt.cut)
