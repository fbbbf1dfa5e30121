"""sd_notify: tell systemd we are ready, reloading, stopping, alive (watchdog) and how we are.

Rules:
- Without `$NOTIFY_SOCKET` every call is a no-op returning False: `kioskd run` works the same in
  a terminal. A send error is swallowed and reported as False (systemd restarting must never
  crash the kiosk); the next send connects again.
- `reloading()` sends `MONOTONIC_USEC` with `RELOADING=1` (systemd >= 253 requires it for
  Type=notify-reload and uses it to order the reload); call `ready()` when the reload is done.
- Messages are ASCII: the `sdnotify` package (the product card's) encodes them as Latin-1, so
  text is transliterated first ("·" -> "-", "ñ" -> "n"); what has no ASCII form is dropped. A
  value holding a line break is a bug (it would forge another field): ValueError.
- Never block the event loop: sdnotify's notifier sends through a non-blocking socket we connect
  ourselves. A datagram that does not fit in a full socket buffer is dropped (False); the next
  STATUS or WATCHDOG says the same again.
"""

from __future__ import annotations

import os
import socket
import time
import unicodedata
from collections.abc import Mapping

import sdnotify

# Characters whose NFKD form is not ASCII but which have a readable ASCII stand-in.
_STAND_INS = str.maketrans(
    {"·": "-", "–": "-", "—": "-", "…": "...", "€": "EUR", "«": '"', "»": '"', "×": "x"}
)


def ascii_text(text: str) -> str:
    """`text` with accents stripped, a few signs spelled in ASCII and anything else dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_STAND_INS))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def _address(raw: str) -> str | bytes:
    # "@name" is an abstract socket: a leading NUL byte on the wire.
    return b"\0" + raw[1:].encode() if raw.startswith("@") else raw


class _NonBlockingNotifier(sdnotify.SystemdNotifier):
    """sdnotify's notifier over a socket we connected, non-blocking, to the address we were
    given (its own constructor reads `os.environ` and connects a blocking socket)."""

    def __init__(self, sock: socket.socket) -> None:
        self.debug = True  # raise send errors: `Notifier.send` turns them into False
        self.socket = sock


class Notifier:
    """One notify socket; `Notifier()` reads `$NOTIFY_SOCKET` from `environ` (default: os)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address = _address(raw) if raw else None
        self._notifier: _NonBlockingNotifier | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def _connected(self, address: str | bytes) -> _NonBlockingNotifier:
        if self._notifier is None:
            sock = socket.socket(
                socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
            )
            try:
                sock.connect(address)
            except OSError:
                sock.close()
                raise
            self._notifier = _NonBlockingNotifier(sock)
        return self._notifier

    def send(self, **fields: str | int) -> bool:
        """Send `KEY=value` lines in one datagram; True when it was sent."""
        if self.address is None:
            return False
        for k, v in fields.items():
            if "\n" in str(v):
                raise ValueError(f"sd_notify {k} must be one line")
        msg = "".join(f"{k}={ascii_text(str(v))}\n" for k, v in fields.items())
        try:
            self._connected(self.address).notify(msg)
        except BlockingIOError:  # the buffer is full: this datagram is dropped
            return False
        except OSError:  # gone or refused (systemd re-executing): connect again next time
            self.close()
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
        if self._notifier is not None:
            self._notifier.socket.close()
            self._notifier = None


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
