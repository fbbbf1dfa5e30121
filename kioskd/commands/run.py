"""`kioskd run`: the daemon."""

from __future__ import annotations

import argparse

HELP = "run the kiosk daemon (foreground; under systemd as Type=notify)"
DEFAULT_CONFIG = "/etc/kioskd/kioskd.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"main config file; drop-ins from CONFIG.d/*.toml (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--input-dir",
        default="/dev/input",
        help="where input device nodes live (default /dev/input; tests use a fake tree)",
    )


def run(args: argparse.Namespace) -> int:
    from kioskd.daemon.daemon import run_daemon

    return run_daemon(args.config, input_dir=args.input_dir)
