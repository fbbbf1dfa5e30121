"""Receipt -> PNG preview with Pillow: what the paper would show, at printer resolution.

Rules:
- Draws the same ``layout`` lines as the ESC/POS renderer, in printer dots: the print area
  of the ``layout.Paper`` (384 dots on 58 mm paper, 576 on 80 mm, 512 under a TM-T88
  profile...), each character in a ``Paper.cell`` (12 dots, 13 on some models; twice that in
  double size) with its 12x24 glyph at the left, with the paper's unprinted
  side margins (``Paper.margin``) left and right, so the image is as wide as the roll.
- Horizontally it is the printer's ``ESC a``: a centred or right-aligned line, barcode or QR
  code starts at ``Paper.x_of`` (dots, not character cells).
- Black and white, as a thermal head prints: each glyph is a 1-bit bitmap (``glyph``) pasted
  at its cell, so a comparison with the paper is dot for dot.
- Vertically it is the paper: lines of ``layout.LINE_DOTS`` (60 for double size, glyphs at the
  top of the line as the printer puts them), barcodes ``BARCODE_DOTS`` high then
  ``CODE_GAP_DOTS``, QR codes their module size x modules then the same gap, feeds in lines,
  and at the bottom the feed the ESC/POS job makes before its cut (6 lines; 3 without a cut).
  The image starts at the first printed line: how much blank paper the previous cut left
  above it depends on the model's head-to-cutter distance and is not drawn.
- Printer defaults assumed are those of the ESC/POS renderer (203 dpi, 1-dot motion unit,
  Font A 12x24), which the job sets explicitly where ESC/POS allows it.
- Characters are drawn one per cell, so the grid stays monospace whatever font is found: a
  system monospace font (DejaVu, Liberation, FreeMono) when present, else Pillow's built-in
  font, so a fresh machine still renders.
- Code128 modules come from the layout's ``code128`` symbol, the very symbol whose bytes the
  ESC/POS job carries, at the module width the layout chose; QR modules from qrcode (a
  python-escpos dependency; the printer encodes its QR itself, so the version it picks may
  differ for long data). Drawn as plain rectangles: no writer plugins, no temporary files.
- Only ``path`` is written, atomically (temporary file + rename) so a watcher never reads half
  a PNG.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kioskd.printer.layout import (
    BARCODE_DOTS,
    CELL_DOTS,
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
from kioskd.printer.profiles import DEFAULT_PROFILE, load_profile
from kioskd.receipt import Receipt

_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/liberation2",
    "/usr/share/fonts/truetype/freefont",
)
_FONT_FILES = {
    False: ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf", "FreeMono.ttf"),
    True: ("DejaVuSansMono-Bold.ttf", "LiberationMono-Bold.ttf", "FreeMonoBold.ttf"),
}

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def _font(bold: bool, size: int) -> Font:
    for directory in _FONT_DIRS:
        for name in _FONT_FILES[bold]:
            path = os.path.join(directory, name)
            if os.path.exists(path):
                return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: bitmap default font, fixed size
        return ImageFont.load_default()


@lru_cache(maxsize=1024)
def glyph(ch: str, bold: bool, double: bool) -> Image.Image:
    """The 1-bit bitmap of ``ch`` in its cell (12x24 dots, 24x48 double), glyph at the top."""
    scale = 2 if double else 1
    cell = Image.new("L", (CELL_DOTS * scale, 24 * scale), 255)
    ImageDraw.Draw(cell).text((0, 0), ch, font=_font(bold, 20 * scale), fill=0)
    return cell.point(lambda v: 255 if v < 128 else 0, mode="1")


@lru_cache(maxsize=256)
def _qr_matrix(data: str) -> tuple[tuple[bool, ...], ...]:
    """The QR modules of ``data`` (cached: qrcode's mask choice is slow pure Python, and a
    slip asks for its height and its drawing)."""
    import qrcode

    qr = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(data)
    qr.make(fit=True)
    return tuple(tuple(row) for row in qr.get_matrix())


def _height(item: Item) -> int:
    """Paper fed by ``item``, in dots (see module rules)."""
    if isinstance(item, Line):
        return DOUBLE_LINE_DOTS if item.double else LINE_DOTS
    if isinstance(item, BarcodeLine):
        return BARCODE_DOTS + CODE_GAP_DOTS + (LINE_DOTS if item.text else 0)
    if isinstance(item, QRLine):
        return len(_qr_matrix(item.data)) * item.size + CODE_GAP_DOTS
    return LINE_DOTS * item.lines


def _draw_line(image: Image.Image, line: Line, y: int, paper: Paper) -> None:
    cell = paper.cell * (2 if line.double else 1)
    text = line.text[: paper.columns_of(line.double)]
    x0 = paper.margin + paper.x_of(len(text), line.align, line.double)
    for i, ch in enumerate(text):
        if ch != " ":
            image.paste(0, (x0 + i * cell, y), glyph(ch, line.bold, line.double))


def render_image(items: list[Item], paper: int | Paper, *, cut: bool = True) -> Image.Image:
    """The slip as the paper shows it (see module rules)."""
    paper = as_paper(paper)
    margin = paper.margin
    width = paper.dots + 2 * margin
    end_feed = LINE_DOTS * (CUT_FEED_LINES if cut else END_FEED_LINES)
    height = sum(_height(item) for item in items) + end_feed
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    y = 0
    for item in items:
        if isinstance(item, Line):
            _draw_line(image, item, y, paper)
        elif isinstance(item, BarcodeLine):
            modules = item.symbol.modules()
            module_w = item.module
            x = margin + max(0, (paper.dots - module_w * len(modules)) // 2)
            for i, bit in enumerate(modules):
                if bit == "1":
                    left = x + i * module_w
                    draw.rectangle([left, y, left + module_w - 1, y + BARCODE_DOTS - 1], fill=0)
            if item.text:
                text_y = y + BARCODE_DOTS + CODE_GAP_DOTS
                _draw_line(image, Line(item.text, align="center"), text_y, paper)
        elif isinstance(item, QRLine):
            matrix = _qr_matrix(item.data)
            box = item.size
            x0 = margin + max(0, (paper.dots - box * len(matrix)) // 2)
            for r, row in enumerate(matrix):
                for c, dark in enumerate(row):
                    if dark:
                        left, top = x0 + c * box, y + r * box
                        draw.rectangle([left, top, left + box - 1, top + box - 1], fill=0)
        elif isinstance(item, FeedLine):
            pass
        y += _height(item)
    return image


def render_png(
    receipt: Receipt,
    paper_mm: int,
    path: str | os.PathLike[str],
    *,
    profile: str = DEFAULT_PROFILE,
    codepage: str | None = None,
    dots: int | None = None,
    columns: int | None = None,
) -> Path:
    """Write a PNG preview of ``receipt`` to ``path`` and return the path; the text is
    reduced to the code page that ``profile`` (or ``codepage``) prints in, and laid out on
    that printer's width (or ``dots`` / ``columns``), as on paper."""
    prof = load_profile(profile, codepage)
    paper = prof.paper(paper_mm, dots=dots, columns=columns)
    items = layout(receipt, paper, codepage=prof.codepage.codec, page_label=str(prof.codepage))
    image = render_image(items, paper, cut=receipt.cut)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, target)
    return target
