"""The receipt printer: URI transports, DLE EOT status, ESC/POS and PNG renderers, worker thread.

``open_printer(uri, timeout_s=..., paper_mm=..., profile=...)`` gives an async ``Printer``
(``print_receipt``, ``status``, ``changes``, ``close``); ``render_escpos`` and ``render_png``
turn a ``kioskd.receipt.Receipt`` into bytes or a preview image. Importing this package
imports none of its parts: each name loads its module on first use, so that checking a
config (``kioskd.printer.profiles``) does not load python-escpos, and the PNG renderer
(Pillow) loads only when a preview is made.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os

    from kioskd.printer.escpos_render import render_escpos
    from kioskd.printer.printer import Printer, PrinterClosed, open_printer, status_once
    from kioskd.printer.status import PrinterStatus, parse_status
    from kioskd.printer.transport import TransportError, make_transport, parse_uri
    from kioskd.receipt import Receipt

_WHERE = {
    "render_escpos": "escpos_render",
    "Printer": "printer",
    "PrinterClosed": "printer",
    "open_printer": "printer",
    "status_once": "printer",
    "PrinterStatus": "status",
    "parse_status": "status",
    "TransportError": "transport",
    "make_transport": "transport",
    "parse_uri": "transport",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"kioskd.printer.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'kioskd.printer' has no attribute {name!r}")


def escpos_cache_file(folder: str) -> str:
    """python-escpos's pickle of its parsed capabilities in `folder`, named as escpos names it
    (by `platform.python_version()`: the first word of `sys.version`; `platform` itself is
    not imported for it, its import compiles nine patterns before READY=1: issue 19)."""
    import os.path
    import sys

    return os.path.join(folder, f"{sys.version.split()[0]}.capabilities.pickle")


def render_png(receipt: Receipt, paper_mm: int, path: str | os.PathLike[str], **kw: Any) -> Path:
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
