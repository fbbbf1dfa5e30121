"""The receipt printer: URI transports, DLE EOT status, ESC/POS and PNG renderers, worker thread.

``open_printer(uri, timeout_s=..., paper_mm=...)`` gives an async ``Printer``
(``print_receipt``, ``status``, ``changes``, ``close``); ``render_escpos`` and ``render_png``
turn a ``kioskd.receipt.Receipt`` into bytes or a preview image. Importing this package does
not import Pillow (``render_png`` loads it on first use).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kioskd.printer.escpos_render import render_escpos
from kioskd.printer.printer import Printer, PrinterClosed, open_printer, status_once
from kioskd.printer.status import PrinterStatus, parse_status
from kioskd.printer.transport import TransportError, make_transport, parse_uri

if TYPE_CHECKING:
    import os

    from kioskd.receipt import Receipt


def render_png(receipt: Receipt, paper_mm: int, path: str | os.PathLike[str], **kw: str) -> Path:
    """Write a PNG preview of ``receipt`` (see ``kioskd.printer.png_render``)."""
    from kioskd.printer.png_render import render_png as _render_png

    return _render_png(receipt, paper_mm, path, **kw)


__all__ = [
    "Printer",
    "PrinterClosed",
    "PrinterStatus",
    "TransportError",
    "make_transport",
    "open_printer",
    "parse_status",
    "parse_uri",
    "render_escpos",
    "render_png",
    "status_once",
]
