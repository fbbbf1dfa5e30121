"""`kioskd run`: the daemon."""

from __future__ import annotations

import argparse

from kioskd.commands import add_config_argument, add_input_dir_argument

HELP = "run the kiosk daemon (foreground; under systemd as Type=notify)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_input_dir_argument(parser)


def run(args: argparse.Namespace) -> int:
    from kioskd.daemon.daemon import run_daemon

    return run_daemon(args.config, input_dir=args.input_dir)
