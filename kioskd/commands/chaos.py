"""`kioskd chaos`: the deterministic crash-and-fault campaign of the journal and the outbox.

Each seed is one run (see `kioskd.proving.campaigns.seeded_chaos`). Failures print their seed,
the invariant and the operation's history; a failing seed replays exactly with
`--start SEED --seeds 1`. Exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TypedDict

HELP = (
    "run the deterministic crash/fault campaign of the journal and outbox "
    "(or, with --kills / --power-cuts, the real-process campaigns)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=500, help="number of runs (default 500)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--policy",
        choices=("shipped", "short"),
        default="shipped",
        help="timers: the shipped config defaults, or a short-timer variant (default shipped; "
        "also for --kills and --power-cuts, where the daemon's config gets them)",
    )
    parser.add_argument(
        "--exhaustive",
        action="store_true",
        help="instead of seeds: every interleaving of two sales and one payout with every fault "
        "at every request, once or twice in a row (small cases, not random; --jobs spreads "
        "them over processes, --every N runs a sample)",
    )
    parser.add_argument(
        "--wall",
        choices=("true", "skewed"),
        default=None,
        help="the kiosk's wall clock in the seeded and exhaustive campaigns: the server's own "
        "(true) or the clock model (skewed: off by -3 days .. +1 day and stepping, forward and "
        "back; the exhaustive run steps it before every outbox step); default: "
        "the campaign's shipped default. With --kills, skewed runs the real daemon under "
        "libfaketime (the `faketime` package) with a stepping wall clock",
    )
    parser.add_argument(
        "--world",
        choices=("api", "field"),
        default=None,
        help="the faults of the seeded and exhaustive campaigns: the API's own (api) or also "
        "the field's (gateways 502/504 with a JSON body while the upstream commits later, "
        "answers with other wagers or a replayed ticket, numbers beyond 64 bits, other "
        "terminals selling the same or other wagers, rows the lookup cannot read); default: "
        "field",
    )
    parser.add_argument(
        "--mutants",
        nargs="*",
        metavar="NAME",
        default=None,
        help="instead: the mutation run; each invariant of the theory (or only those NAMEd) is "
        "switched off in turn and the seeded (--seeds, default 500) and exhaustive (every "
        "--every-th case) campaigns must report violations in runs the real product passes "
        "(field world unless --world api); exits 1 if one is not caught",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=None,
        help="run every N-th exhaustive case (--exhaustive: default 1, all; --mutants: default 5)",
    )
    parser.add_argument(
        "--tmpdir", default=None, help="directory for the per-run SQLite files (default: system)"
    )
    parser.add_argument(
        "--power-cuts",
        type=int,
        metavar="N",
        help="instead: the power-cut campaign (real daemon, journal on a FUSE filesystem that "
        "drops unsynced writes) with N cuts; --start is its seed",
    )
    parser.add_argument(
        "--kills",
        type=int,
        metavar="N",
        help="instead: the real-process kill -9 campaign with N kills; --start is its seed",
    )


class SeedRow(TypedDict):
    """One seed's result as a worker process sends it back (pickled)."""

    seed: int
    violations: list[dict[str, Any]]
    operations: int
    crashes: int
    faults: int
    in_doubt: int
    together: int
    alarms: int
    states: dict[str, int]


def _chunk(args: tuple[int, int, str | None, str, str, str]) -> list[SeedRow]:
    from kioskd.proving.campaigns.seeded_chaos import run_range

    start, count, tmpdir, variant, wall, world = args
    out: list[SeedRow] = []
    for r in run_range(start, count, tmpdir, variant, wall, world):
        out.append(
            {
                "seed": r.seed,
                "violations": [v.to_json() for v in r.violations],
                "operations": r.operations,
                "crashes": r.crashes,
                "faults": r.faults,
                "in_doubt": r.in_doubt,
                "together": r.together,
                "alarms": r.alarms,
                "states": r.states,
            }
        )
    return out


def _wall(args: argparse.Namespace) -> str:
    from kioskd.proving.campaigns.seeded_chaos import WALL_DEFAULT

    return getattr(args, "wall", None) or WALL_DEFAULT


def _world(args: argparse.Namespace) -> str:
    from kioskd.proving.campaigns.seeded_chaos import WORLD_DEFAULT

    return getattr(args, "world", None) or WORLD_DEFAULT


def _mutants(args: argparse.Namespace) -> int:
    from kioskd.proving.campaigns.mutants import MUTANTS, run_one_mutant

    names = args.mutants or list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    every = args.every or 5
    if unknown or args.seeds < 1 or every < 1:
        known = ", ".join(MUTANTS)
        print(f"kioskd chaos: unknown mutant(s) {unknown} (known: {known}) or bad --seeds/--every",
              file=sys.stderr)  # fmt: skip
        return 2
    missed = 0
    for name in names:
        started = time.monotonic()
        row = run_one_mutant(
            name,
            seeds=args.seeds,
            start=args.start,
            every=every,
            variant=args.policy,
            wall=getattr(args, "wall", None),
            world=getattr(args, "world", None) or "field",
        )
        missed += not row.caught
        seconds = round(time.monotonic() - started, 1)
        if args.json:
            print(json.dumps({"mutant": name, "target": row.target, "seeded": row.seeded,
                              "seeds_run": row.seeds_run, "exhaustive": row.exhaustive,
                              "cases_run": row.cases_run, "caught": row.caught,
                              "seconds": seconds}), flush=True)  # fmt: skip
        else:
            print(
                f"{name}: seeded {row.seeded} violations in {row.seeds_run} seeds, "
                f"exhaustive {row.exhaustive} in {row.cases_run} cases -> "
                f"{'caught' if row.caught else 'NOT CAUGHT'} ({row.target}; {seconds} s)",
                flush=True,
            )
    return 1 if missed else 0


