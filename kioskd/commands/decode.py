"""`kioskd decode`: replay evtest captures through the key decoder and print the tokens as JSON.

One JSON object per line per scan or keypad token: ``text`` (control characters kept, JSON
escaped), ``role``, ``device`` (the capture's file name without extension), ``key`` (keypad),
``t_first`` / ``t_last`` (event times of the first and last key), ``end`` and ``error`` when the
scan was cut, dropped or carried characters outside the allowed set. Several captures are merged by
time, each with its own decoder. Exit status: 0, 1 for an unreadable capture, 2 for bad options.
"""

from __future__ import annotations

import argparse
import sys

HELP = "decode evtest captures (scanner or keypad) into JSON tokens"


def _escaped(value: str) -> str:
    """Command-line strings accept backslash escapes: --suffix '\\t', --prefix '\\x02'."""
    return value.encode("latin-1", "backslashreplace").decode("unicode_escape")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captures", metavar="CAPTURE", nargs="+", help="evtest text file(s)")
    parser.add_argument("--layout", default="us", help="XKB layout name (us, latam, es, fr, de...)")
    parser.add_argument("--variant", default="", help="XKB layout variant")
    parser.add_argument("--role", choices=("scanner", "keypad"), default="scanner")
    parser.add_argument(
        "--gap-ms", type=float, default=100.0, help="inter-key gap that ends a scan (0: off)"
    )
    parser.add_argument("--suffix", type=_escaped, default="", help="scan suffix, e.g. '\\t'")
    parser.add_argument("--prefix", type=_escaped, default="", help="scan prefix, e.g. '\\x02'")
    parser.add_argument("--max-len", type=int, default=512, help="longest scan kept")
    parser.add_argument(
        "--numlock",
        choices=("ignore", "on", "off"),
        default="ignore",
        help="ignore: keypad keys are digits whatever Num Lock says (default); on/off: follow "
        "Num Lock presses from this state (a full keyboard used as a keypad)",
    )


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from kioskd.input.decoder import DecoderConfig
    from kioskd.input.evtest import EvtestSyntaxError
    from kioskd.input.replay import decode_captures, token_record
    from kioskd.input.xkb import Layout, UnknownLayout

    try:
        layout = Layout(args.layout, args.variant)
        config = DecoderConfig(
            role=args.role,
            gap_s=args.gap_ms / 1000 if args.gap_ms > 0 else None,
            suffix=args.suffix,
            prefix=args.prefix,
            max_len=args.max_len,
            numlock=args.numlock != "off",
            keypad_digits=args.numlock == "ignore",
        )
    except (UnknownLayout, ValueError) as exc:
        print(f"kioskd decode: {exc}", file=sys.stderr)
        return 2
    files = []
    try:
        for name in args.captures:
            path = Path(name)
            files.append((path.stem, path.open(encoding="utf-8", errors="replace")))
    except OSError as exc:
        print(f"kioskd decode: {exc}", file=sys.stderr)
        return 1
    out = sys.stdout
    try:
        for token in decode_captures(files, layout, config):
            out.write(json.dumps(token_record(token), ensure_ascii=False) + "\n")
    except EvtestSyntaxError as exc:
        print(f"kioskd decode: {exc}", file=sys.stderr)
        return 1
    finally:
        for _, handle in files:
            handle.close()
    out.flush()
    return 0
