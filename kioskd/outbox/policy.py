"""Outbox policies: deadlines, caps, probing and backoff numbers (config `offline.*`).

Rules: plain data, no behaviour beyond small pure helpers. Every number has a reason next to it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kioskd.banklot.days import DEFAULT_TIME_ZONE


@dataclass(frozen=True)
class Policy:
    # A queued sale never outlives this age (the customer has left) nor its event's close.
    create_max_age_s: float = 300.0
    # A queued payment waits this long for the server before the slip says it did not happen.
    pay_max_age_s: float = 3600.0
    # Caps on what may wait in the queue (count, and total amount of money).
    max_queued: int = 20
    max_queued_amount: int = 100_000
    # An in-doubt create is "not applied" only after this quiet time since its send *and*
    # this many probes that saw `/last` unchanged (a late commit must have had time to land).
    quiet_period_s: float = 60.0
    not_applied_probes: int = 3
    probe_interval_s: float = 15.0
    # A ticket is "ours" only if the server's created_at falls in [sent_at - skew,
    # sent_at + send_window_s] (read timeout plus slow commits plus clock skew).
    send_window_s: float = 120.0
    clock_skew_s: float = 30.0
    # When /last moved to a ticket that is not ours, the ticket list of the send window is read.
    # False (the rule): ours missing from it -> conflict for a person. True: treat the
    # list like /last (quiet period + probes, then not applied) for accounts shared by terminals.
    window_proves_absence: bool = False
    # Offline backoff: exponential from initial to max, with +-jitter fraction (seeded RNG).
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    backoff_jitter: float = 0.25
    # How often `run()` purges finished operations past retention and checkpoints the WAL.
    housekeeping_interval_s: float = 3600.0
    # The entity's zone (get-data `time_zone`): ticket dates are its local days.
    time_zone: str = DEFAULT_TIME_ZONE

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Delay before the next attempt after `failures` consecutive not-sent failures."""
        base = min(self.backoff_max_s, self.backoff_initial_s * (2.0 ** max(0, failures - 1)))
        return max(0.0, base * (1.0 + self.backoff_jitter * (2.0 * rng.random() - 1.0)))
