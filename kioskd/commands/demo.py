"""`kioskd demo`: a scripted shift on the built-in simulator and virtual devices."""

from __future__ import annotations

import argparse

HELP = (
    "play a scripted shift (sales, payout, cancel, outage, in-doubt sale, crash and restart) "
    "on the built-in simulator with virtual devices; PNG slips in --out"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="demo-out", help="output folder: slips/, journal, logs (default demo-out)"
    )
    parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    parser.add_argument(
        "--interactive",
        action="store_true",
        help="let this terminal act as keypad and scanner instead of the scripted shift",
    )


def run(args: argparse.Namespace) -> int:
    from kioskd.proving.demo_shift import run_demo

    return run_demo(args.out, seed=args.seed, interactive=args.interactive)
