"""`kioskd check-config`: validate the config and its drop-ins; non-zero exit on any error.

Prints every error as `file:line: dotted.key: message` (stderr), or `ok` and a one-line summary
(stdout). Exit codes: 0 good, 1 errors found.
"""

from __future__ import annotations

import argparse
import sys

from kioskd.commands import add_config_argument

HELP = "check the config file and its drop-ins; print every error with file, line and key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    from kioskd.config import ConfigInvalid, load_config, summary

    try:
        cfg = load_config(args.config)
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        n = len(exc.errors)
        print(f"{n} error{'s' if n != 1 else ''} in {args.config}", file=sys.stderr)
        return 1
    print(f"ok: {summary(cfg)}")
    return 0
