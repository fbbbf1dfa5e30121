"""A fake ``/dev/input`` tree: FIFO nodes carrying evtest text, sidecar headers, by-id links."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from kioskd.input.evtest import EvtestHeader, format_header

SCANNER = EvtestHeader("Datalogic ADC Handheld Barcode Scanner", 3, 0x05F9, 0x2206, 0x110)
KEYPAD = EvtestHeader("SEM USB Keypad", 3, 0x1A2C, 0x0E24, 0x110)


class FakeTree:
    """Plug and unplug fake devices under `base` (what udev would do to /dev/input)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        (base / "by-id").mkdir(parents=True)
        self.writers: dict[int, int] = {}

    def plug(self, n: int, header: EvtestHeader, by_id: str | None = None) -> Path:
        node = self.base / f"event{n}"
        os.mkfifo(node)
        # The test holds a read-write end: writing never blocks on a missing reader, and the
        # node's reader sees end-of-file (= unplugged) only when this end is closed.
        self.writers[n] = os.open(node, os.O_RDWR | os.O_NONBLOCK)
        (self.base / f"event{n}.info").write_text(format_header(header))
        if by_id:
            (self.base / "by-id" / by_id).symlink_to(f"../event{n}")
        return node

    def type(self, n: int, text: str) -> None:
        os.write(self.writers[n], text.encode())

    def unplug(self, n: int) -> None:
        for link in (self.base / "by-id").iterdir():
            if os.path.realpath(link) == str(self.base / f"event{n}"):
                link.unlink()
        (self.base / f"event{n}.info").unlink()
        (self.base / f"event{n}").unlink()
        os.close(self.writers.pop(n))

    def close(self) -> None:
        for fd in self.writers.values():
            os.close(fd)


async def until(condition: Callable[[], bool], guard_s: float = 10.0) -> None:
    """Wait for `condition` (the guard only stops a broken test from hanging)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + guard_s
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)
