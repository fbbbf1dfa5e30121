"""`kioskd doctor`: check config, input devices, printer, API, clock, disk, journal, metrics.

Each finding is OK, WARN or FAIL with one line of detail and, when not OK, what to do.
Exit codes: 0 nothing failed (warnings allowed), 1 at least one FAIL (or, with --strict, at
least one WARN). `--json` prints a list of {check, status, detail, hint[, data]}.
Doctor changes nothing: the journal is read read-only, nothing is printed or sold.
"""

from __future__ import annotations

import argparse

from kioskd.commands import add_config_argument, add_input_dir_argument

HELP = (
    "check config, input devices, printer, API login, clock, disk, journal and metrics; "
    "say what to fix"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Exit status: 0 when nothing FAILs (WARN allowed), 1 on any FAIL (with --strict, also "
        "on any WARN). Clock skew against /gaming/time: WARN > 300 s (the daemon's threshold; "
        "money does not depend on it). Free disk where the journal lives: WARN < 200 MiB, "
        "FAIL < 20 MiB. Metrics: WARN when the Prometheus textfile folder is missing or "
        "kioskd.prom is stale or unreadable."
    )
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    add_input_dir_argument(parser)
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    parser.add_argument(
        "--watch-s",
        type=float,
        default=3.0,
        metavar="S",
        help="watch input devices whose role is unclear this long, to tell a scanner (a whole "
        "code in well under 100 ms) from a keypad or keyboard: scan a code and press keypad "
        "keys meanwhile; 0: do not watch (default: %(default)s)",
    )
    parser.add_argument(
        "--sys-dir", default="/sys", metavar="DIR", help="sysfs root (default: %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging

    from kioskd.doctor.checks import exit_code, format_text, run_checks

    # The findings say what went wrong; the client's own log lines would only repeat it.
    logging.getLogger("kioskd").addHandler(logging.NullHandler())
    if args.watch_s > 0:
        import sys

        print(
            f"watching input devices whose role is unclear for {args.watch_s:g} s: scan a "
            "barcode and press a few keypad keys now",
            file=sys.stderr,
        )
    findings = asyncio.run(
        run_checks(
            args.config, input_dir=args.input_dir, watch_s=args.watch_s, sys_dir=args.sys_dir
        )
    )
    if args.json:
        print(json.dumps([f.to_json() for f in findings], indent=2, sort_keys=False))
    else:
        print(format_text(findings))
    return exit_code(findings, strict=args.strict)
