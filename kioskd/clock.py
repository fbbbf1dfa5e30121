"""Clocks: the only place where kioskd reads time.

Pure cores (counter session, journal state machine, reconciliation) never call these: they take
`now` as an argument. The edges (outbox loop, simulator, daemon) hold a Clock and pass `now` in.
`VirtualClock` makes whole campaigns deterministic and instant: sleeping advances virtual time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock unix seconds (used for deadlines, API dates, created_at windows)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (used for timeouts and backoff)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that moves only when told to (or when someone sleeps on it)."""

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a virtual clock never goes back")
        self._now += seconds
        self._mono += seconds

    def set(self, unix: float) -> None:
        """Jump wall time (e.g. to an event's closing); monotonic time moves by the same amount."""
        self.advance(max(0.0, unix - self._now))

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class OffsetClock:
    """System time shifted by an adjustable offset (the simulator's clock when served over HTTP)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def set(self, unix: float) -> None:
        self.offset = unix - time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
