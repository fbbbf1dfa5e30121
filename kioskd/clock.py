"""Clocks: the only place where kioskd reads time.

Pure cores (counter session, journal state machine, reconciliation, the server-time estimator)
never call these: they take `now` as an argument. The edges (outbox loop, simulator, daemon)
hold a Clock and pass `now` in. `VirtualClock` makes whole campaigns deterministic and instant:
sleeping advances virtual time.

Two kinds of time, never mixed (docs: `kioskd/servertime.py`, theory of operation):
- `monotonic()` measures durations. On Linux it is CLOCK_BOOTTIME: it never steps, and unlike
  CLOCK_MONOTONIC it keeps counting through a suspend (a quiet period that spans a suspend has
  really passed). It is meaningful only within one boot (`boot_id()` tells boots apart).
- `now()` is the kiosk's wall clock. A Raspberry Pi has no real-time clock: it boots with the
  time saved at the last shutdown and steps when NTP syncs. It decides nothing about money; the
  daemon uses it only for logs and to show the skew. Instants that decide money come from
  `ServerTimeClock`, the server-time estimate laid over the monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from pathlib import Path
from typing import Protocol

from kioskd.servertime import Estimate, ServerTime

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds. The kiosk's wall clock (`SystemClock`), or the server-time estimate
        (`ServerTimeClock`): which one a part gets is the daemon's choice."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds that survive suspend (timeouts, durations, backoff)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


async def wait_event(clock: Clock, event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` of `clock` have passed, whichever comes first.

    A clock that sleeps in real time offers `wait` (one timer, no task: a sale's outbox goes
    idle about twice, and the two tasks and the `asyncio.wait` of the general way cost it
    about 0.3 ms, issue 19). Any other clock (a virtual one: its `sleep` moves time) has its
    `sleep` race the event, each in a task of its own."""
    wait = getattr(clock, "wait", None)
    if wait is not None:
        await wait(event, seconds)
        return
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waker = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waker.cancel()


def sleeps_in_real_time(clock: Clock) -> bool:
    """Does `clock`'s time pass on its own, as the event loop's timers do (a `SystemClock`, an
    `OffsetClock`, a `ServerTimeClock` over either: they offer `wait`)? Then a plain timer of
    the loop (`call_later`) stands for `clock.sleep` without a task; a virtual clock's time
    moves only when someone sleeps on it."""
    while isinstance(clock, ServerTimeClock):
        clock = clock.base
    return getattr(clock, "wait", None) is not None


async def _wait_real(event: asyncio.Event, seconds: float) -> None:
    """`wait` of the clocks whose `sleep` is `asyncio.sleep`: the loop's timer bounds it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()


def _boottime() -> float:
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # not Linux: the plain monotonic clock
        return time.monotonic()


def boot_id(path: Path = BOOT_ID_PATH) -> str:
    """This boot's identity: monotonic instants of another boot mean nothing here."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class SystemClock:
    """Real time: the wall clock and CLOCK_BOOTTIME."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return _boottime()

    def boot_id(self) -> str:
        return boot_id()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        """Until `event` is set, at most `seconds` (see `wait_event`)."""
        await _wait_real(event, seconds)


class VirtualClock:
    """Time that moves only when told to (or when someone sleeps on it).

    `advance` moves true time (monotonic and wall together); `step_wall` moves only the wall
    clock, by any amount either way (an NTP step, a kiosk booted with an old saved time):
    durations and the true timeline do not notice. `true_now()` is the timeline a server keeps;
    `server_view(offset)` is a Clock on it, for a simulator whose clock is off by `offset`."""

    def __init__(self, start: float, *, boot: str = "virtual-boot-0") -> None:
        self._true = float(start)
        self._mono = 0.0
        self.wall_offset = 0.0
        self._boot = boot

    def now(self) -> float:
        return self._true + self.wall_offset

    def true_now(self) -> float:
        return self._true

    def monotonic(self) -> float:
        return self._mono

    def boot_id(self) -> str:
        return self._boot

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a virtual clock never goes back (step_wall steps the wall clock)")
        self._true += seconds
        self._mono += seconds

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock only (forward or back, any size); monotonic time is untouched."""
        self.wall_offset += seconds

    def reboot(self, boot: str | None = None) -> None:
        """A new boot: the monotonic clock starts again from zero under a new boot id."""
        self._mono = 0.0
        self._boot = boot or f"{self._boot}+"

    def set(self, unix: float) -> None:
        """Jump wall time forward to `unix` (e.g. to an event's closing); monotonic time and the
        true timeline move by the same amount (never back)."""
        self.advance(max(0.0, unix - self.now()))

    def server_view(self, offset: float = 0.0) -> ServerView:
        return ServerView(self, offset)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class ServerView:
    """A server's clock on a VirtualClock's true timeline, `offset` seconds off (adjustable).
    Steps of the kiosk's wall clock do not move it."""

    def __init__(self, base: VirtualClock, offset: float = 0.0) -> None:
        self.base = base
        self.offset = offset

    def now(self) -> float:
        return self.base.true_now() + self.offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    def advance(self, seconds: float) -> None:
        self.base.advance(seconds)

    def set(self, unix: float) -> None:
        self.base.advance(max(0.0, unix - self.now()))

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


