"""`kioskd print-test`: print a test slip (accents, Code128, QR, rulers) and optionally a PNG.

Goes through the same worker as the daemon, so it waits while paper is out or the cover is
open, up to ``--wait`` seconds. The slip and the output name the printer profile, its width
and the code page it chose (``--profile``, as ``printer.profile``; ``--dots`` / ``--columns``
as ``printer.dots`` / ``printer.columns``), and the slip carries a chart of every accented
character with its byte and a plain-ASCII description ("A'" for Á): a box or a wrong letter
on paper says the code page is wrong (hardware/PRINTERS.md says which setting to change);
``--list`` names the profiles of python-escpos's database.
"""

from __future__ import annotations

import argparse

HELP = "print a test slip (accents, barcode, QR) on a printer and/or as a PNG preview"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--printer", metavar="URI", help="printer URI (see printer-status)")
    parser.add_argument("--paper", type=int, choices=(58, 80), default=80, help="paper width mm")
    parser.add_argument(
        "--profile",
        default="default",
        help="python-escpos printer profile, as printer.profile (default: default)",
    )
    parser.add_argument(
        "--codepage",
        default=None,
        help="override the profile's code page (e.g. cp850); must be in the profile's table",
    )
    parser.add_argument(
        "--dots", type=int, default=None, help="printable width in dots, as printer.dots"
    )
    parser.add_argument(
        "--columns", type=int, default=None, help="Font A columns per line, as printer.columns"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the printer profiles and their code pages"
    )
    parser.add_argument("--png", metavar="PATH", help="also write a PNG preview here")
    parser.add_argument("--timeout", type=float, default=5.0, help="open/write timeout (s)")
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="give up after this many seconds (paper out, cover open)",
    )


def test_receipt(paper_mm: int, profile_line: str = "", columns: int | None = None):
    """The test slip: every block type, the accent chart, both rulers, the profile used."""
    from kioskd.printer.layout import LINE_DOTS, columns_for
    from kioskd.receipt import QR, Barcode, CharChart, Feed, Receipt, Row, Rule, Text, Title

    cols = columns or columns_for(paper_mm)
    ruler = "".join(str(i % 10) for i in range(1, cols + 1))
    ten_lines_mm = f"{LINE_DOTS * 10 / 8:.1f}".replace(".", ",")
    return Receipt(
        "test",
        (
            Title("PRUEBA"),
            *((Text(profile_line),) if profile_line else ()),
            Text("LOTERÍA DEL ZULIA", align="center", bold=True),
            Text("ZODÍACO · ¿Año? ¡Sí! ñÑ áéíóú ÁÉÍÓÚ ü €", align="center"),
            Rule("="),
            CharChart(),
            Rule("="),
            Text(ruler),
            Text(f"{cols} columnas / {paper_mm} mm"),
            Text(f"10 líneas = {ten_lines_mm} mm"),
            Row("Total", "Bs. 1.234,00", bold=True),
            Text("DOBLE", double=True, align="center"),
            Rule(),
            Barcode("123456788765432120250131", "12345678 87654321 20250131"),
            QR("K1:1.341.20;1.000.20"),
            Feed(1),
        ),
    )


def list_profiles() -> None:
    from kioskd.printer.profiles import load_profile, profile_names

    for name in profile_names():
        try:
            print(f"{name}: {load_profile(name).describe()}")
        except ValueError as exc:
            print(f"{name}: not usable ({exc})")


def run(args: argparse.Namespace) -> int:
    import asyncio

    if args.list:
        list_profiles()
        return 0
    from kioskd.printer.profiles import load_profile

    try:
        profile = load_profile(args.profile, args.codepage)
        paper = profile.paper(args.paper, dots=args.dots, columns=args.columns)
    except ValueError as exc:
        print(f"kioskd print-test: {exc}")
        return 2
    line = f"{profile.name}: {profile.codepage.name}, {paper.dots} dots"
    receipt = test_receipt(args.paper, line, paper.columns)
    if not args.printer and not args.png:
        print("kioskd print-test: give --printer URI and/or --png PATH")
        return 2
    print(profile.describe())
    print(f"width: {paper.dots} dots, {paper.columns} columns on {args.paper} mm paper")
    for warning in profile.mismatches(args.paper):
        print(f"warning: {warning}")
    if args.png:
        from kioskd.printer import render_png

        path = render_png(
            receipt,
            args.paper,
            args.png,
            profile=args.profile,
            codepage=args.codepage,
            dots=args.dots,
            columns=args.columns,
        )
        print(f"preview: {path}")
    if not args.printer:
        return 0

    async def go() -> int:
        from kioskd.printer import open_printer

        printer = open_printer(
            args.printer,
            timeout_s=args.timeout,
            paper_mm=args.paper,
            profile=args.profile,
            codepage=args.codepage,
            dots=args.dots,
            columns=args.columns,
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
