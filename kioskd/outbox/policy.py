"""Outbox policies: deadlines, caps, probing and backoff numbers.

Rules: plain data, no behaviour beyond small pure helpers. Every number has a reason next to it.
The numbers an operator may set (config `[offline]` and `[reconcile]`) have no default here:
`kioskd.config.outbox_policy()` builds the policy from the config (its defaults when no file is
given), so the daemon, the chaos campaign and the benchmarks all run what ships. The reasons for
those numbers live next to the keys in `config/kioskd.toml`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kioskd.banklot.days import DEFAULT_TIME_ZONE


@dataclass(frozen=True)
class Policy:
    """The outbox's numbers: deadlines, caps, probing and backoff."""

    # --- from the config ([offline], [reconcile]); no defaults here: one source of numbers.
    # A queued sale never outlives this age (the customer has left) nor its event's close.
    create_max_age_s: float
    # A queued payment waits this long for the server before the slip says it did not happen.
    pay_max_age_s: float
    # Caps on what may wait in the queue (count, and total amount of money).
    max_queued: int
    max_queued_amount: int
    # After a timeout, a dropped connection or a proxy's error page, "not applied" is concluded
    # only once this long has passed since the send (the request may still commit on the
    # server) and `not_applied_probes` probes found nothing. After the API's own error
    # envelope the request is over: the first probe that finds nothing decides.
    quiet_period_s: float
    not_applied_probes: int
    probe_interval_s: float
    # Other terminals sell on this account (config `api.shared_account`): a ticket with our
    # wagers found during a doubt may be theirs, so it goes to a person (reconcile, ambiguity 5).
    shared_account: bool = False
    # --- fixed by the protocol, not by the shop.
    # A listed ticket of our total that cannot be looked up may be ours: this many probes (a
    # transient lookup failure passes), then a person decides (reconcile, ambiguity 8).
    unreadable_probes: int = 3
    # Before a ticket found by listing is printed as ours on an account not known to be
    # shared, the account's sales of this span before the send are searched for another
    # terminal's (reconcile, ambiguity 5): a terminal that shares an account sells on it every
    # day, and a day's list is a few hundred rows at most (each span is listed once).
    history_lookback_s: float = 86400.0
    # A send's bracket is server time learnt from answers (`reconcile.send_window`). Only when
    # no upper bound of the server's clock is known at all (a virtual clock without an
    # estimator; a journal row from before schema version 4) does this fixed span after the
    # send's lower bound frame it (read timeout plus slow commits).
    send_window_s: float = 120.0
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
