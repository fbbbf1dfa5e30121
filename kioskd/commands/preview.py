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


def run(args: argparse.Namespace) -> int:
    from kioskd.proving.fakes.samples import all_slips

    try:
        from kioskd.printer import render_png
    except ImportError as exc:
        print(f"kioskd preview: the PNG renderer is not available ({exc})", file=sys.stderr)
        return 1
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, receipt in all_slips(args.lang, args.currency).items():
        path = out / f"{name}.png"
        render_png(receipt, args.paper, path)
        print(path)
    return 0
