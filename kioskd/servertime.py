"""The server's clock, estimated from its answers: a pure core (no clock, no I/O inside).

Rules:
- No time is read here. Callers pass monotonic instants (CLOCK_BOOTTIME seconds, `Clock.
  monotonic()`) and what the server said; this module answers with intervals of server time.
- The kiosk's wall clock never enters: not as a sample, not as a fallback, not as a bound.
- Every answer says what it surely knows: `Estimate.lower <= server time <= Estimate.upper`
  (given the drift bound below). A value in between (`Estimate.value`) is for display and for
  stamping; a decision that needs certainty uses a bound.

Theory of operation (Cristian's algorithm, TrueTime's intervals; docs/ARCHITECTURE.md "Time").
A Raspberry Pi has no real-time clock: it boots with the time saved at the last shutdown and
steps when NTP syncs, minutes to days later. So kioskd keeps two kinds of time apart:
durations (quiet period, probe spacing, ages, PENDING timers, backoff) are differences of the
monotonic clock, which never steps and counts through a suspend; instants (deadlines, "draw
closed", the cancel window, the dates of a barcode without a date, results and report days,
the send bracket of `created_at`) are server time.

Learning. Every API answer carries an HTTP `Date` header (whole seconds). An exchange that
started at monotonic `s` and ended at `e` with `Date: D` proves that at some monotonic instant
in [s, e] the server's clock read something in [D, D + 1). So the offset `server - monotonic`
lies in [D - e, D + 1 - s]. Samples are intersected; between samples the interval widens by
`DRIFT` (the largest rate difference between the server's clock and ours, per second elapsed).
A sample that does not overlap what we know means the server's clock stepped (or a proxy's
clock answered): the new sample replaces the old knowledge and `steps` counts it. `/gaming/time`
(read once at start) is one more sample, with its own resolution.

Unknown server time. Until a first sample on this boot, the estimate is not `known`:
- After a restart on the same boot (`/proc/sys/kernel/random/boot_id` unchanged) the offset
  saved in the journal is still valid (monotonic instants of one boot stay comparable): known
  at once, widened by the drift since it was saved.
- After a reboot the saved figure is only a *floor*: the server's clock had passed `L` before
  the machine went down, and the new boot's monotonic clock starts at zero, so now the server
  reads at least `L + monotonic`. The estimate is then `provisional`: its value is that floor
  and its upper bound unknown. The daemon keeps selling on it (a sale queued offline at boot):
  ages stay true (differences on one timeline), and when the first answer makes the time known
  the timeline can only jump forward, so a queued sale may expire early (a NOT SOLD slip,
  nothing sent) but never late; the server itself refuses a closed draw or a passed cancel
  window, so a check against a floor errs only towards letting the server decide.
- With no floor at all (a journal that never reached the server) nothing is known: new money
  is refused with the reason "server time unknown" until an answer arrives (such a kiosk has
  no catalog either, so nothing could be sold anyway).

The bracket of a send (what "ours" means for a `created_at`): the outbox stamps a send with
the lower bound known just before its first byte left (`sent_at`) and, once the request ended,
the upper bound known then (`sent_hi`); `outbox/reconcile.py` widens them by the `Date`
header's resolution and owns the one check of a `created_at` against them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

# The HTTP Date header has whole seconds: a stamp D means [D, D + 1).
DATE_RESOLUTION_S = 1.0
# Rate difference bound between the server's clock and the kiosk's monotonic clock: crystals
# are within 100 ppm, and ntpd slews a clock at most 500 ppm; 1e-3 covers both with margin
# (3.6 s per hour without an answer, far below anything that decides money).
DRIFT = 1e-3
# The skew (server time minus the kiosk's wall clock) above which kioskd warns (status, log,
# metric, alert rule, `kioskd doctor`): the one threshold, so doctor and daemon agree. Money
# no longer depends on it; a skew this large means NTP is not working, which matters to the
# logs' timestamps and to a technician reading them.
WARN_SKEW_S = 300.0
# A change of skew this large is logged again (an NTP step, the server's clock stepping).
LOG_SKEW_CHANGE_S = 30.0

KNOWN = "known"
PROVISIONAL = "provisional"  # a floor carried across a reboot, no sample yet
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Estimate:
    """Server time at one monotonic instant: `lower <= t <= upper`; `value` in between."""

    state: str  # known, provisional, unknown
    lower: float
    upper: float
    value: float

    @property
    def known(self) -> bool:
        return self.state == KNOWN

    @property
    def uncertainty(self) -> float:
        return (self.upper - self.lower) / 2.0


class SavedTime(TypedDict):
    """What the journal keeps of the estimator (`to_record` / `from_record`)."""

    boot_id: str
    mono: float  # monotonic instant the offset interval refers to
    lo: float  # offset interval (server - monotonic) at `mono`
    hi: float
    floor: float  # a server instant surely passed when saved


def parse_http_date(text: str | None) -> float | None:
    """The HTTP `Date` header as unix seconds; None when absent or unreadable."""
    if not text:
        return None
    # Imported at the first answer, not before READY=1 (issue 19: ~7 ms of CPU here); httpx
    # has the email package in by then.
    from email.utils import parsedate_to_datetime

    try:
        dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None or dt.tzinfo is None:
        return None
    value = dt.timestamp()
    return value if math.isfinite(value) else None


class ServerTime:
    """The estimator. Feed it `learn(...)`; ask `estimate(mono)`."""

    def __init__(self) -> None:
        self._lo = -math.inf  # offset bounds at `_ref` (server - monotonic)
        self._hi = math.inf
        self._ref = 0.0
        self._known = False
        self._floor: tuple[float, float] | None = None  # (server lower bound, at monotonic)
        self.samples = 0
        self.steps = 0  # samples that contradicted what was known: the server's clock stepped

    # ----------------------------------------------------------------- learning

    def learn(
        self, server: float, started: float, ended: float, resolution: float = DATE_RESOLUTION_S
    ) -> bool:
        """One answer: the server read [server, server + resolution) at some monotonic instant
        in [started, ended]. Returns False when it contradicted what was known (a step)."""
        if not (math.isfinite(server) and math.isfinite(started) and math.isfinite(ended)):
            return True
        started, ended = min(started, ended), max(started, ended)
        lo, hi = server - ended, server + resolution - started
        self.samples += 1
        agreed = True
        if self._known:
            old_lo, old_hi = self._widened(ended)
            new_lo, new_hi = max(old_lo, lo), min(old_hi, hi)
            if new_lo <= new_hi:
                lo, hi = new_lo, new_hi
            else:
                agreed = False
                self.steps += 1
        self._lo, self._hi, self._ref, self._known = lo, hi, ended, True
        return agreed

    def _widened(self, mono: float) -> tuple[float, float]:
        spread = DRIFT * abs(mono - self._ref)
        return self._lo - spread, self._hi + spread

    def _floor_at(self, mono: float, floor: tuple[float, float]) -> float:
        """The provisional lower bound at `mono`: the saved floor, grown at the slowest rate."""
        floor_server, floor_mono = floor
        return floor_server + max(0.0, mono - floor_mono) * (1.0 - DRIFT)

    # ----------------------------------------------------------------- asking

    def estimate(self, mono: float) -> Estimate:
        if self._known:
            lo, hi = self._widened(mono)
            return Estimate(KNOWN, mono + lo, mono + hi, mono + (lo + hi) / 2.0)
        if self._floor is not None:
            lower = self._floor_at(mono, self._floor)
            return Estimate(PROVISIONAL, lower, math.inf, lower)
        return Estimate(UNKNOWN, -math.inf, math.inf, math.nan)

    def lower(self, mono: float) -> float:
        """`estimate(mono).lower` without building the estimate (the same arithmetic): the
        money clock's `now()` reads it a couple of dozen times a sale (issue 19, CPU)."""
        if self._known:
            return mono + self._widened(mono)[0]
        if self._floor is not None:
            return self._floor_at(mono, self._floor)
        return -math.inf

    def now(self, mono: float) -> float:
        """The server time to stamp and compare with (provisional: the floor; unknown: NaN)."""
        return self.estimate(mono).value

    @property
    def known(self) -> bool:
        return self._known

    # ----------------------------------------------------------------- carrying it over

    def to_record(self, boot_id: str, mono: float) -> SavedTime | None:
        """What to save (nothing while nothing is known)."""
        est = self.estimate(mono)
        if est.state == UNKNOWN:
            return None
        if self._known:
            lo, hi = self._widened(mono)
        else:
            lo = hi = est.lower - mono
        return {"boot_id": boot_id, "mono": mono, "lo": lo, "hi": hi, "floor": est.lower}

    def restore(self, record: Mapping[str, float | str], boot_id: str, mono: float) -> str:
        """Take back a saved record: the same boot keeps the offset (known); another boot only
        keeps a floor (provisional). Returns the state it leaves the estimate in."""
        try:
            floor = float(record["floor"])
            same_boot = record["boot_id"] == boot_id and float(record["mono"]) <= mono
            lo, hi, ref = float(record["lo"]), float(record["hi"]), float(record["mono"])
        except (KeyError, TypeError, ValueError):
            return self.estimate(mono).state
        if not all(math.isfinite(x) for x in (floor, lo, hi, ref)):
            return self.estimate(mono).state
        if same_boot and boot_id != "unknown" and not self._known:
            self._lo, self._hi, self._ref, self._known = lo, hi, ref, True
        elif not self._known and (self._floor is None or floor > self._floor[0]):
            # Another boot: the server had passed `floor` before this boot's monotonic zero.
            self._floor = (floor, 0.0)
        return self.estimate(mono).state


def skew(estimate: Estimate, wall: float) -> float | None:
    """Server time minus the kiosk's wall clock (None while the server time is not known)."""
    if not estimate.known:
        return None
    return estimate.value - wall
