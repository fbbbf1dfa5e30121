"""The mutation run: each invariant of the theory switched off in turn must make the campaigns
report violations (the proof can fail).

Rules:
- A mutant is one named product function replaced, inside this process only, for the length
  of a `with mutant(name):` block (a monkeypatch, undone on exit). Product code carries no flag
  for it: the mutants live here, in the proving ground.
- Each mutant switches off exactly one invariant of the theory of operation
  (`kioskd/outbox/reconcile.py`, `kioskd/outbox/outbox.py`) and keeps everything else as
  shipped.
- A mutant is *caught* by a campaign when that campaign reports at least one violation with it
  in a run that the real product passes (a run that fails without the mutant too is not
  counted: it says nothing of the mutant).
  `run()` runs, per mutant, a budget of seeds of the seeded campaign and a sample of the
  exhaustive cases, and returns how many violations each found (each stops early once it has
  found `enough`, so a caught mutant costs little).
- Both campaigns run with the wall clock they ship with (`seeded_chaos.WALL_DEFAULT`; the
  clock model once the product reads no wall clock for money), as the proof does: a mutant
  must be caught in the same worlds in which the product reports 0 violations. The row
  `none` (no mutant) is that baseline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kioskd.outbox import outbox as outbox_module
from kioskd.outbox import reconcile


@dataclass(frozen=True)
class Mutant:
    name: str
    invariant: str  # what the theory promises, in words
    target: str  # "module.function" (or "module.Class.method") that is replaced
    patch: Callable[[], Callable[[], None]]  # applies the mutant; returns the undo


def _replace(owner: Any, attr: str, make: Callable[[Any], Any]) -> Callable[[], None]:
    real = getattr(owner, attr)
    setattr(owner, attr, make(real))
    return lambda: setattr(owner, attr, real)


def _no_hold() -> Callable[[], None]:
    return _replace(outbox_module.Outbox, "_create_held", lambda real: lambda *a, **kw: False)


def _no_quiet_period() -> Callable[[], None]:
    """Probes alone prove "not applied": neither a create nor a pay/cancel waits out the time a
    late commit needs."""

    def settled(*, over: bool, elapsed: float, probes: int, policy: Any) -> bool:
        return over or probes >= policy.not_applied_probes

    def lookup(real: Callable[..., Any]) -> Callable[..., Any]:
        def decide(**kw: Any) -> Any:
            kw["elapsed"] = None  # the decision's quiet-period test needs it: skipped
            return real(**kw)

        return decide

    undo = [
        _replace(reconcile, "request_settled", lambda real: settled),
        _replace(reconcile, "decide_lookup", lookup),
    ]

    def undo_all() -> None:
        for u in reversed(undo):
            u()

    return undo_all


def _no_answer_check() -> Callable[[], None]:
    return _replace(reconcile, "answer_mismatch", lambda real: lambda **kw: None)


def _first_candidate() -> Callable[[], None]:
    """Any candidate decides (the first listed), as `/user/ticket/last` alone once did; and
    the rule's other face goes too: more rows of a total than our creates could own no longer
    tells of another terminal (`surplus_rows`: each create owns one ticket at most)."""
    undo = [
        _replace(
            reconcile,
            "sole_candidate",
            lambda real: lambda candidates: next(iter(candidates), None),
        ),
        _replace(reconcile, "surplus_rows", lambda real: lambda *a, **kw: []),
    ]

    def undo_all() -> None:
        for u in reversed(undo):
            u()

    return undo_all


def _kiosk_wall(outbox: Any) -> Any:
    """The kiosk's own clock under the outbox's server-time clock (itself when plain)."""
    return getattr(outbox.clock, "base", outbox.clock)


def _wall_bracket() -> Callable[[], None]:
    """The send window on the kiosk's wall clock (its reading at the send, -30 s / +120 s), as
    before the server's time was learned: no bracket in server time."""

    def make(real: Callable[..., Any]) -> Callable[..., Any]:
        def bracket(self: Any, op: Any, *, over: bool) -> tuple[float, float]:
            sent = _kiosk_wall(self).now() - self._since_send(op)
            return sent - 30.0, sent + self.policy.send_window_s

        return bracket

    return _replace(outbox_module.Outbox, "_bracket", make)


