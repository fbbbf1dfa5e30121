"""The clock model of the proving ground: the kiosk's wall clock is wrong and jumps; the
server's clock is right.

Rules:
- The server's clock is the campaign's `VirtualClock` (the simulator's time, the truth). The
  kiosk sees a `KioskClock` over it: the same monotonic rate (CLOCK_BOOTTIME never steps; it
  starts again from zero at each boot, `reboot()`), and a wall time that is the server's time
  plus an offset.
- The offset is what a Raspberry Pi without a real-time clock really shows: booted with the
  time saved at the last shutdown (fake-hwclock: up to days behind), or ahead after a bad sync;
  kept inside [-3 days, +1 day]. It steps (NTP) at any moment, forward or back, by seconds to
  days; a step never moves monotonic time.
- `step()` is the only way the offset changes; `steps` counts them so a campaign can prove it
  really stepped.
- Waiting (`sleep`, `advance`, `set`) moves both clocks: time passes for everyone.

Theory of operation. A campaign builds one `WallSteps` from its seed (or from a case number)
and gives the kiosk its `clock`. The seeded campaign steps the wall clock as a scripted action
and, with some probability, between outbox steps; the exhaustive campaign steps it before every
outbox step. A product that decides money from the kiosk's wall clock then fails the books;
one that uses monotonic durations and the server's time does not notice.
"""

from __future__ import annotations

import asyncio
import random

from kioskd.clock import VirtualClock

DAY = 86400.0
MIN_OFFSET_S = -3 * DAY  # booted with a time saved three days ago
MAX_OFFSET_S = 1 * DAY  # a day ahead (a bad manual setting, a wrong time zone)
# Step sizes a campaign draws from (seconds): an NTP slew-free step, the -45/+130 s edges of the
# old send window, minutes, the +1 h of a time-zone mistake, days of a stale fake-hwclock.
STEP_SIZES = (1.0, 45.0, 100.0, 130.0, 600.0, 3600.0, 7200.0, DAY, 2 * DAY)


class KioskClock:
    """The kiosk's clock: the server's time plus an offset that steps; monotonic untouched."""

    def __init__(self, server: VirtualClock, offset_s: float = 0.0) -> None:
        self.server = server
        self.offset_s = float(offset_s)
        self.steps = 0
        self.boots = 0
        self._mono_zero = server.monotonic()  # the server's monotonic instant this boot began

    def boot_id(self) -> str:
        return f"campaign-boot-{self.boots}"

    def reboot(self) -> None:
        """A power cut: a new boot, whose monotonic clock starts again from zero (as
        CLOCK_BOOTTIME does): a floor of server time carried across it is `floor + monotonic`,
        which must not count the time the previous boot had already run."""
        self.boots += 1
        self._mono_zero = self.server.monotonic()

    def now(self) -> float:
        return self.server.now() + self.offset_s

    def monotonic(self) -> float:
        return self.server.monotonic() - self._mono_zero

    def step(self, seconds: float) -> None:
        """The wall clock jumps by `seconds` (either sign); monotonic time does not move."""
        self.offset_s += seconds
        self.steps += 1

    def advance(self, seconds: float) -> None:
        self.server.advance(seconds)

    def set(self, unix: float) -> None:
        """Wait until the kiosk's wall clock shows `unix` (never back)."""
        self.server.advance(max(0.0, unix - self.now()))

    async def sleep(self, seconds: float) -> None:
        self.server.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class WallSteps:
    """Where the kiosk's wall clock starts and how it steps, drawn from a seeded RNG."""

    def __init__(self, server: VirtualClock, rng: random.Random, *, step_share: float = 0.0):
        self.rng = rng
        self.step_share = step_share  # probability of a step before each outbox step
        self.clock = KioskClock(server, initial_offset(rng))

    def step(self) -> float:
        """One step of a drawn size and sign, kept inside the model's range; returns it."""
        size = self.rng.choice(STEP_SIZES) * self.rng.choice((1.0, 1.0, 0.5, 1.5))
        delta = size if self.rng.random() < 0.5 else -size
        return self.step_by(delta)

    def step_by(self, delta: float) -> float:
        target = self.clock.offset_s + delta
        if not MIN_OFFSET_S <= target <= MAX_OFFSET_S:
            delta = -delta  # reflect at the model's edges: the step still happens
            target = self.clock.offset_s + delta
        target = min(MAX_OFFSET_S, max(MIN_OFFSET_S, target))
        real = target - self.clock.offset_s
        self.clock.step(real)
        return real

    def maybe_step(self) -> None:
        if self.step_share and self.rng.random() < self.step_share:
            self.step()


def initial_offset(rng: random.Random) -> float:
    """The kiosk's boot-time error: often small, sometimes hours, sometimes days."""
    kind = rng.random()
    if kind < 0.2:
        return 0.0
    if kind < 0.5:
        return rng.uniform(-130.0, 130.0)
    if kind < 0.8:
        return rng.uniform(-7200.0, 7200.0)
    return rng.uniform(MIN_OFFSET_S, MAX_OFFSET_S)
