"""A stepping wall clock for a real process: libfaketime (Debian's `faketime` package).

Rules:
- The daemon runs with libfaketime preloaded (`LD_PRELOAD`) and reads its offset from a file
  (`FAKETIME_TIMESTAMP_FILE`) on every call (`FAKETIME_NO_CACHE=1`); the campaign rewrites the
  file (atomically: write, then rename) to step the clock while the process runs.
- Only the wall clock moves: `FAKETIME_DONT_FAKE_MONOTONIC=1` keeps CLOCK_MONOTONIC and
  CLOCK_BOOTTIME true, as on a Raspberry Pi whose NTP steps the wall clock. `probe()` checks
  that in a child process with the same environment.
- The offset is relative to the real time ("+N" / "-N" seconds), so the process keeps ticking.
- The simulator (the server) runs in the campaign's own process, without the library: the
  server's clock stays apart from the kiosk's.
- The multi-threaded build (`libfaketimeMT.so.1`) is preferred: the daemon has threads.

Why hand-written: libfaketime has no Python API; this is the few lines that drive its file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu/faketime",
    "/usr/lib/aarch64-linux-gnu/faketime",
    "/usr/lib/arm-linux-gnueabihf/faketime",
    "/usr/lib/faketime",
)
LIBRARY_NAMES = ("libfaketimeMT.so.1", "libfaketime.so.1")


def find_library() -> str | None:
    """The libfaketime shared object, or None when the `faketime` package is not installed."""
    for d in LIBRARY_DIRS:
        for name in LIBRARY_NAMES:
            path = Path(d) / name
            if path.exists():
                return str(path)
    return None


class FaketimeWall:
    """The offset file of one process tree's wall clock, and the environment that reads it."""

    def __init__(self, path: str | Path, offset_s: float = 0.0) -> None:
        lib = find_library()
        if lib is None:
            raise RuntimeError("libfaketime not found: install the Debian package `faketime`")
        self.library = lib
        self.path = Path(path)
        self.offset_s = 0.0
        self.steps = 0
        self._write(offset_s)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": self.library,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_DONT_RESET": "1",  # a child (none today) keeps the parent's offset
        }

    def _write(self, offset_s: float) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+.0f}\n")
        os.replace(tmp, self.path)
        self.offset_s = float(round(offset_s))

    def set(self, offset_s: float) -> None:
        """The process's wall clock now shows real time + `offset_s` (a step if it changed)."""
        if round(offset_s) != self.offset_s:
            self.steps += 1
        self._write(offset_s)

    def step(self, seconds: float) -> None:
        self.set(self.offset_s + seconds)

    def probe(self) -> dict[str, float]:
        """What a process started with `env()` sees: wall offset from the real time, and how far
        its monotonic and boot-time clocks are from ours (both must be ~0)."""
        import time

        code = (
            "import json, time; print(json.dumps({'wall': time.time(), "
            "'mono': time.monotonic(), 'boot': time.clock_gettime(time.CLOCK_BOOTTIME)}))"
        )
        before = time.time()
        mono, boot = time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME)
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        seen = json.loads(out.stdout)
        return {
            "wall_offset_s": seen["wall"] - before,
            "monotonic_off_s": seen["mono"] - mono,
            "boottime_off_s": seen["boot"] - boot,
        }


def loaded_in(pid: int) -> bool:
    """Is libfaketime mapped into process `pid` (the daemon really runs under it)?"""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return "libfaketime" in maps
