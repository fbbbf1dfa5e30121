"""`kioskd sim`: serve the Banklot simulator over HTTP (for the demo, field checks and clients).

The clock is system time plus an offset (`--start` sets where it begins; `POST /_sim/clock`
moves it). Imports only the standard library at module level; the simulator is loaded in `run`.
"""

from __future__ import annotations

import argparse

HELP = "serve the Banklot simulator over HTTP (a fake back office with fault injection)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8750, help="TCP port (0 = any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--email", default="username@banklot.net", help="the account's email")
    parser.add_argument("--password", default="banklot", help="the account's password")
    parser.add_argument(
        "--token-ttl", type=float, default=3600.0, metavar="S", help="token lifetime in seconds"
    )
    parser.add_argument(
        "--start",
        metavar="ISO",
        help="start the clock at this time (e.g. 2024-10-22T10:00:00-04:00); default: now",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")


def run(args: argparse.Namespace) -> int:
    import signal
    import threading
    from datetime import datetime

    from kioskd.clock import OffsetClock
    from kioskd.proving.sim.server import SimServer
    from kioskd.proving.sim.simulator import Simulator

    clock = OffsetClock()
    if args.start:
        try:
            start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        except ValueError:
            print(f"kioskd sim: --start {args.start!r} is not an ISO time")
            return 2
        if start.tzinfo is None:
            print("kioskd sim: --start needs a zone (Z or +HH:MM)")
            return 2
        clock.set(start.timestamp())
    sim = Simulator(
        seed=args.seed,
        clock=clock,
        email=args.email,
        password=args.password,
        token_ttl_s=args.token_ttl,
    )
    server = SimServer(sim, args.host, args.port, log_level=args.log_level)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        print(f"kioskd sim: cannot serve on {args.host}:{args.port}: {exc}")
        return 1
    print(f"Banklot simulator at {server.base_url} (seed {args.seed})", flush=True)
    print(f"account: {args.email} (password as given with --password)", flush=True)
    print(f"admin API: {server.base_url}/_sim/ledger, /_sim/clock, /_sim/faults", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
