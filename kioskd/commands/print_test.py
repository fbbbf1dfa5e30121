"""`kioskd print-test`: print a test slip (accents, Code128, QR, rulers) and optionally a PNG.

Goes through the same worker as the daemon, so it waits while paper is out or the cover is
open, up to ``--wait`` seconds.
"""

from __future__ import annotations

import argparse

HELP = "print a test slip (accents, barcode, QR) on a printer and/or as a PNG preview"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--printer", metavar="URI", help="printer URI (see printer-status)")
    parser.add_argument("--paper", type=int, choices=(58, 80), default=80, help="paper width mm")
    parser.add_argument("--codepage", default="cp858", help="cp858 (default) or cp850")
    parser.add_argument("--png", metavar="PATH", help="also write a PNG preview here")
    parser.add_argument("--timeout", type=float, default=5.0, help="open/write timeout (s)")
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="give up after this many seconds (paper out, cover open)",
    )


def test_receipt(paper_mm: int):
    """The test slip: every block type, Spanish accents, both rulers."""
    from kioskd.printer.layout import columns_for
    from kioskd.receipt import QR, Barcode, Feed, Receipt, Row, Rule, Text, Title

    cols = columns_for(paper_mm)
    ruler = "".join(str(i % 10) for i in range(1, cols + 1))
    return Receipt(
        "test",
        (
            Title("PRUEBA"),
            Text("LOTERÍA DEL ZÚLIA", align="center", bold=True),
            Text("ZODÍACO · ¿Año? ¡Sí! ñÑ áéíóú ÁÉÍÓÚ ü €", align="center"),
            Rule("="),
            Text(ruler),
            Text(f"{cols} columnas / {paper_mm} mm"),
            Row("Total", "Bs. 1.234,00", bold=True),
            Text("DOBLE", double=True, align="center"),
            Rule(),
            Barcode("123456788765432120250131", "12345678 87654321 20250131"),
            QR("K1:1.341.20;1.000.20"),
            Feed(1),
        ),
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    receipt = test_receipt(args.paper)
    if not args.printer and not args.png:
        print("kioskd print-test: give --printer URI and/or --png PATH")
        return 2
    if args.png:
        from kioskd.printer import render_png

        print(f"preview: {render_png(receipt, args.paper, args.png, codepage=args.codepage)}")
    if not args.printer:
        return 0

    async def go() -> int:
        from kioskd.printer import open_printer

        printer = open_printer(
            args.printer,
            timeout_s=args.timeout,
            paper_mm=args.paper,
            codepage=args.codepage,
            idle_poll_s=None,
        )
        try:
            await asyncio.wait_for(printer.print_receipt(receipt), args.wait)
        except TimeoutError:
            print(f"not printed after {args.wait:g} s: {printer.last_status.summary()}")
            return 1
        finally:
            await printer.close()
        print(f"printed: {printer.last_status.summary()}")
        return 0

    try:
        return asyncio.run(go())
    except ValueError as exc:
        print(f"kioskd print-test: {exc}")
        return 2
