"""A slip's receipt as the lines it prints: what tests read instead of ESC/POS bytes."""

from __future__ import annotations

from kioskd.receipt import Barcode, Receipt, Row, Text, Title


def slip_lines(receipt: Receipt, barcode: str | None = "[{data}] {text}") -> list[str]:
    """Titles and texts as they are, rows as ``left | right``, barcodes by `barcode`
    (a format of `data` and `text`; None leaves them out)."""
    out: list[str] = []
    for block in receipt.blocks:
        if isinstance(block, Title | Text):
            out.append(block.text)
        elif isinstance(block, Row):
            out.append(f"{block.left} | {block.right}")
        elif isinstance(block, Barcode) and barcode is not None:
            out.append(barcode.format(data=block.data, text=block.text))
    return out
