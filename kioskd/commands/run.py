"""`kioskd run`: the daemon."""

from __future__ import annotations

import argparse
import gc

from kioskd.commands import add_config_argument, add_input_dir_argument

HELP = "run the kiosk daemon (foreground; under systemd as Type=notify)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_input_dir_argument(parser)


def run(args: argparse.Namespace) -> int:
    # The cyclic collector is off while the daemon starts: start-up makes ~50,000 objects
    # that live as long as the process, and about a hundred young collections walked them for
    # ~17 ms of CPU here before READY=1 (issue 19: CPU to READY), finding almost nothing (a few
    # hundred objects). The daemon turns it on at READY=1, after freezing what start-up made
    # (`Daemon.run`), or when it cannot get there (a journal in attention, an exit).
    gc.disable()
    # Before any thread exists: glibc caps arenas only for threads that allocate later.
    from kioskd.daemon import malloc

    malloc.limit_arenas()
    try:
        from kioskd.daemon.daemon import run_daemon

        return run_daemon(args.config, input_dir=args.input_dir)
    finally:
        gc.enable()