def _case_chunk(args: tuple[int, int, int, str, str, str]) -> list[tuple[str, list[Any]]]:
    """Cases [start, stop) (every `every`-th of `cases(world)`), as (case text, violations)."""
    from kioskd.proving.campaigns.exhaustive import cases, run_cases

    start, stop, every, variant, wall, world = args
    chosen = cases(world)[::every][start:stop]
    return [(str(case), r.violations) for case, r in run_cases(chosen, variant, wall, world)]


def _exhaustive(args: argparse.Namespace) -> int:
    from kioskd.proving.campaigns.exhaustive import cases

    started = time.monotonic()
    runs = violations = 0
    wall = _wall(args)
    every = getattr(args, "every", None) or 1
    world = _world(args)
    total = len(cases(world)[::every])
    jobs = max(1, args.jobs)
    size = max(1, min(200, total // (jobs * 4) or 1))
    chunks = [
        (s, min(total, s + size), every, args.policy, wall, world) for s in range(0, total, size)
    ]
    if jobs == 1:
        rows = (row for c in chunks for row in _case_chunk(c))
    else:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=jobs)
        rows = (row for part in pool.map(_case_chunk, chunks) for row in part)
    for case, found in rows:
        runs += 1
        for v in found:
            violations += 1
            if args.json:
                print(json.dumps({"case": str(case), **v.to_json()}), flush=True)
            else:
                print(f"{case}: {v.invariant}: {v.detail}", flush=True)
                for line in v.history:
                    print(f"    {line}", flush=True)
    elapsed = time.monotonic() - started
    if args.json:
        print(
            json.dumps(
                {
                    "summary": {
                        "cases": runs,
                        "violations": violations,
                        "policy": args.policy,
                        "wall": wall,
                        "world": world,
                        "seconds": round(elapsed, 1),
                    }
                }
            )
        )
    else:
        print(
            f"{runs} cases, {violations} violations ({args.policy} timers, {wall} wall clock, "
            f"{world} world; "
            f"{elapsed:.1f} s)"
        )
    return 1 if violations else 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "power_cuts", None) is not None:
        from kioskd.proving.campaigns.powercut.campaign import main as power_cuts

        flags = ["--json"] if args.json else []
        tmp = ["--tmpdir", args.tmpdir] if args.tmpdir else []
        return power_cuts(
            [
                "--cuts", str(args.power_cuts), "--seed", str(args.start),
                "--policy", args.policy, *flags, *tmp,
            ]
        )  # fmt: skip
    if getattr(args, "kills", None) is not None:
        from kioskd.proving.campaigns.kill9 import main as kills

        flags = ["--json"] if args.json else []
        wall = ["--wall", "stepping"] if getattr(args, "wall", None) == "skewed" else []
        return kills(
            ["--kills", str(args.kills), "--seed", str(args.start), "--policy", args.policy,
             *wall, *flags]
        )  # fmt: skip
    if getattr(args, "mutants", None) is not None:
        return _mutants(args)
    if args.exhaustive:
        return _exhaustive(args)
    if args.seeds < 1 or args.jobs < 1:
        print("kioskd chaos: --seeds and --jobs must be positive", file=sys.stderr)
        return 2
    started = time.monotonic()
    size = max(1, min(50, args.seeds // (args.jobs * 4) or 1))
    chunks = [
        (
            s,
            min(size, args.start + args.seeds - s),
            args.tmpdir,
            args.policy,
            _wall(args),
            _world(args),
        )
        for s in range(args.start, args.start + args.seeds, size)
    ]
    if args.jobs == 1:
        results = (row for c in chunks for row in _chunk(c))
    else:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=args.jobs)
        results = (row for rows in pool.map(_chunk, chunks) for row in rows)
    runs = violations = operations = crashes = in_doubt = alarms = overlapping = together = 0
    states: dict[str, int] = {}
    for row in results:
        runs += 1
        operations += row["operations"]
        crashes += row["crashes"]
        in_doubt += row["in_doubt"]
        alarms += row["alarms"]
        overlapping += row["together"] >= 2
        together = max(together, row["together"])
        for k, n in row["states"].items():
            states[k] = states.get(k, 0) + n
        for v in row["violations"]:
            violations += 1
            if args.json:
                print(json.dumps(v), flush=True)
            else:
                print(f"seed {v['seed']}: {v['invariant']}: {v['detail']}", flush=True)
                for line in v["history"]:
                    print(f"    {line}", flush=True)
    elapsed = time.monotonic() - started
    final_states = {k: v for k, v in states.items() if v}
    summary = {
        "runs": runs,
        "violations": violations,
        "operations": operations,
        "crashes": crashes,
        "in_doubt": in_doubt,
        "runs_with_overlapping_doubts": overlapping,
        "most_in_doubt_together": together,
        "alarms": alarms,
        "policy": args.policy,
        "wall": _wall(args),
        "world": _world(args),
        "final_states": final_states,
        "seconds": round(elapsed, 1),
        "start": args.start,
    }
    if args.json:
        print(json.dumps({"summary": summary}))
    else:
        finals = ", ".join(f"{k} {v}" for k, v in final_states.items())
        print(
            f"{runs} runs, {violations} violations ({operations} operations, {crashes} crashes, "
            f"{in_doubt} in doubt, {overlapping} runs with several in doubt at once (at most "
            f"{together}), {alarms} alarms; {args.policy} timers, {_wall(args)} wall clock, "
            f"{_world(args)} world; "
            f"final states: {finals}; {elapsed:.1f} s)"
        )
    return 1 if violations else 0
