"""`kioskd journal check|recover|init --force`: what a technician does with a journal in
attention (missing, empty, damaged, replaced). kioskd waits in attention meanwhile and goes on by
itself once the journal is sound again."""

from __future__ import annotations

import argparse

from kioskd.commands import add_config_argument

HELP = "look at, salvage or (audited) start afresh the journal: check | recover | init --force"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("check", "recover", "init"))
    add_config_argument(parser)
    parser.add_argument("--journal", metavar="PATH", help="the journal file (default: config's)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="init: really start an empty journal (the old files are kept aside; audited)",
    )
    parser.add_argument("--reason", default="", help="init: why (kept in the audit note)")


def _journal_path(args: argparse.Namespace) -> str:
    if args.journal:
        return str(args.journal)
    from kioskd.config import ConfigHolder

    return ConfigHolder(args.config).current.journal.path


def run(args: argparse.Namespace) -> int:
    from kioskd.journal import repair

    try:
        path = _journal_path(args)
    except Exception as exc:
        print(f"kioskd journal: cannot read the config: {exc}")
        return 2
    if args.action == "check":
        found = repair.check(path)
        print("\n".join(found.lines))
        print("journal ok" if found.ok else "journal needs attention")
        return 0 if found.ok else 1
    if args.action == "init" and not args.force:
        print(
            "kioskd journal init: this starts an empty journal; unfinished operations in the "
            "old one are then no longer followed by kioskd. Try `kioskd journal recover` "
            "first; add --force to go ahead (the old files are kept aside, the act is audited)"
        )
        return 2
    try:
        text = repair.init(path, args.reason) if args.action == "init" else repair.recover(path)
    except Exception as exc:
        print(f"kioskd journal {args.action}: failed: {exc}")
        return 1
    print(text)
    return 0
