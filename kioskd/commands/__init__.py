"""Sub-commands of `kioskd` (see kioskd.cli). Standard-library imports only at module level."""

from __future__ import annotations

import argparse

DEFAULT_CONFIG = "/etc/kioskd/kioskd.toml"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config PATH`, the same for every command that reads the config."""
    what = "main config file; drop-ins are read from PATH.d/*.toml (default: %(default)s)"
    parser.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH", help=what)


def add_input_dir_argument(parser: argparse.ArgumentParser) -> None:
    what = "where input device nodes live (default: %(default)s; tests use a fake tree)"
    parser.add_argument("--input-dir", default="/dev/input", metavar="DIR", help=what)