def _wall_durations() -> Callable[[], None]:
    """Time since a send read off the kiosk's wall clock (a step moves it), not monotonic."""

    def make(real: Callable[..., Any]) -> Callable[..., Any]:
        def since(self: Any, op: Any) -> float:
            return max(0.0, _kiosk_wall(self).now() - (op.sent_at or op.created_at))

        return since

    return _replace(outbox_module.Outbox, "_since_send", make)


MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        Mutant("none", "(baseline: nothing switched off; must find 0)", "-", lambda: lambda: None),
        Mutant(
            "hold",
            "one create per fingerprint in the air (same-fingerprint hold)",
            "kioskd.outbox.outbox.Outbox._create_held",
            _no_hold,
        ),
        Mutant(
            "quiet-period",
            "'not applied' only after the quiet period (a late commit can still land)",
            "kioskd.outbox.reconcile.request_settled + decide_lookup",
            _no_quiet_period,
        ),
        Mutant(
            "bracket",
            "'ours' means created inside the send's bracket in server time",
            "kioskd.outbox.outbox.Outbox._bracket",
            _wall_bracket,
        ),
        Mutant(
            "monotonic",
            "durations (quiet period, ages) come from the monotonic clock",
            "kioskd.outbox.outbox.Outbox._since_send",
            _wall_durations,
        ),
        Mutant(
            "answer-check",
            "an answer is ours only if it carries what was asked (wagers, total, ticket, time)",
            "kioskd.outbox.reconcile.answer_mismatch",
            _no_answer_check,
        ),
        Mutant(
            "one-candidate",
            "'applied' needs exactly one candidate in the whole send window",
            "kioskd.outbox.reconcile.sole_candidate (and surplus_rows)",
            _first_candidate,
        ),
    )
}


@contextlib.contextmanager
def mutant(name: str) -> Iterator[Mutant]:
    """Switch the named invariant off for the block."""
    m = MUTANTS[name]
    undo = m.patch()
    try:
        yield m
    finally:
        undo()


@dataclass
class MutantRow:
    name: str
    target: str
    seeded: int  # violations of the seeded campaign in runs the real product passes
    seeds_run: int
    exhaustive: int  # the same for the exhaustive sample
    cases_run: int
    baseline_failures: int = 0  # runs that fail without the mutant too (not counted above)

    @property
    def caught(self) -> bool:
        """A mutant is caught by both campaigns; the baseline by neither (0 violations)."""
        if self.name == "none":
            return self.seeded == 0 and self.exhaustive == 0
        return self.seeded > 0 and self.exhaustive > 0


def run_one_mutant(
    name: str,
    *,
    seeds: int = 300,
    start: int = 0,
    every: int = 5,
    enough: int = 25,
    variant: str = "shipped",
    wall: str | None = None,
    world: str | None = "field",
) -> MutantRow:
    """The seeded campaign (`seeds` seeds from `start`) and every `every`-th exhaustive case
    with the mutant in place; each stops once it found `enough` violations.

    A run with violations is run again without the mutant: only runs the real product passes
    count (in a world where the product still fails some runs, those say nothing of the
    mutant). The baseline row `none` counts every violation."""
    from kioskd.proving.campaigns import exhaustive, seeded_chaos

    wall = wall or seeded_chaos.WALL_DEFAULT
    world = world or seeded_chaos.WORLD_DEFAULT
    seeded = seeds_run = found = cases_run = baseline = 0
    m = MUTANTS[name]
    for seed in range(start, start + seeds):
        with mutant(name):
            n = len(seeded_chaos.run_one(seed, None, variant, wall, world).violations)
        if (
            n
            and name != "none"
            and seeded_chaos.run_one(seed, None, variant, wall, world).violations
        ):
            baseline += 1
            n = 0
        seeded += n
        seeds_run += 1
        if seeded >= enough:
            break
    for case in exhaustive.cases(world)[::every]:
        with mutant(name):
            ((_, result),) = exhaustive.run_cases([case], variant, wall, world)
        n = len(result.violations)
        if n and name != "none":
            ((_, real),) = exhaustive.run_cases([case], variant, wall, world)
            if real.violations:
                baseline += 1
                n = 0
        found += n
        cases_run += 1
        if found >= enough:
            break
    return MutantRow(name, m.target, seeded, seeds_run, found, cases_run, baseline)
