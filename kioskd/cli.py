"""The `kioskd` command line: one sub-command per module in `kioskd.commands`.

Each command module exposes `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Command modules import only the standard library at module level so that `kioskd --help` and
`kioskd run` start fast; heavy imports live inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from kioskd import __version__

# (command name, module under kioskd.commands). Order is the order shown by --help.
COMMANDS: list[tuple[str, str]] = [
    ("run", "run"),
    ("demo", "demo"),
    ("sim", "sim"),
    ("check-config", "check_config"),
    ("doctor", "doctor"),
    ("journal", "journal"),
    ("decode", "decode"),
    ("printer-status", "printer_status"),
    ("print-test", "print_test"),
    ("preview", "preview"),
    ("chaos", "chaos"),
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` (a command name) that command's sub-parser
    alone: `kioskd run` then imports no other command's module (issue 19, start-up CPU)."""
    parser = argparse.ArgumentParser(
        prog="kioskd",
        description="Ticket-terminal daemon for Grupo Banklot lottery kiosks.",
    )
    parser.add_argument("--version", action="version", version=f"kioskd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"kioskd.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"kioskd.commands.{module_name}":
                raise
            continue  # command not built yet
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    first = args_in[0] if args_in else None
    parser = build_parser(only=first if first in dict(COMMANDS) else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