class OffsetClock:
    """System time shifted by an adjustable offset (the simulator's clock when served over HTTP;
    the in-process flow rig's shared clock).

    `advance(s)` (and `set` forward) is time passing: the wall clock and the monotonic clock
    move together, as they would on a real counter. `step_wall(s)` moves the wall clock only
    (an NTP step, either way); `advance` with a negative amount is such a step back too."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self._mono_extra = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return _boottime() + self._mono_extra

    def boot_id(self) -> str:
        return boot_id()

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self._mono_extra += max(0.0, seconds)

    def step_wall(self, seconds: float) -> None:
        self.offset += seconds

    def set(self, unix: float) -> None:
        self.advance(unix - self.now())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        """Until `event` is set, at most `seconds` (see `wait_event`)."""
        await _wait_real(event, seconds)


class ServerTimeClock:
    """A Clock whose `now()` is the server-time estimate (never the wall clock) and whose
    `monotonic()` is the base clock's. Give it to every part that decides money: the outbox,
    the executor, the counter session's `now`. While the server time is not yet known on this
    boot, `now()` is the estimator's provisional floor (see `kioskd/servertime.py`)."""

    def __init__(self, base: Clock, estimator: ServerTime) -> None:
        self.base = base
        self.estimator = estimator

    def now(self) -> float:
        """The lower bound of the server's clock: a stamp never ahead of the server (a send's
        `sent_at` is its bracket's lower bound; a check of "too late" errs towards letting the
        server decide). Nothing known and no floor (a journal that never reached the server):
        the wall clock stands in for stamps, and the outbox refuses new money in that state."""
        lower = self.estimator.lower(self.base.monotonic())
        return lower if math.isfinite(lower) else self.base.now()

    def monotonic(self) -> float:
        return self.base.monotonic()

    def state(self) -> str:
        return self.estimate().state

    def boot_id(self) -> str:
        boot = getattr(self.base, "boot_id", None)
        return str(boot()) if callable(boot) else "unknown"

    def estimate(self) -> Estimate:
        return self.estimator.estimate(self.base.monotonic())

    def lower(self) -> float:
        return self.estimator.lower(self.base.monotonic())

    def upper(self) -> float:
        return self.estimate().upper

    def advance(self, seconds: float) -> None:
        """Time passes (a virtual base clock only): monotonic and server time move together."""
        self.base.advance(seconds)  # type: ignore[attr-defined]

    def set(self, unix: float) -> None:
        """Wait until the server-time estimate reads `unix` (a virtual base; never back)."""
        self.advance(max(0.0, unix - self.now()))

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        """Until `event` is set, at most `seconds`: the base clock's way (`wait_event`)."""
        await wait_event(self.base, event, seconds)
