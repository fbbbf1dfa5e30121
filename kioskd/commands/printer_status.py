"""`kioskd printer-status`: ask the printer (DLE EOT 1-4) and print the status as JSON.

Exit codes: 0 printable (every field known and good), 1 a known fault (paper out, cover open,
offline, an error) or the printer could not be reached, 3 the printer did not say (no status
replies, or a transport that cannot read such as a plain file).
"""

from __future__ import annotations

import argparse
import json

HELP = "print the printer status (online, paper, cover, error) as JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--printer",
        required=True,
        metavar="URI",
        help="tcp://HOST:PORT, serial:///dev/ttyUSB0?baudrate=19200, "
        "usb://VID:PID, file:///dev/usb/lp0?read=1",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="open/write timeout (s)")
    parser.add_argument("--reply-timeout", type=float, default=0.5, help="per reply (s)")


def run(args: argparse.Namespace) -> int:
    from kioskd.printer import status_once

    try:
        status = status_once(
            args.printer, timeout_s=args.timeout, reply_timeout_s=args.reply_timeout
        )
    except ValueError as exc:
        print(f"kioskd printer-status: {exc}")
        return 2
    print(json.dumps(status.to_json(), sort_keys=True))
    if status.printable:
        return 0
    if not status.connected or status.blocking:
        return 1
    return 3
