"""sd_notify: tell systemd we are ready, reloading, stopping, alive (watchdog) and how we are.

Rules:
- Without `$NOTIFY_SOCKET` every call is a no-op returning False: `kioskd run` works the same in
  a terminal. A send error is swallowed and reported as False (systemd restarting must never
  crash the kiosk), except at construction with `strict=True`, for tests.
- `reloading()` sends `MONOTONIC_USEC` with `RELOADING=1` (systemd >= 253 requires it for
  Type=notify-reload and uses it to order the reload); call `ready()` when the reload is done.
- Messages are UTF-8 (STATUS lines contain "·").

Written by hand (~60 lines) instead of through the `sdnotify` package: sdnotify encodes messages
as Latin-1, so the "·" of a STATUS line goes out as a byte that is not UTF-8 and any character
outside Latin-1 makes the send fail silently; the protocol itself is one datagram.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


def _address(raw: str) -> str | bytes:
    # "@name" is an abstract socket: a leading NUL byte on the wire.
    return b"\0" + raw[1:].encode() if raw.startswith("@") else raw


class Notifier:
    """One notify socket; `Notifier()` reads `$NOTIFY_SOCKET` from `environ` (default: os)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address = _address(raw) if raw else None
        self._sock: socket.socket | None = None
        if self.address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: str | int) -> bool:
        """Send `KEY=value` lines in one datagram; True when it was sent."""
        if self._sock is None or self.address is None:
            return False
        for k, v in fields.items():
            if "\n" in str(v):
                raise ValueError(f"sd_notify {k} must be one line")
        msg = "\n".join(f"{k}={v}" for k, v in fields.items()) + "\n"
        try:
            # Never block: this runs on the event loop, and a notify socket nobody drains (a
            # busy manager, a test harness) would otherwise stall the daemon with its buffer
            # full (found by bench/bench_memory.py after ~5,000 STATUS updates). A datagram
            # that does not fit is dropped; the next STATUS or WATCHDOG says the same again.
            self._sock.sendto(msg.encode("utf-8"), socket.MSG_DONTWAIT, self.address)
        except OSError:  # BlockingIOError included
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send(READY=1, **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def reloading(self, status: str | None = "reloading configuration") -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(RELOADING=1, MONOTONIC_USEC=usec, **({"STATUS": status} if status else {}))

    def stopping(self, status: str | None = "stopping") -> bool:
        return self.send(STOPPING=1, **({"STATUS": status} if status else {}))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """The unit's WatchdogSec in seconds when it applies to this process, else None.
    Ping at half this interval (`sd_watchdog_enabled` semantics, honouring `$WATCHDOG_PID`)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    wpid = env.get("WATCHDOG_PID", "")
    if wpid and (not wpid.isdigit() or int(wpid) != (os.getpid() if pid is None else pid)):
        return None
    return int(usec) / 1_000_000
