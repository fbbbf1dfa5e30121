"""Receipt -> PNG preview with Pillow: what the paper would show, at printer resolution.

Rules:
- Draws the same ``layout`` lines as the ESC/POS renderer, at 8 dots/mm: 384 dots of print
  width on 58 mm paper, 576 on 80 mm, each column a 12-dot cell (24 for double size).
- Characters are drawn one per cell, so the grid stays monospace whatever font is found: a
  system monospace font (DejaVu, Liberation, FreeMono) when present, else Pillow's built-in
  font, so a fresh machine still renders.
- Code128 modules come from python-barcode, QR modules from qrcode (both python-escpos
  dependencies), drawn as plain rectangles: no writer plugins, no temporary files.
- Only ``path`` is written, atomically (temporary file + rename) so a watcher never reads half
  a PNG.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

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

DOTS = {58: 384, 80: 576}
MARGIN = 16
LINE_H = 24
BARCODE_H = 80
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


def _code128_modules(data: str) -> str:
    import barcode

    return "".join(barcode.get("code128", data).build())


def _qr_matrix(data: str) -> list[list[bool]]:
    import qrcode

    qr = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.get_matrix()


def _height(item: Item, paper_mm: int) -> int:
    if isinstance(item, Line):
        return LINE_H * (2 if item.double else 1)
    if isinstance(item, BarcodeLine):
        return BARCODE_H + 8 + (LINE_H if item.text else 0)
    if isinstance(item, QRLine):
        return len(_qr_matrix(item.data)) * item.size + LINE_H
    return LINE_H * item.lines


def _draw_line(draw: ImageDraw.ImageDraw, line: Line, y: int, cols: int) -> None:
    scale = 2 if line.double else 1
    cell = 12 * scale
    per_line = cols // scale
    text = line.text[:per_line]
    pad = per_line - len(text)
    offset = {"left": 0, "center": pad // 2, "right": pad}[line.align]
    font = _font(line.bold, 20 * scale)
    for i, ch in enumerate(text):
        if ch != " ":
            x = MARGIN + (offset + i) * cell
            draw.text((x, y), ch, font=font, fill=0)


def render_image(items: list[Item], paper_mm: int) -> Image.Image:
    cols = columns_for(paper_mm)
    width = DOTS[paper_mm] + 2 * MARGIN
    height = sum(_height(item, paper_mm) for item in items) + 2 * MARGIN
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    y = MARGIN
    for item in items:
        if isinstance(item, Line):
            _draw_line(draw, item, y, cols)
        elif isinstance(item, BarcodeLine):
            modules = _code128_modules(item.data)
            module_w = max(1, min(3, DOTS[paper_mm] // len(modules)))
            x = MARGIN + (DOTS[paper_mm] - module_w * len(modules)) // 2
            for i, bit in enumerate(modules):
                if bit == "1":
                    left = x + i * module_w
                    draw.rectangle([left, y, left + module_w - 1, y + BARCODE_H - 1], fill=0)
            if item.text:
                _draw_line(draw, Line(item.text, align="center"), y + BARCODE_H + 8, cols)
        elif isinstance(item, QRLine):
            matrix = _qr_matrix(item.data)
            box = item.size
            x0 = MARGIN + (DOTS[paper_mm] - box * len(matrix)) // 2
            for r, row in enumerate(matrix):
                for c, dark in enumerate(row):
                    if dark:
                        left, top = x0 + c * box, y + r * box
                        draw.rectangle([left, top, left + box - 1, top + box - 1], fill=0)
        elif isinstance(item, FeedLine):
            pass
        y += _height(item, paper_mm)
    return image


def render_png(
    receipt: Receipt,
    paper_mm: int,
    path: str | os.PathLike[str],
    *,
    codepage: str = DEFAULT_CODEPAGE,
) -> Path:
    """Write a PNG preview of ``receipt`` to ``path`` and return the path."""
    image = render_image(layout(receipt, paper_mm, codepage=codepage), paper_mm)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, target)
    return target
