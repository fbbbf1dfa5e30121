"""`kioskd preview --out DIR`: write a PNG of every slip kind, from sample data.

For checking layout, language and paper width without a printer. Only the standard library is
imported at module level (fast CLI start-up); the renderers load inside `run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write a PNG preview of every slip kind (sample data) into a directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="directory for the PNG files")
    parser.add_argument("--lang", choices=("es", "en"), default="es", help="slip language")
    parser.add_argument("--paper", type=int, choices=(58, 80), default=80, help="paper width, mm")
    parser.add_argument("--currency", default="Bs.", help="currency label (default: Bs.)")
    parser.add_argument(
        "--profile", default="default", help="printer profile, as printer.profile (its width)"
    )
    parser.add_argument("--dots", type=int, default=None, help="printable width, as printer.dots")
    parser.add_argument(
        "--columns", type=int, default=None, help="Font A columns, as printer.columns"
    )


def run(args: argparse.Namespace) -> int:
    from kioskd.proving.fakes.samples import all_slips

    try:
        from kioskd.printer import render_png
    except ImportError as exc:
        print(f"kioskd preview: the PNG renderer is not available ({exc})", file=sys.stderr)
        return 1
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    width = {"dots": args.dots, "columns": args.columns}
    for name, receipt in all_slips(args.lang, args.currency).items():
        path = out / f"{name}.png"
        try:
            render_png(receipt, args.paper, path, profile=args.profile, **width)
        except ValueError as exc:  # unknown profile, columns that do not fit
            print(f"kioskd preview: {exc}", file=sys.stderr)
            return 2
        print(path)
    return 0
